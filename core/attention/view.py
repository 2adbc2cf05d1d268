"""The Attention page's model: its state, its actions, and what it draws (no Streamlit).

State is a :class:`ViewState` (what the link holds: texts, selected head, page of the
model view, selected query tokens, the open view); the expensive result of reading a text
is an :class:`Analysis` (ids, token labels, every layer's weights (L, H, T, T), statistics).
The page calls :func:`analyse` once per (model, text), then only slices what it already has:
one head, a page of layers, the mean of some query rows, the difference of two texts.

An analysis is saved as a run of kind ``attention`` through ``core.store.record_run``:
the config holds the model id, the texts and the view; the summary the counts of heads per
label; an inline artifact ``head_statistics`` holds every head's statistics, labels and
induction score. Reopening restores the view and recomputes the weights (they are
deterministic: the same model and text give the same maps), and compares the recomputed
statistics with the saved ones.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import tiktoken
from sqlalchemy.orm import Session

from core.attention.capture import (
    MAX_TOKENS,
    HeadLayout,
    capture_attention,
    head_layout,
    prepare_ids,
)
from core.attention.stats import (
    AttentionInputError,
    HeadStats,
    Thresholds,
    head_labels,
    head_statistics,
)
from core.store import (
    ArtifactSpec,
    RunKind,
    RunQuery,
    list_runs,
    record_run,
    stored_content,
)
from core.store.schema import as_dict
from core.tokenization.display import display_token

VIEWS = ("model", "head", "statistics", "steps", "compare")
VIEW_LABELS = {
    "model": "Model view",
    "head": "One head",
    "statistics": "Statistics",
    "steps": "Number by number",
    "compare": "Compare two texts",
}
AGAINST = ("text", "model")
LAYERS_PER_PAGE = (4, 6, 8, 10, 12, 16)
MAX_QUERIES = 16  # query tokens selected at once
TEXT_MAX_CHARS = 2000  # characters of one text (the link holds it too)
ARTIFACT_KIND = "attention_statistics"
FORMAT_VERSION = 1
DEFAULT_TEXT = "The cat sat on the mat. The cat sat on the mat."


class SavedAnalysisError(AttentionInputError):
    """A run that cannot be opened as a saved attention analysis; the message says why."""


@dataclass(frozen=True)
class ViewState:
    """What the page shows; every field is bounded (the link holds all of them)."""

    text: str = DEFAULT_TEXT
    other: str = ""  # second text for "compare"; empty = none
    view: str = "model"
    layer: int = 0
    head: int = 0
    page: int = 0  # page of the model view
    per_page: int = 8  # layers per page of the model view
    queries: tuple[int, ...] = ()  # query positions whose attention is combined
    probe: bool = False  # the induction probe was run: highlight induction heads
    against: str = "text"  # compare with another text, or the same text in another model
    other_model: str = ""  # registry id of the other model (a checkpoint of the same shape)

    def clamp(self, layout: HeadLayout, n_tokens: int) -> ViewState:
        """The same state made valid for a model and a text (out-of-range values cut)."""
        per_page = self.per_page if self.per_page in LAYERS_PER_PAGE else 8
        return replace(
            self,
            view=self.view if self.view in VIEWS else "model",
            against=self.against if self.against in AGAINST else "text",
            layer=min(max(0, self.layer), layout.n_layer - 1),
            head=min(max(0, self.head), layout.n_head - 1),
            per_page=per_page,
            page=min(max(0, self.page), n_pages(layout.n_layer, per_page) - 1),
            queries=tuple(q for q in dict.fromkeys(self.queries) if 0 <= q < n_tokens)[
                :MAX_QUERIES
            ],
        )


@dataclass(frozen=True)
class Analysis:
    """One text read by one model: everything the page draws from."""

    model_id: str
    text: str
    ids: list[int]
    tokens: list[str]  # display labels, whitespace visible, one per position
    attn: np.ndarray  # (L, H, T, T) float32
    layout: HeadLayout
    stats: list[HeadStats]  # layer-major; empty for a one-token text
    notices: list[str] = field(default_factory=list)

    @property
    def n_tokens(self) -> int:
        return len(self.ids)

    def head(self, layer: int, head: int) -> np.ndarray:
        """(T, T) weights of one head."""
        return self.attn[layer, head]


def token_labels(tokenizer: tiktoken.Encoding, ids: list[int]) -> list[str]:
    """One readable label per token (``·the``, ``↵``), bytes that are not UTF-8 as ``\\xe4``."""
    out = []
    for t in ids:
        try:
            data = tokenizer.decode_single_token_bytes(t)
        except KeyError:
            out.append(f"<{t}>")
            continue
        out.append(display_token(data.decode("utf-8", errors="backslashreplace")))
    return out


def analyse(
    model: Any,
    tokenizer: tiktoken.Encoding,
    text: str,
    *,
    model_id: str,
    max_tokens: int = MAX_TOKENS,
) -> Analysis:
    """Read ``text`` (bounded to ``max_tokens``) with ``model``; capture and measure every head."""
    if len(text) > TEXT_MAX_CHARS * 50:
        raise AttentionInputError(
            f"The text has {len(text):,} characters; paste at most {TEXT_MAX_CHARS * 50:,}."
        )
    config = model.config
    prepared = prepare_ids(
        tokenizer,
        text,
        context_length=config.context_length,
        start_token=getattr(config, "start_token", None),
        max_tokens=max_tokens,
    )
    attn = capture_attention(model, prepared.ids)
    stats = head_statistics(attn, prepared.ids) if len(prepared.ids) > 1 else []
    return Analysis(
        model_id=model_id,
        text=text,
        ids=prepared.ids,
        tokens=token_labels(tokenizer, prepared.ids),
        attn=attn,
        layout=head_layout(model),
        stats=stats,
        notices=prepared.notices,
    )


# ---------------------------------------------------------------- what the views draw
def n_pages(n_layer: int, per_page: int) -> int:
    return max(1, math.ceil(n_layer / per_page))


def page_layers(n_layer: int, per_page: int, page: int) -> range:
    """The layers on page ``page`` of the model view (the last page may be shorter)."""
    start = min(max(0, page), n_pages(n_layer, per_page) - 1) * per_page
    return range(start, min(n_layer, start + per_page))


def combine_queries(weights: np.ndarray, queries: tuple[int, ...]) -> np.ndarray:
    """Mean attention (T,) of the selected query rows of one head; still sums to 1."""
    if not queries:
        raise AttentionInputError("select at least one query token")
    return weights[list(queries)].mean(0)


@dataclass(frozen=True)
class Difference:
    values: np.ndarray  # (T, T) other minus this, over the common positions
    tokens: list[str]  # labels; "a | b" where the two texts have different tokens
    notice: str | None


def _same_shape(a: Analysis, b: Analysis) -> None:
    if a.layout != b.layout:
        x, y = a.layout, b.layout
        raise AttentionInputError(
            f"The two models have different shapes ({x.n_layer} layers × {x.n_head} heads vs "
            f"{y.n_layer} × {y.n_head}): maps can only be subtracted head for head between "
            "checkpoints of the same architecture."
        )


def difference(a: Analysis, b: Analysis, layer: int, head: int) -> Difference:
    """Head (layer, head) of text b minus text a, over the positions both texts have."""
    _same_shape(a, b)
    T = min(a.n_tokens, b.n_tokens)
    values = b.head(layer, head)[:T, :T] - a.head(layer, head)[:T, :T]
    tokens = [
        x if x == y else f"{x} | {y}" for x, y in zip(a.tokens[:T], b.tokens[:T], strict=True)
    ]
    notice = None
    if a.n_tokens != b.n_tokens:
        notice = (
            f"The texts have {a.n_tokens} and {b.n_tokens} tokens: the difference covers "
            f"the first {T} positions."
        )
    return Difference(values, tokens, notice)


def head_differences(a: Analysis, b: Analysis) -> np.ndarray:
    """(L, H) mean absolute difference of every head over the common query rows 1 .. T-1."""
    _same_shape(a, b)
    T = min(a.n_tokens, b.n_tokens)
    if T < 2:
        raise AttentionInputError("both texts need at least two tokens to compare")
    d = np.abs(b.attn[:, :, 1:T, :T] - a.attn[:, :, 1:T, :T]).sum(-1)  # (L, H, T-1)
    return d.mean(-1) / 2  # total variation distance per row, in [0, 1]


def hover_lines(rows: list[dict[str, Any]]) -> dict[tuple[int, int], str]:
    """(layer, head) -> the model view's hover text: label and the main statistics."""
    out = {}
    for r in rows:
        lines = [f"{r['label']}" + (f" (also {r['also']})" if r["also"] else "")]
        lines.append(f"entropy {r['entropy (bits)']} bits, mean distance {r['mean distance']}")
        lines.append(f"first token {r['first token']}, previous {r['previous token']}")
        if r["induction"] is not None:
            lines.append(f"induction score {r['induction']}")
        out[(r["layer"], r["head"])] = "\n".join(lines)
    return out


