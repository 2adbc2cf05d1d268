"""Composable logits processors and the pipeline that applies them in the user's order.

Each processor maps a 1-D logits vector (one score per vocabulary entry) to a new one;
a token a filter removes gets the logit ``-inf`` (probability 0 after softmax). This is
the "logits processor" design of Hugging Face `generate` and of the book's ch. 5.3
``generate(temperature, top_k)`` (Raschka), extended with nucleus sampling (Holtzman et
al., 2020), min-p (Nguyen et al., 2024) and the CTRL repetition penalty (Keskar et al.,
2019).

`run_pipeline` applies the processors one by one and keeps what each did: the
distribution after it and the tokens it removed, so a page can show "what temperature
did, what top-k cut". If a stage leaves no usable candidate (every logit ``-inf`` or NaN,
e.g. a temperature so small that the logits overflow), the stage is skipped, the
distribution before it is kept and a notice explains why: sampling never crashes.

Worked example: probs ``[0.5, 0.3, 0.15, 0.05]`` with top-p 0.7 keep tokens 0 and 1
(the mass before token 1 is 0.5 < 0.7, before token 2 it is 0.8 >= 0.7) -> ``[0.625, 0.375,
0, 0]``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from core.sampling.config import PROCESSOR_LABELS, ProcessorName, SamplingConfig

NEG_INF = float("-inf")


class LogitsProcessor(ABC):
    """One step of the pipeline: ``(V,) logits, (T,) history -> (V,) logits``."""

    name: str

    @abstractmethod
    def __call__(self, logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """Return new logits; never modifies its input."""

    @property
    def label(self) -> str:
        return PROCESSOR_LABELS.get(self.name, self.name)


@dataclass(frozen=True)
class Temperature(LogitsProcessor):
    temperature: float
    name: str = ProcessorName.TEMPERATURE.value

    def __call__(self, logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        return logits / self.temperature  # (V,); -inf stays -inf


@dataclass(frozen=True)
class TopK(LogitsProcessor):
    k: int
    name: str = ProcessorName.TOP_K.value

    def __call__(self, logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        k = min(self.k, logits.numel())
        keep = torch.topk(logits, k).indices  # (k,) exactly k survivors, ties broken by topk
        out = torch.full_like(logits, NEG_INF)
        out[keep] = logits[keep]
        return out


@dataclass(frozen=True)
class TopP(LogitsProcessor):
    p: float
    name: str = ProcessorName.TOP_P.value

    # Candidates tried before a full sort: the tokens of at least this probability. Those
    # below hold at most V times it (49,152 x 1e-4 = 4.9), so a peaked distribution's mass p
    # usually lies among a few hundred tokens, whose sort costs a fraction of sorting all.
    CANDIDATE_FLOORS = (1e-4, 1e-6)

    def __call__(self, logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(logits.double(), dim=-1)  # (V,) float64 so sums are exact enough
        # Order by the logits (the same order as the probabilities, and float32 sorts 7x faster
        # than float64): two logits that differ below the probabilities' precision still keep
        # the larger one first, so the most likely token always survives.
        keys = logits.float()  # (V,)
        n = keys.numel()
        for floor in (*self.CANDIDATE_FLOORS, None):
            # Probabilities grow with the logits, so the tokens of probability >= floor are
            # the first ones of the full order (ties included): a prefix of it.
            candidates = torch.arange(n) if floor is None else torch.nonzero(probs >= floor)
            candidates = candidates.view(-1)  # (C,) ascending ids
            if candidates.numel() == 0:
                continue
            ranked = torch.sort(keys[candidates], descending=True, stable=True).indices
            order = candidates[ranked]  # (C,) the first C of the full stable order
            sorted_probs = probs[order]  # (C,)
            mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs  # (C,)
            drop_sorted = mass_before >= self.p  # the first token always survives (mass 0)
            # Every token after the prefix has at least the prefix's mass before it: with a
            # margin far above float64 rounding, all of them are dropped, as a full sort says.
            if floor is None or float(mass_before[-1]) >= self.p + 1e-9:
                break
        drop = torch.ones_like(keys, dtype=torch.bool)
        drop[order] = drop_sorted
        return logits.masked_fill(drop, NEG_INF)


@dataclass(frozen=True)
class MinP(LogitsProcessor):
    min_p: float
    name: str = ProcessorName.MIN_P.value

    def __call__(self, logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(logits.double(), dim=-1)  # (V,)
        threshold = self.min_p * probs.max()
        return logits.masked_fill(probs < threshold, NEG_INF)


@dataclass(frozen=True)
class RepetitionPenalty(LogitsProcessor):
    penalty: float
    name: str = ProcessorName.REPETITION_PENALTY.value

    def __call__(self, logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        out = logits.clone()
        seen = torch.unique(history[history < logits.numel()])  # (S,)
        if seen.numel() == 0:
            return out
        values = out[seen]  # (S,)
        out[seen] = torch.where(values > 0, values / self.penalty, values * self.penalty)
        return out


@dataclass(frozen=True)
class PresencePenalty(LogitsProcessor):
    penalty: float
    name: str = ProcessorName.PRESENCE_PENALTY.value

    def __call__(self, logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        out = logits.clone()
        seen = torch.unique(history[history < logits.numel()])  # (S,)
        out[seen] = out[seen] - self.penalty
        return out


@dataclass(frozen=True)
class Greedy(LogitsProcessor):
    """Keep only the most likely token (the final stage when greedy decoding is on)."""

    name: str = "greedy"

    def __call__(self, logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(logits, NEG_INF)
        best = int(torch.argmax(logits))
        out[best] = logits[best]
        return out

    @property
    def label(self) -> str:
        return "greedy"


def build_pipeline(config: SamplingConfig) -> list[LogitsProcessor]:
    """The processors of an already-resolved config, in its order, then greedy if on.

    A processor named in ``config.order`` is included only if its setting changes
    something: temperature 1, top-k off, top-p 1, penalty 1 ... are skipped.
    """
    factories = {
        ProcessorName.REPETITION_PENALTY: lambda c: (
            RepetitionPenalty(c.repetition_penalty) if c.repetition_penalty != 1.0 else None
        ),
        ProcessorName.PRESENCE_PENALTY: lambda c: (
            PresencePenalty(c.presence_penalty) if c.presence_penalty != 0.0 else None
        ),
        ProcessorName.TEMPERATURE: lambda c: (
            Temperature(c.temperature) if c.temperature not in (0.0, 1.0) else None
        ),
        ProcessorName.TOP_K: lambda c: TopK(c.top_k) if c.top_k is not None else None,
        ProcessorName.TOP_P: lambda c: TopP(c.top_p) if c.top_p not in (None, 1.0) else None,
        ProcessorName.MIN_P: lambda c: MinP(c.min_p) if c.min_p not in (None, 0.0) else None,
    }
    pipeline: list[LogitsProcessor] = []
    for name in config.order:
        proc = factories[ProcessorName(name)](config)
        if proc is not None:
            pipeline.append(proc)
    if config.greedy:
        pipeline.append(Greedy())
    return pipeline


@dataclass
class StageOutput:
    """The distribution after one stage ("raw" is the model's own distribution)."""

    name: str  # processor name, or "raw"
    label: str  # human-readable name
    logits: torch.Tensor  # (V,) after this stage; removed tokens are -inf
    probs: torch.Tensor  # (V,) float64 softmax of logits
    removed: torch.Tensor  # (V,) bool, tokens this stage removed (alive before, 0 after)
    skipped: bool = False  # True when the stage left nothing usable and was undone


@dataclass
class PipelineOutput:
    stages: list[StageOutput]  # raw first, then one per processor
    notices: list[str]  # fall-back explanations

    @property
    def final(self) -> StageOutput:
        return self.stages[-1]


def entropy(probs: torch.Tensor) -> float:
    """Shannon entropy in nats of a (V,) probability vector (0 log 0 = 0)."""
    # xlogy instead of p * log(p): torch.log/exp on float64 go multi-threaded even for a few
    # thousand elements and stall for milliseconds when the cores are busy.
    return float(-torch.special.xlogy(probs.double(), probs.double()).sum())


def _usable(probs: torch.Tensor) -> bool:
    return bool(torch.isfinite(probs).all()) and float(probs.sum()) > 0.5


def run_pipeline(
    raw_logits: torch.Tensor, history: torch.Tensor, pipeline: list[LogitsProcessor]
) -> PipelineOutput:
    """Apply ``pipeline`` to ``raw_logits`` (V,) given ``history`` (T,) token ids."""
    logits = raw_logits.detach().to(torch.float32)
    probs = torch.softmax(logits.double(), dim=-1)  # (V,)
    if not _usable(probs):
        raise FloatingPointError(
            "The model produced invalid logits (NaN or infinite); the checkpoint may be broken."
        )
    no_removal = torch.zeros_like(logits, dtype=torch.bool)
    stages = [StageOutput("raw", "model (raw)", logits, probs, no_removal)]
    notices: list[str] = []
    for proc in pipeline:
        prev = stages[-1]
        new_logits = proc(prev.logits, history)  # (V,)
        new_probs = torch.softmax(new_logits.double(), dim=-1)  # (V,)
        if not _usable(new_probs):
            applied = ", ".join(s.label for s in stages[1:] if not s.skipped) or "nothing"
            notices.append(
                f"{proc.label} left no usable candidate (after: {applied}); "
                "it was skipped for this step and the distribution before it was used."
            )
            stages.append(
                StageOutput(proc.name, proc.label, prev.logits, prev.probs, no_removal, True)
            )
            continue
        removed = (prev.probs > 0) & (new_probs == 0)  # (V,)
        stages.append(StageOutput(proc.name, proc.label, new_logits, new_probs, removed))
    return PipelineOutput(stages, notices)


def choose_token(
    probs: torch.Tensor, generator: torch.Generator | None, greedy: bool
) -> tuple[int, float | None]:
    """Pick a token from ``probs`` (V,); returns ``(token_id, uniform draw or None)``.

    Greedy takes the argmax and draws nothing. Otherwise exactly one ``torch.rand`` value u
    is drawn and the token is the first whose cumulative probability exceeds u (inverse
    CDF): the generator state after n steps depends only on how many steps were sampled, so
    rewinding and replaying reproduce the same tokens. Example: probs ``[0.2, 0.5, 0.3]``,
    u = 0.6 -> cdf ``[0.2, 0.7, 1.0]`` -> token 1.
    """
    if greedy:
        return int(torch.argmax(probs)), None
    u = float(torch.rand((), generator=generator, dtype=torch.float64))
    cdf = torch.cumsum(probs.double().cpu(), dim=-1)  # (V,)
    target = torch.tensor([u * float(cdf[-1])], dtype=torch.float64)
    index = min(int(torch.searchsorted(cdf, target, right=True)[0]), probs.numel() - 1)
    if float(probs[index]) == 0.0:  # only reachable through rounding at the very end of the cdf
        index = int(torch.argmax(probs))
    return index, u
