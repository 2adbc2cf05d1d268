"""The Saved runs page's model: its filters, its table, the selection and the comparison.

Pure pieces the page calls (tested without Streamlit):

- :class:`RunsView` is what the link holds besides ``compare``: filters, sort and page size.
  Its fields are named as the URL entries (``kind=pool&order=asc``), so the page's
  ``ui.urlstate`` specs map onto it one to one; :meth:`RunsView.query` is the
  :class:`~core.store.repository.RunQuery` of one page of the table.
- :func:`table_rows` turns stored runs into the table's rows; a damaged row (a summary of
  ``"many"``, a config that is not a mapping) is listed with what is wrong
  (:func:`~core.store.schema.run_problems`) so it can be found and deleted.
- :func:`selected_runs` reads the runs a selection or a link names into a :class:`Selection`
  (labels, configs, summaries, which ids are gone, the one run to edit).
- :func:`metric_cells` and :func:`config_cells` are the comparison tables as text: ★ on the
  best value where the kind declares a direction (``core.store.compare``), "—" where a run
  lacks a value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC
from typing import Any

from core.store.compare import DiffRow, MetricRow, config_diff, key_metrics, metrics_table
from core.store.models import Run, RunKind, RunStatus
from core.store.repository import RunQuery
from core.store.schema import run_problems

MAX_COMPARE = 10  # runs compared side by side at most (export and delete take any number)
PAGE_SIZES = (25, 50, 100, 200)
SORTS = {
    "created_at": "Created",
    "updated_at": "Updated",
    "name": "Name",
    "kind": "Kind",
    "status": "Status",
}
ORDERS = ("desc", "asc")
KINDS = tuple(k.value for k in RunKind)
STATUSES = tuple(s.value for s in RunStatus)
ANY_TAG = "(any tag)"  # the tag menu's "no filter" entry
FILTER_CHARS = 200  # characters of the tag and search fields (the link holds them too)
DEFAULT_SERIES = 3  # curves drawn when a comparison opens
DIRECTION_ARROWS = {"min": " ↓", "max": " ↑"}


@dataclass(frozen=True)
class RunsView:
    """The table's filters, sort and page size; fields named as the link's entries."""

    kind: tuple[str, ...] = ()  # kinds shown; empty = every kind
    status: tuple[str, ...] = ()  # statuses shown; empty = any
    tag: str = ""  # runs carrying this exact tag; empty = any
    q: str = ""  # substring of name or notes
    sort: str = "created_at"  # a key of SORTS
    order: str = "desc"  # "desc" (newest first) or "asc"
    size: int = 50  # rows per page, one of PAGE_SIZES

    @property
    def filtered(self) -> bool:
        """Whether any filter narrows the table (sort and page size do not)."""
        return bool(self.kind or self.status or self.tag or self.q)

    def query(self, page: int = 0) -> RunQuery:
        """The store query of page ``page`` (0-based) of the table."""
        return RunQuery(
            kinds=self.kind,
            statuses=self.status,
            tag=self.tag or None,
            text=self.q or None,
            sort=self.sort,
            descending=self.order == "desc",
            offset=max(0, page) * self.size,
            limit=self.size,
        )

    def link(self) -> dict[str, Any]:
        """The view's link values (``ui.urlstate.write_url`` dumps them)."""
        return asdict(self)


def view_from_widgets(
    kinds: Sequence[str],
    statuses: Sequence[str],
    tag: str,
    text: str,
    sort: str,
    descending: bool,
    size: int,
) -> RunsView:
    """The view the filter widgets show (the tag menu's ``ANY_TAG`` means no tag)."""
    return RunsView(
        kind=tuple(kinds),
        status=tuple(statuses),
        tag="" if tag == ANY_TAG else tag,
        q=text,
        sort=sort if sort in SORTS else "created_at",
        order="desc" if descending else "asc",
        size=size if size in PAGE_SIZES else 50,
    )


def tag_options(tags: Sequence[str]) -> list[str]:
    return [ANY_TAG, *tags]


def tag_index(options: Sequence[str], tag: str) -> int:
    """Index of a link's tag in the menu; 0 (any tag) for a tag no run carries any more."""
    return options.index(tag) if tag in options else 0


def n_pages(total: int, size: int) -> int:
    return max(1, math.ceil(total / size))


def page_line(total: int, page: int, size: int, shown: int) -> str:
    """``**62** run(s) · showing 51–62 · page 2 of 2`` (Markdown; only numbers in it)."""
    first = page * size + 1
    return (
        f"**{total:,}** run(s) · showing {first:,}–{page * size + shown:,} · "
        f"page {page + 1} of {n_pages(total, size):,}"
    )


def empty_message(view: RunsView) -> str:
    """What an empty table says: the filters match nothing, or nothing was saved yet."""
    if view.filtered:
        return "No run matches these filters."
    return (
        "No saved runs yet. Runs appear here when you save a tokenizer, a sampling "
        "trajectory or a pool simulation, or train a model on the Training page."
    )