def statistics_rows(
    analysis: Analysis, induction: np.ndarray | None, thresholds: Thresholds | None = None
) -> list[dict[str, Any]]:
    """One row per head for the sortable table (numbers rounded to 3 decimals)."""
    th = thresholds or Thresholds()
    rows = []
    for s in analysis.stats:
        score = None if induction is None else float(induction[s.layer, s.head])
        labels = head_labels(s, score, th)
        rows.append(
            {
                "layer": s.layer,
                "head": s.head,
                "kv head": analysis.layout.kv_head_of(s.head),
                "label": labels[0],
                "also": ", ".join(labels[1:]),
                "entropy (bits)": round(s.entropy, 3),
                "normalised entropy": round(s.norm_entropy, 3),
                "mean distance": round(s.mean_distance, 3),
                "first token": round(s.sink, 3),
                "previous token": round(s.previous, 3),
                "own position": round(s.same, 3),
                "earlier copies": None if s.duplicate is None else round(s.duplicate, 3),
                "induction": None if score is None else round(score, 3),
            }
        )
    return rows


def induction_heads(
    scores: np.ndarray, thresholds: Thresholds | None = None
) -> list[tuple[int, int]]:
    """(layer, head) of every head at or above the induction threshold, best first."""
    th = thresholds or Thresholds()
    found = [
        (float(scores[layer, head]), int(layer), int(head))
        for layer, head in zip(*np.nonzero(scores >= th.induction), strict=True)
    ]
    return [(layer, head) for _, layer, head in sorted(found, key=lambda t: (-t[0], t[1], t[2]))]


