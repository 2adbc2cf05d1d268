"""The Embedding spaces page as data: its state, what it draws, and saved views.

:class:`EmbeddingView` is everything a view is (model, tab, projection settings, colouring,
search, the neighbour and arithmetic terms, the texts of the contextual tab, a selection of
token ids); it round-trips through a run's config (:func:`save_view`, :func:`load_view`)
and, field by field, through the page's URL. :func:`point_groups` decides which points are
drawn in which colour; the figures themselves come from ``core.viz.embeddings``.

Costs are bounded here: t-SNE takes a seeded sample of at most ``MAX_TSNE_POINTS`` rows
(:data:`DEFAULT_TSNE_SAMPLE` unless asked), a selection holds at most
:data:`MAX_SELECTION` ids, a search marks at most :data:`MAX_MATCHES` rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from core.embeddings.kinds import KIND_ORDER, Vocab
from core.embeddings.neighbours import MAX_K, MAX_TERM_CHARS, METRICS
from core.embeddings.project import (
    MAX_TSNE_POINTS,
    METHODS,
    EmbeddingError,
    Projection,
    ProjectionSettings,
)
from core.store import RunKind, RunQuery, get_run, list_runs, record_run
from core.store.schema import as_dict

TABS = ("table", "positional", "contextual", "compare")
TAB_LABELS = {
    "table": "Token table",
    "positional": "Positions",
    "contextual": "In context",
    "compare": "Compare checkpoints",
}
COLOURS = ("kind", "search", "selection")
DEFAULT_TSNE_SAMPLE = 2_000  # rows a t-SNE projects unless asked (about a minute on 2 cores)
MAX_SELECTION = 200  # token ids a saved selection holds
MAX_MATCHES = 5_000  # rows a search marks
MAX_SEARCH_CHARS = 50
MAX_CONTEXT_CHARS = 300  # per text in the URL and the form
VIEW_FORMAT = 1
DEFAULT_TEXT_A = "She sat on the bank of the river and watched the water."
DEFAULT_TEXT_B = "He went to the bank to deposit the money he had saved."
DEFAULT_WORD = " bank"


@dataclass(frozen=True)
class EmbeddingView:
    """One view of the page (what a link or a saved run restores)."""

    model_id: str = "builtin"  # registry id
    tab: str = "table"  # one of TABS
    method: str = "pca"  # "pca" or "tsne"
    dims: int = 2  # 2-D or 3-D
    sample: int = 0  # rows projected (0: all for PCA, DEFAULT_TSNE_SAMPLE for t-SNE)
    perplexity: float = 30.0  # t-SNE neighbourhood size
    seed: int = 0  # sample and t-SNE random state
    colour: str = "kind"  # colour points by token kind, search match, or the selection
    search: str = ""  # substring marked when colouring by search
    term: str = ""  # whose neighbours are listed (a word or #id)
    metric: str = "cosine"  # "cosine" or "euclidean"
    k: int = 10  # neighbours listed
    a: str = ""  # arithmetic a − b + c
    b: str = ""
    c: str = ""
    text_a: str = DEFAULT_TEXT_A  # contextual tab: two texts …
    text_b: str = DEFAULT_TEXT_B
    word: str = DEFAULT_WORD  # … and the word followed in both
    selection: tuple[int, ...] = ()  # token ids the user kept
    other_model: str = ""  # compare tab: the second model

    def __post_init__(self) -> None:
        problems = view_problems(self)
        if problems:
            raise EmbeddingError("; ".join(problems))

    def settings(self) -> ProjectionSettings:
        """The projection this view asks for, with the sample bound applied."""
        sample = self.sample
        if self.method == "tsne":
            sample = min(sample or DEFAULT_TSNE_SAMPLE, MAX_TSNE_POINTS)
        return ProjectionSettings(self.method, self.dims, sample, self.perplexity, self.seed)

    def to_config(self) -> dict[str, Any]:
        data = asdict(self)
        data["selection"] = list(self.selection)
        data["format"] = VIEW_FORMAT
        return data

    @classmethod
    def from_config(cls, config: Any) -> EmbeddingView:
        """A view from a stored config; :class:`EmbeddingError` names what is wrong."""
        data = as_dict(config)
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name not in known:
                continue
            default = getattr(cls(), name)
            if name == "selection":
                if not isinstance(value, list) or not all(
                    isinstance(v, int) and not isinstance(v, bool) for v in value
                ):
                    raise EmbeddingError("the saved selection is not a list of token ids")
                value = tuple(value)
            elif (
                isinstance(default, float)
                and isinstance(value, int)
                and not isinstance(value, bool)
            ):
                value = float(value)
            elif type(value) is not type(default):
                raise EmbeddingError(
                    f"the saved view's {name} is {type(value).__name__}, "
                    f"expected {type(default).__name__}"
                )
            values[name] = value
        return cls(**values)

    def with_(self, **changes: Any) -> EmbeddingView:
        return replace(self, **changes)


def view_problems(view: EmbeddingView) -> list[str]:
    """What is out of bounds in ``view`` (empty: fine)."""
    out = []
    if view.tab not in TABS:
        out.append(f"tab must be one of {TABS}")
    if view.method not in METHODS:
        out.append(f"method must be one of {METHODS}")
    if view.dims not in (2, 3):
        out.append("dims must be 2 or 3")
    if not 0 <= view.sample <= 1_000_000:
        out.append("sample must be from 0 to 1,000,000")
    if view.method == "tsne" and view.sample > MAX_TSNE_POINTS:
        out.append(f"a t-SNE sample has at most {MAX_TSNE_POINTS:,} rows")
    if not 1.0 <= view.perplexity <= 200.0:
        out.append("perplexity must be from 1 to 200")
    if not 0 <= view.seed <= 2**31 - 1:
        out.append("seed must be from 0 to 2³¹−1")
    if view.colour not in COLOURS:
        out.append(f"colour must be one of {COLOURS}")
    if view.metric not in METRICS:
        out.append(f"metric must be one of {METRICS}")
    if not 1 <= view.k <= MAX_K:
        out.append(f"k must be from 1 to {MAX_K}")
    if len(view.search) > MAX_SEARCH_CHARS:
        out.append(f"a search has at most {MAX_SEARCH_CHARS} characters")
    for name in ("term", "a", "b", "c", "word"):
        if len(getattr(view, name)) > MAX_TERM_CHARS:
            out.append(f"{name} has at most {MAX_TERM_CHARS} characters")
    for name in ("text_a", "text_b"):
        if len(getattr(view, name)) > MAX_CONTEXT_CHARS:
            out.append(f"{name} has at most {MAX_CONTEXT_CHARS} characters")
    if len(view.selection) > MAX_SELECTION or any(i < 0 for i in view.selection):
        out.append(f"a selection holds at most {MAX_SELECTION} non-negative token ids")
    if len(view.model_id) > 200 or len(view.other_model) > 200:
        out.append("a model id has at most 200 characters")
    return out


# ---------------------------------------------------------------- what to draw
@dataclass(frozen=True)
class PointGroup:
    """Points drawn as one trace: one colour, one legend entry."""

    name: str  # legend entry
    role: str  # colour key: a token kind, "match", "selected", "other", "highlight"
    rows: np.ndarray  # indices into the projection's points


def point_groups(
    projection: Projection,
    vocab: Vocab,
    colour: str,
    *,
    search: str = "",
    selection: tuple[int, ...] = (),
) -> list[PointGroup]:
    """The projection's points split into coloured groups, in drawing order (the group that
    should stay visible last, on top)."""
    ids = projection.ids
    if colour == "kind":
        codes = np.asarray(vocab.codes(), dtype=np.int64)[ids]
        return [
            PointGroup(kind.value, kind.value, np.flatnonzero(codes == i))
            for i, kind in enumerate(KIND_ORDER)
            if (codes == i).any()
        ]
    if colour == "search":
        marked = np.asarray(vocab.search(search, MAX_MATCHES), dtype=np.int64)
        label = f"contains “{search}”" if search else "no search typed"
    elif colour == "selection":
        marked = np.asarray(selection, dtype=np.int64)
        label = "selection"
    else:
        raise EmbeddingError(f"colour must be one of {COLOURS}")
    hit = np.isin(ids, marked)
    return [
        PointGroup("other tokens", "other", np.flatnonzero(~hit)),
        PointGroup(label, "match" if colour == "search" else "selected", np.flatnonzero(hit)),
    ]


def positions_of(drawn: np.ndarray, token_ids) -> np.ndarray:
    """Positions in ``drawn`` (ascending token ids) of the ``token_ids`` it holds."""
    wanted = np.asarray(token_ids, dtype=np.int64)
    if len(drawn) == 0 or len(wanted) == 0:
        return np.zeros(0, dtype=np.int64)
    position = np.clip(np.searchsorted(drawn, wanted), 0, len(drawn) - 1)
    return position[drawn[position] == wanted]


def rows_of(projection: Projection, token_ids: list[int] | tuple[int, ...]) -> np.ndarray:
    """Positions in the projection of the tokens that it holds (others are not drawn)."""
    return positions_of(projection.ids, token_ids)


# ---------------------------------------------------------------- saved views
@dataclass(frozen=True)
class SavedView:
    run_id: int
    name: str


def save_view(
    session: Session,
    view: EmbeddingView,
    *,
    name: str,
    model_key: str,
    summary: dict[str, Any] | None = None,
    notes: str = "",
) -> int:
    """Store ``view`` as a finished embedding run (the one run writer); returns its id."""
    config = view.to_config() | {"model_key": model_key}
    run = record_run(
        session,
        kind=RunKind.EMBEDDING,
        name=name,
        config=config,
        summary=summary or {},
        tags=("embedding",),
        notes=notes,
    )
    return run.id


def load_view(session: Session, run_id: int) -> EmbeddingView:
    """The view a run saved; :class:`EmbeddingError` when it is not one or is damaged."""
    run = get_run(session, run_id)
    if run is None:
        raise EmbeddingError(f"run {run_id} does not exist (deleted in another tab?)")
    if run.kind != RunKind.EMBEDDING:
        raise EmbeddingError(f"run {run_id} is a {run.kind} run, not a saved embedding view")
    config = as_dict(run.config)
    if config.get("format") != VIEW_FORMAT:
        raise EmbeddingError(
            f"run {run_id} was saved in view format {config.get('format')!r}; this version "
            f"reads format {VIEW_FORMAT}"
        )
    return EmbeddingView.from_config(config)


def list_views(session: Session, limit: int = 50) -> list[SavedView]:
    """The newest saved views, newest first."""
    page = list_runs(session, RunQuery(kinds=(RunKind.EMBEDDING.value,), limit=limit))
    return [SavedView(r.id, r.name) for r in page.runs]