def table_rows(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """One row per run for the table; a damaged run says what is wrong in "problems".

    Call it inside the reading session (a run's tags are read lazily).
    """
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "name": r.name,
            "status": r.status,
            "created": r.created_at.replace(tzinfo=r.created_at.tzinfo or UTC),
            "tags": ", ".join(r.tag_names),
            "key metrics": key_metrics(r.summary),
            "problems": "; ".join(run_problems(r.kind, r.config, r.summary)),
        }
        for r in runs
    ]


@dataclass(frozen=True)
class OneRun:
    """The one selected run, as its edit form shows it."""

    id: int
    name: str
    kind: str
    status: str
    tags: tuple[str, ...]
    notes: str
    broken: bool  # its stored data is damaged (see run_problems)

    @property
    def running(self) -> bool:
        return self.status == RunStatus.RUNNING.value


@dataclass(frozen=True)
class Selection:
    """The runs a selection (or a link's ``compare=``) names, read from the store."""

    ids: tuple[int, ...]  # the runs that exist, in the order asked for
    gone: tuple[int, ...]  # asked for but deleted (ids are never reused)
    labels: tuple[str, ...]  # "#3 lr 3e-4": column titles of the comparison
    kinds: tuple[str, ...]
    configs: tuple[Any, ...]
    summaries: tuple[Any, ...]
    single: OneRun | None  # the run itself when exactly one is selected

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def comparable(self) -> bool:
        """Two to MAX_COMPARE runs: the comparison is drawn."""
        return 2 <= len(self.ids) <= MAX_COMPARE

    @property
    def sampling_pair(self) -> bool:
        """Two sampling runs: their trajectories can be aligned token by token."""
        return len(self.ids) == 2 and set(self.kinds) == {RunKind.SAMPLING.value}


def selected_runs(requested: Sequence[int], runs: Sequence[Run]) -> Selection:
    """The selection of ``requested`` ids given the runs found (call inside the session)."""
    by_id = {r.id: r for r in runs}
    found = [by_id[i] for i in dict.fromkeys(requested) if i in by_id]
    single = None
    if len(found) == 1:
        r = found[0]
        single = OneRun(
            id=r.id,
            name=r.name,
            kind=r.kind,
            status=r.status,
            tags=tuple(r.tag_names),
            notes=r.notes or "",
            broken=bool(run_problems(r.kind, r.config, r.summary)),
        )
    return Selection(
        ids=tuple(r.id for r in found),
        gone=tuple(i for i in dict.fromkeys(requested) if i not in by_id),
        labels=tuple(f"#{r.id} {r.name}" for r in found),
        kinds=tuple(r.kind for r in found),
        configs=tuple(r.config for r in found),
        summaries=tuple(r.summary for r in found),
        single=single,
    )


def _value(v: Any) -> str:
    return "—" if v is None else str(v)


@dataclass(frozen=True)
class ConfigTable:
    columns: list[str]  # "key", then one label per run
    rows: list[list[str]]
    differs: list[bool]  # per row: the runs disagree on this key (highlighted)

    @property
    def caption(self) -> str:
        return f"{sum(self.differs)} of {len(self.rows)} keys shown differ (highlighted)."


def config_cells(selection: Selection, *, only_different: bool = True) -> ConfigTable:
    """The config comparison as text cells; empty rows when the configs are identical."""
    diff: list[DiffRow] = config_diff(list(selection.configs), only_different=only_different)
    return ConfigTable(
        columns=["key", *selection.labels],
        rows=[[row.key, *map(_value, row.values)] for row in diff],
        differs=[row.differs for row in diff],
    )


def metric_cells(selection: Selection) -> tuple[list[str], list[list[str]]]:
    """(columns, rows) of the metrics table: ``val_loss ↓`` then ``★ 2`` for the best run.

    No rows when no run has a numeric summary metric.
    """
    table: list[MetricRow] = metrics_table(list(selection.summaries), list(selection.kinds))
    rows = []
    for row in table:
        arrow = DIRECTION_ARROWS.get(row.direction or "", "")
        cells = [
            "—" if v is None else (f"★ {v:.6g}" if i in row.best else f"{v:.6g}")
            for i, v in enumerate(row.values)
        ]
        rows.append([row.name + arrow, *cells])
    return ["metric", *selection.labels], rows


def default_series(available: Sequence[str]) -> list[str]:
    """The curves a comparison opens with: the first few series the runs recorded."""
    return list(available[:DEFAULT_SERIES])


def link_ids(ids: Sequence[int]) -> str:
    """``compare=3,7``: the link entry of a selection."""
    return ",".join(map(str, ids))


def with_defaults(values: Mapping[str, Any]) -> RunsView:
    """A view from parsed link values (unknown keys, such as ``compare``, ignored)."""
    names = RunsView.__dataclass_fields__
    return RunsView(**{k: v for k, v in values.items() if k in names})