def label_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """How many heads carry each label (the run's summary), every label listed."""
    counts = Counter(r["label"] for r in rows)
    return {label: counts.get(label, 0) for label in Thresholds().describe()}


# ---------------------------------------------------------------- what the page says
def gqa_phrase(layout: HeadLayout) -> str:
    """``, grouped-query attention: 3 key/value heads, each shared by 3 query heads`` or ""."""
    if layout.n_kv_head == layout.n_head:
        return ""
    return (
        f", grouped-query attention: {layout.n_kv_head} key/value heads, each shared by "
        f"{layout.group_size} query heads"
    )


def kv_heads(layout: HeadLayout) -> list[int] | None:
    """The key/value head of every query head (the model view's labels); None without GQA."""
    if layout.n_kv_head == layout.n_head:
        return None
    return [layout.kv_head_of(h) for h in range(layout.n_head)]


def sharing_note(layout: HeadLayout, head: int) -> str | None:
    """Which query heads share ``head``'s keys and values; None without GQA."""
    if layout.n_kv_head == layout.n_head:
        return None
    others = [h for h in layout.sharing(head) if h != head]
    return (
        f"Grouped-query attention: head {head} reads key/value head {layout.kv_head_of(head)}, "
        f"shared with query heads {', '.join(map(str, others))}: they use the same keys "
        "and values, with their own queries."
    )


def induction_line(
    scores: np.ndarray, found: list[tuple[int, int]], threshold: float, length: int
) -> str:
    """The induction heads found (at most 20 named), or the strongest head when none is."""
    best = np.unravel_index(int(scores.argmax()), scores.shape)
    strongest = f"L{best[0]}H{best[1]} ({float(scores[best]):.2f})"
    listed = ", ".join(f"L{a}H{b}" for a, b in found[:20]) or f"none (strongest: {strongest})"
    return (
        f"**Induction heads** (score ≥ {threshold:g} on {length} random tokens repeated "
        f"twice): {listed}"
    )


def grid_pick(points: list[dict[str, Any]]) -> tuple[int, int] | None:
    """(layer, head) of the first head clicked in the model view, if any."""
    for p in points:
        data = p.get("customdata")
        if isinstance(data, list) and len(data) == 2:
            return int(data[0]), int(data[1])
    return None


def line_picks(points: list[dict[str, Any]]) -> list[int]:
    """The query positions clicked in the lines view (sorted, at most MAX_QUERIES)."""
    picked = {p["customdata"] for p in points if isinstance(p.get("customdata"), int)}
    return sorted(picked)[:MAX_QUERIES]


def table_pick(selected: list[int], table: list[dict[str, Any]]) -> tuple[int, int] | None:
    """(layer, head) of the statistics row selected, if it is still in the table."""
    if selected and 0 <= selected[0] < len(table):
        row = table[selected[0]]
        return int(row["layer"]), int(row["head"])
    return None


# ---------------------------------------------------------------- saved analyses
@dataclass(frozen=True)
class SavedAnalysis:
    run_id: int
    name: str
    model_id: str
    state: ViewState
    rows: list[dict[str, Any]]  # the statistics as saved


@dataclass(frozen=True)
class SavedInfo:
    run_id: int
    name: str
    created_at: datetime


