"""What one sampling step decided, as plain JSON-ready dataclasses.

A `StepRecord` keeps everything the page shows about a step and everything the run store
saves: the model's top candidates (logit and probability), the probability of each of
those candidates after every processor (so a bar chart can show "before / after"), which
of them each processor removed and how many tokens it removed in all, the chosen token
with its rank and probability, the entropy and the latency. Full vocabulary-sized
distributions are not kept: a 50k-entry vector per stage per step would be megabytes.

`StepRecord.from_dict(record.to_dict()) == record` (JSON round trip).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Candidate:
    """A token shown in the step view, with its raw (model) logit and probability."""

    token_id: int
    text: str  # the token's own text (bytes decoded with replacement characters)
    logit: float  # raw model logit
    prob: float  # raw model probability


@dataclass(frozen=True)
class StageRecord:
    """The distribution after one processor, restricted to the step's candidates."""

    name: str  # processor name ("raw" for the model's distribution)
    label: str  # human-readable name, e.g. "top-p"
    probs: tuple[float, ...]  # probability of each StepRecord.candidates entry after the stage
    removed: tuple[int, ...]  # candidate token ids this stage removed
    removed_count: int  # tokens removed over the whole vocabulary by this stage
    kept_count: int  # tokens with non-zero probability after the stage
    entropy: float  # entropy (nats) of the full distribution after the stage
    skipped: bool = False  # the stage removed everything and was undone (see notices)


@dataclass(frozen=True)
class StepRecord:
    """One generated token and why it was chosen."""

    index: int  # 0-based step number within the generated continuation
    position: int  # absolute position of the chosen token in prompt + continuation
    candidates: tuple[Candidate, ...]  # raw top candidates (+ the chosen one), by raw logit
    stages: tuple[StageRecord, ...]  # "raw" first, then each processor in order
    token_id: int  # the chosen token
    token_text: str
    rank: int  # rank of the chosen token in the raw distribution (0 = most likely)
    prob: float  # probability of the chosen token in the final (sampled-from) distribution
    raw_prob: float  # probability the model itself gave it
    logprob: float  # natural log of raw_prob (sum over steps = log-likelihood)
    entropy: float  # entropy (nats) of the model's raw distribution at this step
    sampled_entropy: float  # entropy (nats) of the distribution actually sampled from
    forced: bool = False  # chosen by the user (force / branch), not by the sampler
    draw: float | None = None  # the uniform draw used, None for greedy or forced steps
    eos: bool = False  # the token is <|endoftext|>
    latency_ms: float = 0.0  # wall time of the step (forward + processors + choice)
    forward_ms: float = 0.0  # of which the model's forward pass
    new_tokens: int = 1  # tokens fed to the model this step (> 1 on prefill / no cache)
    cached: bool = True  # the KV cache was used for this step
    notices: tuple[str, ...] = field(default_factory=tuple)  # fall-backs during this step

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepRecord:
        data = dict(data)
        data["candidates"] = tuple(Candidate(**c) for c in data["candidates"])
        data["stages"] = tuple(
            StageRecord(**{**s, "probs": tuple(s["probs"]), "removed": tuple(s["removed"])})
            for s in data["stages"]
        )
        data["notices"] = tuple(data.get("notices", ()))
        return cls(**data)

    # ------------------------------------------------------------------ helpers
    def stage(self, name: str) -> StageRecord:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage {name!r} in this step (stages: {[s.name for s in self.stages]})")

    def candidate_index(self, token_id: int) -> int | None:
        for i, c in enumerate(self.candidates):
            if c.token_id == token_id:
                return i
        return None


def cumulative_logprob(records: list[StepRecord]) -> list[float]:
    """Running sum of the raw log-probabilities (the continuation's log-likelihood)."""
    total = 0.0
    out = []
    for r in records:
        total += r.logprob
        out.append(total)
    return out
