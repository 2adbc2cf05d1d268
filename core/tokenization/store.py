"""Trained tokenizers in the run store: save as a run of kind "tokenizer", list, load.

A run records the training settings (config), the compression reached (summary), the
compression curve chars/token vs vocab size (points of series ``chars_per_token``), and
the tokenizer's JSON as an inline artifact of kind ``tokenizer`` with its sha256, so the
run alone is enough to rebuild the tokenizer on another machine sharing the database.
The caller owns the session: pass one opened with ``with Session.begin() as s:``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.orm import Session

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
from core.tokenization.errors import TokenizerError
from core.tokenization.tokenizer import BPETokenizer

ARTIFACT_KIND = "tokenizer"
ARTIFACT_NAME = "tokenizer.json"
CURVE_SERIES = "chars_per_token"
CURVE_POINTS = 200  # points kept of the compression curve (one per merge would be 16K rows)


@dataclass(frozen=True)
class TokenizerRunInfo:
    """A saved tokenizer as menus list it."""

    run_id: int  # id of the run in the store
    name: str  # the tokenizer's name
    n_vocab: int | None  # ids including special tokens; None when the stored value is damaged
    pattern: str  # pre-tokenization pattern name
    label: str  # "bpe-gpt4-4096 (run 12, 4,096 tokens)"


def compression_curve(tok: BPETokenizer, points: int = CURVE_POINTS) -> list[tuple[int, float]]:
    """(vocab size incl. special tokens, chars/token on the training corpus), ~``points``."""
    ratios = tok.chars_per_token()
    if not ratios:
        return []
    step = max(1, len(ratios) // points)
    keep = sorted(set(range(0, len(ratios), step)) | {len(ratios) - 1})
    base = 256 + len(tok.special_tokens)
    return [(base + k, ratios[k]) for k in keep]


def save_tokenizer_run(
    session: Session,
    tok: BPETokenizer,
    *,
    corpus_name: str = "",
    tags: tuple[str, ...] = ("tokenizer",),
    notes: str = "",
) -> int:
    """Store ``tok`` as a finished run of kind "tokenizer"; returns the run id."""
    text = tok.to_json().encode("utf-8")
    ratios = tok.chars_per_token()
    run = record_run(
        session,
        kind=RunKind.TOKENIZER,
        name=tok.name,
        config={
            "pattern": tok.pattern,
            "vocab_size": tok.n_vocab,
            "special_tokens": sorted(tok.special_tokens),
            "min_frequency": tok.training.get("min_frequency"),
            "corpus": corpus_name,
            "corpus_chars": tok.training.get("corpus_chars"),
        },
        series={CURVE_SERIES: compression_curve(tok)},
        artifacts=[
            ArtifactSpec(
                name=ARTIFACT_NAME,
                kind=ARTIFACT_KIND,
                sha256=hashlib.sha256(text).hexdigest(),
                meta={
                    "n_vocab": tok.n_vocab,
                    "n_merges": len(tok.merges),
                    "format": "glassbox-bpe",
                },
                content=text,
            )
        ],
        summary={
            "n_vocab": tok.n_vocab,
            "chars_per_token": round(ratios[-1], 4) if ratios else 0.0,
            "train_time_s": tok.training.get("seconds", 0.0),
        },
        tags=list(tags),
        notes=notes,
        status=RunStatus.FINISHED,
    )
    return run.id


def load_tokenizer_run(session: Session, run_id: int) -> BPETokenizer:
    """The tokenizer stored by ``save_tokenizer_run``; checks the artifact's sha256."""
    _, content = stored_content(
        session, run_id, kind=RunKind.TOKENIZER, artifact=ARTIFACT_KIND,
        what="a saved tokenizer", content="tokenizer.json", error=TokenizerError,
    )  # fmt: skip
    return BPETokenizer.from_json(content)


def list_tokenizer_runs(session: Session, limit: int = 100) -> list[TokenizerRunInfo]:
    """Finished tokenizer runs, newest first."""
    query = RunQuery(
        kinds=(RunKind.TOKENIZER.value,), statuses=(RunStatus.FINISHED.value,), limit=limit
    )
    out = []
    for run in list_runs(session, query).runs:
        # A damaged row (imported by an older version, edited by hand) must not break every
        # menu: read each value defensively and say "size unknown" instead.
        summary, config = as_dict(run.summary), as_dict(run.config)
        n_vocab = whole(summary.get("n_vocab"))
        if n_vocab is None or n_vocab <= 0:
            n_vocab = whole(config.get("vocab_size"))
        size = f"{n_vocab:,} tokens" if n_vocab is not None and n_vocab > 0 else "size unknown"
        out.append(
            TokenizerRunInfo(
                run_id=run.id,
                name=run.name,
                n_vocab=n_vocab,
                pattern=str(config.get("pattern", "")),
                label=f"{run.name} (run {run.id}, {size})",
            )
        )
    return out
