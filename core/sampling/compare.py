"""Compare two sampling trajectories token by token (for the Runs page and the side-by-side view).

Two trajectories from the same prompt and seed but different settings (say temperature 0.7
and 1.5) usually agree for a few tokens and then diverge. `align_tokens` lines their steps
up by position in the continuation and flags where they agree; `first_divergence` finds the
first differing step. Inputs may be `StepRecord` objects or their dicts as loaded from the
run store's JSON artifact, so the Runs page can call this without the sampler.

Example: tokens ``[5, 7, 9]`` vs ``[5, 8]`` -> rows ``(0, 5, 5, equal)``, ``(1, 7, 8,
different)``, ``(2, 9, None, different)``; first divergence at step 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tiktoken

from core.model import GPT, Llama
from core.sampling.config import SamplingConfig
from core.sampling.records import StepRecord
from core.sampling.sampler import Sampler
from core.tokenization.display import display_token

RecordLike = StepRecord | Mapping[str, Any]


@dataclass(frozen=True)
class AlignedRow:
    """One position of the continuation in both trajectories (None where one is shorter)."""

    step: int  # 0-based index in the continuation
    token_a: int | None
    text_a: str | None
    prob_a: float | None  # probability the chosen token had in the distribution sampled from
    entropy_a: float | None  # model entropy (nats) at this step
    token_b: int | None
    text_b: str | None
    prob_b: float | None
    entropy_b: float | None
    equal: bool  # both trajectories chose the same token here

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _fields(record: RecordLike) -> tuple[int, str, float, float]:
    if isinstance(record, StepRecord):
        return record.token_id, record.token_text, record.prob, record.entropy
    try:
        return (
            int(record["token_id"]),
            str(record["token_text"]),
            float(record["prob"]),
            float(record["entropy"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a sampling step record ({exc}): {dict(record)!r:.120}") from exc


def align_tokens(
    records_a: Sequence[RecordLike], records_b: Sequence[RecordLike]
) -> list[AlignedRow]:
    """Rows aligned by step position, as long as the longer trajectory."""
    rows = []
    for step in range(max(len(records_a), len(records_b))):
        a = _fields(records_a[step]) if step < len(records_a) else (None, None, None, None)
        b = _fields(records_b[step]) if step < len(records_b) else (None, None, None, None)
        equal = a[0] is not None and a[0] == b[0]
        rows.append(AlignedRow(step, *a, *b, equal=equal))
    return rows


def aligned_table(
    rows: Sequence[AlignedRow], labels: tuple[str, str], probabilities: bool = True
) -> list[dict[str, Any]]:
    """The rows of an A/B step table, one per position, tokens shown as the chips show them.

    Whitespace is made visible (``"\\n\\n"`` → ``↵↵``, ``" "`` → ``·``): a bare whitespace
    token would be a blank cell. A position one trajectory does not reach is ``None``.
    """
    a, b = labels
    if a == b:
        raise ValueError(f"The two columns need different labels (got {a!r} twice).")
    out = []
    for r in rows:
        row: dict[str, Any] = {"step": r.step + 1, a: _shown(r.text_a)}
        if probabilities:
            row["p (a)"] = r.prob_a
        row[b] = _shown(r.text_b)
        if probabilities:
            row["p (b)"] = r.prob_b
        row["same"] = r.equal
        out.append(row)
    return out


def _shown(text: str | None) -> str | None:
    return None if text is None else display_token(text)


def first_divergence(rows: Sequence[AlignedRow]) -> int | None:
    """The first step where the trajectories differ, None if they are identical."""
    for row in rows:
        if not row.equal:
            return row.step
    return None


def agreement(rows: Sequence[AlignedRow]) -> float:
    """Fraction of aligned positions with the same token (1.0 for two empty trajectories)."""
    if not rows:
        return 1.0
    return sum(r.equal for r in rows) / len(rows)


def agreement_line(rows: Sequence[AlignedRow]) -> str:
    """One line over two aligned trajectories, as both the Sampling and Saved runs pages
    say it: ``Same token at 50% of positions; first difference at step 2.``"""
    diverge = first_divergence(rows)
    end = (
        "identical continuations."
        if diverge is None
        else f"first difference at step {diverge + 1}."
    )
    return f"Same token at {agreement(rows):.0%} of positions; {end}"


def run_side_by_side(
    model: GPT | Llama,
    tokenizer: tiktoken.Encoding,
    prompt: str,
    base: SamplingConfig,
    variants: Mapping[str, Mapping[str, Any]],
    n_steps: int,
) -> dict[str, Sampler]:
    """Run one trajectory per variant (``base`` with some settings changed), same prompt/seed.

    Example: ``variants={"T=0.7": {"temperature": 0.7}, "T=1.5": {"temperature": 1.5}}``.
    """
    out = {}
    for label, changes in variants.items():
        config = SamplingConfig.from_dict({**base.to_dict(), **changes})
        sampler = Sampler(model, tokenizer, prompt, config, use_cache=True)
        sampler.run(n_steps)
        sampler.release_cache()  # kept for display only
        out[label] = sampler
    return out
