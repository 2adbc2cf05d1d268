"""Save a sampling trajectory to the run store, load it back and replay it exactly.

A saved trajectory is a run of kind ``"sampling"``:

- ``config``: model id, prompt, KV-cache flag and the sampling settings (`SamplingConfig`),
  so the Runs page can diff two trajectories' settings;
- one inline artifact ``trajectory`` (kind ``"sampling_trajectory"``) holding the prompt ids,
  the text and every `StepRecord` as JSON;
- point series ``entropy``, ``cum_logprob`` and ``step_latency_ms`` by step;
- a summary of scalar metrics (tokens, mean entropy, log-likelihood, perplexity, latency).

Replay rebuilds the trajectory from the prompt, the settings and the seed: sampled steps are
sampled again (the same generator draws), forced steps are forced again. It checks every
token against the saved one, so "same seed + same settings => same tokens" is verified on
each reopen. The caller owns the database session (``with Session.begin() as s:``).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import tiktoken
from sqlalchemy.orm import Session

from core.model import GPT, Llama
from core.sampling.config import SamplingConfig
from core.sampling.records import StepRecord, cumulative_logprob
from core.sampling.sampler import Sampler, SamplingError, token_text
from core.store import (
    ArtifactSpec,
    RunKind,
    RunQuery,
    RunStatus,
    list_runs,
    record_run,
    stored_content,
)
from core.store.schema import as_dict, whole

ARTIFACT_KIND = "sampling_trajectory"
FORMAT_VERSION = 1


class TrajectoryFormatError(SamplingError):
    """A run cannot be opened as a sampling trajectory (wrong kind, missing or bad data)."""


@dataclass(frozen=True)
class SavedTrajectory:
    """A trajectory as stored: enough to show it and to replay it."""

    run_id: int
    name: str
    model_id: str | None
    prompt: str
    config: SamplingConfig  # the settings as the user entered them
    use_cache: bool
    top_n: int
    prompt_ids: list[int]
    records: list[StepRecord]
    text: str


@dataclass(frozen=True)
class SavedRunInfo:
    """One line of the "open a saved trajectory" list."""

    run_id: int
    name: str
    created_at: datetime
    tokens: int


def trajectory_summary(records: list[StepRecord]) -> dict[str, Any]:
    """Flat scalar metrics of a trajectory (the Runs page compares these)."""
    n = len(records)
    if n == 0:
        return {"tokens": 0}
    log_likelihood = sum(r.logprob for r in records)
    return {
        "tokens": n,
        "mean_entropy_nats": statistics.fmean(r.entropy for r in records),
        "log_likelihood": log_likelihood,
        "perplexity": math.exp(-log_likelihood / n),
        "median_step_latency_ms": statistics.median(r.latency_ms for r in records),
        "forced_steps": sum(r.forced for r in records),
        "ended_with_eos": int(records[-1].eos),
    }


def run_name(model_id: str | None, prompt: str, cfg: SamplingConfig, forced: int) -> str:
    """A saved run's default name: the prompt and every setting that makes it differ.

    E.g. ``builtin: 'Once upon' greedy`` or ``builtin: 'Once upon' T=0.8 top-k 50 top-p 0.9
    seed=3, 2 forced``: two runs with different settings never share a name this way.
    """
    snippet = prompt.strip().replace("\n", " ")[:40] or "<|endoftext|>"
    parts = [f"{model_id or 'model'}: {snippet!r}"]
    used = set(cfg.order)
    if cfg.greedy or cfg.temperature == 0:
        parts.append("greedy")
    elif "temperature" in used:
        parts.append(f"T={cfg.temperature:g}")
    for key, label in (("top_k", "top-k"), ("top_p", "top-p"), ("min_p", "min-p")):
        value = getattr(cfg, key)
        if value is not None and key in used:
            parts.append(f"{label} {value:g}")
    if cfg.repetition_penalty != 1.0 and "repetition_penalty" in used:
        parts.append(f"rep {cfg.repetition_penalty:g}")
    if cfg.presence_penalty != 0.0 and "presence_penalty" in used:
        parts.append(f"presence {cfg.presence_penalty:g}")
    if not (cfg.greedy or cfg.temperature == 0):
        parts.append(f"seed={cfg.seed}")
    name = " ".join(parts)
    return f"{name}, {forced} forced" if forced else name


def save_trajectory(
    session: Session,
    sampler: Sampler,
    *,
    model_id: str | None,
    name: str | None = None,
    tags: tuple[str, ...] = ("sampling",),
    notes: str = "",
) -> int:
    """Store ``sampler``'s trajectory as a finished run; returns the run id."""
    records = sampler.records
    cfg = sampler.requested_config
    if name is None:
        name = run_name(model_id, sampler.prompt, cfg, sum(r.forced for r in records))
    payload = {
        "format": FORMAT_VERSION,
        "prompt": sampler.prompt,
        "prompt_ids": sampler.prompt_ids,
        "text": sampler.text,
        "records": [r.to_dict() for r in records],
    }
    cum = cumulative_logprob(records)
    run = record_run(
        session,
        kind=RunKind.SAMPLING,
        name=name,
        config={
            "model_id": model_id,
            "prompt": sampler.prompt,
            "use_cache": sampler.use_cache,
            "top_n": sampler.top_n,
            "sampling": cfg.to_dict(),
        },
        series={
            "entropy": [(r.index, r.entropy) for r in records],
            "cum_logprob": [(r.index, c) for r, c in zip(records, cum, strict=True)],
            "step_latency_ms": [(r.index, r.latency_ms) for r in records],
        },
        artifacts=[
            ArtifactSpec(
                name="trajectory",
                kind=ARTIFACT_KIND,
                meta={"format": FORMAT_VERSION, "steps": len(records)},
                content=json.dumps(payload).encode("utf-8"),
            )
        ],
        summary=trajectory_summary(records),
        tags=tags,
        notes=notes,
        status=RunStatus.FINISHED,
    )
    return run.id