def save_analysis(
    session: Session,
    analysis: Analysis,
    state: ViewState,
    induction: np.ndarray | None,
    *,
    name: str | None = None,
) -> int:
    """Store the analysis as a finished run of kind ``attention``; returns its id."""
    rows = statistics_rows(analysis, induction)
    if name is None:
        snippet = analysis.text.strip().replace("\n", " ")[:40]
        name = f"{analysis.model_id}: {snippet!r} L{state.layer}H{state.head}"
    payload = {"format": FORMAT_VERSION, "ids": analysis.ids, "rows": rows}
    best = None
    if induction is not None:
        layer, head = np.unravel_index(int(np.argmax(induction)), induction.shape)
        best = {"layer": int(layer), "head": int(head), "score": float(induction[layer, head])}
    run = record_run(
        session,
        kind=RunKind.ATTENTION,
        name=name,
        config={
            "model_id": analysis.model_id,
            "text": state.text,
            "other": state.other,
            "view": asdict(state) | {"queries": list(state.queries)},
            "n_layer": analysis.layout.n_layer,
            "n_head": analysis.layout.n_head,
            "n_kv_head": analysis.layout.n_kv_head,
        },
        summary={"tokens": analysis.n_tokens, "heads": len(rows)}
        | {"heads_" + re.sub(r"\W+", "_", k): v for k, v in label_counts(rows).items()}
        | ({"best_induction_score": best["score"]} if best else {}),
        artifacts=[
            ArtifactSpec(
                name="head_statistics",
                kind=ARTIFACT_KIND,
                meta={"format": FORMAT_VERSION, "heads": len(rows)},
                content=json.dumps(payload).encode("utf-8"),
            )
        ],
        tags=("attention",),
    )
    return run.id


def list_saved(session: Session, limit: int = 50) -> list[SavedInfo]:
    """The newest saved analyses, newest first."""
    page = list_runs(session, RunQuery(kinds=(RunKind.ATTENTION.value,), limit=limit))
    return [SavedInfo(r.id, r.name, r.created_at) for r in page.runs]


def _state_from(view: dict[str, Any]) -> ViewState:
    d = ViewState()
    queries = view.get("queries", [])
    return ViewState(
        text=str(view.get("text", d.text))[:TEXT_MAX_CHARS],
        other=str(view.get("other", d.other))[:TEXT_MAX_CHARS],
        view=str(view.get("view", d.view)),
        layer=int(view.get("layer", d.layer)),
        head=int(view.get("head", d.head)),
        page=int(view.get("page", d.page)),
        per_page=int(view.get("per_page", d.per_page)),
        queries=tuple(int(q) for q in queries[:MAX_QUERIES]) if isinstance(queries, list) else (),
        probe=bool(view.get("probe", d.probe)),
        against=str(view.get("against", d.against)),
        other_model=str(view.get("other_model", d.other_model))[:200],
    )


def load_analysis(session: Session, run_id: int) -> SavedAnalysis:
    """A saved analysis; SavedAnalysisError says what is wrong with a run that is not one."""
    run, content = stored_content(
        session, run_id, kind=RunKind.ATTENTION, artifact=ARTIFACT_KIND,
        what="an attention analysis", content="head statistics", error=SavedAnalysisError,
    )  # fmt: skip
    try:
        payload = json.loads(content.decode("utf-8"))
        if payload.get("format") != FORMAT_VERSION:
            raise SavedAnalysisError(
                f"Run {run_id} was saved in format {payload.get('format')}; this version "
                f"reads format {FORMAT_VERSION}."
            )
        config = as_dict(run.config)
        view = as_dict(config.get("view"))
        return SavedAnalysis(
            run_id=run.id,
            name=run.name,
            model_id=str(config["model_id"]),
            state=_state_from(view),
            rows=[dict(r) for r in payload["rows"]],
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, SavedAnalysisError):
            raise
        raise SavedAnalysisError(f"Run {run_id}'s saved analysis is damaged: {exc}") from exc


COMPARED_LATER = ("label", "also", "induction")  # depend on whether the probe has run


def same_statistics(saved: list[dict[str, Any]], now: list[dict[str, Any]]) -> bool:
    """Whether recomputed statistics match the saved ones (numbers within 1e-3); the label
    and induction columns are left out (they depend on whether the probe has run)."""
    if len(saved) != len(now):
        return False
    for a, b in zip(saved, now, strict=True):
        for key, value in b.items():
            other = a.get(key)
            if key in COMPARED_LATER:
                continue
            if isinstance(value, float) and isinstance(other, int | float):
                if abs(value - other) > 1e-3:
                    return False
            elif value != other:
                return False
    return True