def load_trajectory(session: Session, run_id: int) -> SavedTrajectory:
    """Read a saved trajectory; raises `TrajectoryFormatError` with what is wrong."""
    run, content = stored_content(
        session, run_id, kind=RunKind.SAMPLING, artifact=ARTIFACT_KIND,
        what="a sampling trajectory", content="trajectory", error=TrajectoryFormatError,
    )  # fmt: skip
    try:
        payload = json.loads(content.decode("utf-8"))
        if payload.get("format") != FORMAT_VERSION:
            raise TrajectoryFormatError(
                f"Run {run_id} was saved in trajectory format {payload.get('format')}, "
                f"this version reads format {FORMAT_VERSION}."
            )
        config = dict(run.config)
        return SavedTrajectory(
            run_id=run.id,
            name=run.name,
            model_id=config.get("model_id"),
            prompt=payload["prompt"],
            config=SamplingConfig.from_dict(config["sampling"]),
            use_cache=bool(config.get("use_cache", True)),
            top_n=int(config.get("top_n", 10)),
            prompt_ids=[int(i) for i in payload["prompt_ids"]],
            records=[StepRecord.from_dict(d) for d in payload["records"]],
            text=payload["text"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, TrajectoryFormatError):
            raise
        raise TrajectoryFormatError(f"Run {run_id}'s trajectory data is damaged: {exc}") from exc


def list_saved(session: Session, limit: int = 50) -> list[SavedRunInfo]:
    """The newest saved trajectories, newest first."""
    page = list_runs(session, RunQuery(kinds=(RunKind.SAMPLING.value,), limit=limit))
    # A damaged summary ({"tokens": "five"}) reads as 0 tokens; opening the run says why.
    return [
        SavedRunInfo(
            r.id, r.name, r.created_at, max(0, whole(as_dict(r.summary).get("tokens")) or 0)
        )
        for r in page.runs
    ]


@dataclass
class ReplayResult:
    sampler: Sampler  # the rebuilt trajectory (always ends with the saved tokens)
    first_mismatch: int | None  # first step whose re-sampled token differed, None if exact

    @property
    def exact(self) -> bool:
        return self.first_mismatch is None


def replay(
    model: GPT | Llama, tokenizer: tiktoken.Encoding, saved: SavedTrajectory
) -> ReplayResult:
    """Rebuild ``saved`` step by step and check that every sampled token comes out the same.

    If a step differs (another model or tokenizer, a different device's rounding), the saved
    token is forced from there on so the user still sees the saved trajectory, and
    ``first_mismatch`` says where re-sampling diverged.
    """
    sampler = Sampler(
        model, tokenizer, saved.prompt, saved.config, use_cache=saved.use_cache, top_n=saved.top_n
    )
    if sampler.prompt_ids != saved.prompt_ids:
        start = sampler.start_token
        if start is not None and sampler.prompt_ids[1:] == saved.prompt_ids:
            raise TrajectoryFormatError(
                f"This trajectory was saved with a model that did not start from "
                f"{token_text(tokenizer, start)!r}; the model loaded as {saved.model_id} now "
                "reads it before every prompt (it was retrained that way), so the saved "
                "steps cannot be replayed with it; the saved run itself is unchanged."
            )
        raise TrajectoryFormatError(
            "The prompt encodes to different tokens with this tokenizer than when the "
            "trajectory was saved: open it with the model it was saved with "
            f"({saved.model_id})."
        )
    mismatch: int | None = None
    for rec in saved.records:
        if rec.forced or mismatch is not None:
            sampler.force(rec.token_id)
            continue
        got = sampler.step()
        if got.token_id != rec.token_id:
            mismatch = rec.index
            sampler.rewind(1)
            sampler.force(rec.token_id)
    return ReplayResult(sampler, mismatch)
