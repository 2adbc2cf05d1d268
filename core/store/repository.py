"""Repository functions over the run store; the caller owns the session and transaction.

    with Session.begin() as s:
        run = create_run(s, kind=RunKind.TRAINING, name="tiny", config={"lr": 3e-4})
        add_points(s, run.id, "train_loss", [(0, 8.3), (10, 6.1)])
        finish_run(s, run.id, summary={"val_loss": 2.1})

Nothing here opens or commits a session (the caller owns it), so a page can group a
rename, a tag change and a note edit into one transaction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from sqlalchemy import Select, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from core.store.models import Artifact, Run, RunKind, RunPoint, RunStatus, RunTag, utcnow

MAX_NAME = 200
MAX_TAG = 64
SORTABLE = ("created_at", "updated_at", "name", "kind", "status", "id")


class RunNotFound(LookupError):
    """No run with that id (it may have been deleted in another browser tab)."""


class InvalidRunData(ValueError):
    """A name, tag or value the store cannot accept; the message says which and why."""


def finite(value: Any) -> float | None:
    """The store's one finite-value filter: a finite float, or None (NaN, inf, not a number).

    ``finite(2) -> 2.0``, ``finite(float("nan")) -> None``, ``finite("x") -> None``,
    ``finite(10**400) -> None`` (too large for a float). Points and summaries go through it.
    """
    if isinstance(value, bool) or value is None:
        return None
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()  # numpy / torch scalar
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from configs and metrics: dataclasses, tuples, paths, numpy scalars.

    Non-finite floats become None, because PostgreSQL's JSONB (and strict JSON) has no NaN.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [to_jsonable(v) for v in items]
    if isinstance(value, PurePath):
        return str(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()  # numpy / torch scalar
    if isinstance(value, float):
        return finite(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidRunData("a run needs a name (it was empty)")
    if len(name) > MAX_NAME:
        raise InvalidRunData(f"run names are limited to {MAX_NAME} characters ({len(name)} given)")
    return name


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Strip, drop empties, de-duplicate; refuse over-long tags."""
    out: list[str] = []
    for tag in tags:
        tag = str(tag).strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG:
            raise InvalidRunData(f"tag {tag[:20]!r}... is longer than {MAX_TAG} characters")
        if tag not in out:
            out.append(tag)
    return out


def create_run(
    session: Session,
    *,
    kind: RunKind | str,
    name: str,
    config: Any = None,
    status: RunStatus | str = RunStatus.RUNNING,
    summary: dict[str, Any] | None = None,
    tags: Iterable[str] = (),
    notes: str = "",
    owner: str | None = None,
) -> Run:
    """Insert a run and flush it so that ``run.id`` is set (``owner``: see owner.py)."""
    run = Run(
        owner=owner,
        kind=str(RunKind(kind)),
        name=clean_name(name),
        status=str(RunStatus(status)),
        config=to_jsonable(config or {}),
        summary=to_jsonable(summary or {}),
        notes=notes or "",
        tags=[RunTag(name=t) for t in clean_tags(tags)],
    )
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, run_id: int) -> Run | None:
    return session.get(Run, run_id)


def require_run(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise RunNotFound(f"run {run_id} does not exist (deleted in another tab?)")
    return run


def get_runs(session: Session, run_ids: Sequence[int]) -> list[Run]:
    """Runs in the order of ``run_ids``; missing ids are skipped."""
    found = {r.id: r for r in session.scalars(select(Run).where(Run.id.in_(list(run_ids))))}
    return [found[i] for i in run_ids if i in found]


def update_run(
    session: Session,
    run_id: int,
    *,
    name: str | None = None,
    notes: str | None = None,
    tags: Iterable[str] | None = None,
    status: RunStatus | str | None = None,
    summary: dict[str, Any] | None = None,
) -> Run:
    """Change the given fields; ``summary`` is merged into the existing one."""
    run = require_run(session, run_id)
    if name is not None:
        run.name = clean_name(name)
    if notes is not None:
        run.notes = notes
    if tags is not None:
        wanted = clean_tags(tags)
        run.tags = [t for t in run.tags if t.name in wanted] + [
            RunTag(name=t) for t in wanted if t not in run.tag_names
        ]
    if status is not None:
        run.status = str(RunStatus(status))
    if summary:
        base = run.summary if isinstance(run.summary, dict) else {}  # a damaged row
        run.summary = {**base, **to_jsonable(summary)}
    run.updated_at = utcnow()
    session.flush()
    return run


def finish_run(
    session: Session,
    run_id: int,
    *,
    status: RunStatus | str = RunStatus.FINISHED,
    summary: dict[str, Any] | None = None,
) -> Run:
    """Mark a run finished (or failed/interrupted), merging final metrics into its summary."""
    return update_run(session, run_id, status=status, summary=summary)


def delete_runs(session: Session, run_ids: Sequence[int]) -> int:
    """Delete runs with their points, tags and artifact records; returns how many."""
    ids = list(run_ids)
    if not ids:
        return 0
    # Explicit child deletes: correct even where the database ignores ON DELETE CASCADE.
    for table in (RunPoint, RunTag, Artifact):
        session.execute(delete(table).where(table.run_id.in_(ids)))
    result = session.execute(delete(Run).where(Run.id.in_(ids)))
    session.expire_all()
    return result.rowcount or 0


def add_points(
    session: Session,
    run_id: int,
    series: str,
    points: Iterable[tuple[float, float | None]],
    *,
    replace: bool = False,
) -> int:
    """Append (x, y) samples to a named series with one bulk insert; returns the count.

    With ``replace``, points the series already has at these x values are dropped first, so
    that writing a batch again (a flush cut off after its commit) never stores a step twice.
    """
    series = str(series).strip()
    if not series or len(series) > 64:
        raise InvalidRunData("a series needs a name of 1 to 64 characters")
    rows = []
    for x, y in points:
        x_value = finite(x)
        if x_value is None:
            raise InvalidRunData(f"series {series!r}: x must be a finite number, not {x!r}")
        rows.append({"run_id": run_id, "series": series, "x": x_value, "y": finite(y)})
    if rows and replace:
        xs = sorted({r["x"] for r in rows})
        for i in range(0, len(xs), 500):  # bounded IN lists
            session.execute(
                delete(RunPoint).where(
                    RunPoint.run_id == run_id,
                    RunPoint.series == series,
                    RunPoint.x.in_(xs[i : i + 500]),
                )
            )
    if rows:
        session.execute(insert(RunPoint), rows)
    return len(rows)


def get_points(
    session: Session,
    run_id: int,
    series: str | Sequence[str] | None = None,
    x_min: float | None = None,
    x_max: float | None = None,
) -> dict[str, list[tuple[float, float | None]]]:
    """Points of one run by series, sorted by x, optionally only a range of x."""
    stmt = select(RunPoint.series, RunPoint.x, RunPoint.y).where(RunPoint.run_id == run_id)
    if isinstance(series, str):
        stmt = stmt.where(RunPoint.series == series)
    elif series is not None:
        stmt = stmt.where(RunPoint.series.in_(list(series)))
    if x_min is not None:
        stmt = stmt.where(RunPoint.x >= x_min)
    if x_max is not None:
        stmt = stmt.where(RunPoint.x <= x_max)
    out: dict[str, list[tuple[float, float | None]]] = {}
    for name, x, y in session.execute(stmt.order_by(RunPoint.series, RunPoint.x, RunPoint.id)):
        out.setdefault(name, []).append((x, y))
    return out


def series_names(session: Session, run_ids: Sequence[int]) -> list[str]:
    """Distinct series names over the given runs, sorted."""
    stmt = select(RunPoint.series).where(RunPoint.run_id.in_(list(run_ids))).distinct()
    return sorted(session.scalars(stmt))


def add_artifact(
    session: Session,
    run_id: int,
    *,
    name: str,
    kind: str,
    path: str | None = None,
    sha256: str | None = None,
    meta: dict[str, Any] | None = None,
    content: bytes | None = None,
) -> Artifact:
    """Record a file (path + sha256) or a small inline blob produced by a run."""
    require_run(session, run_id)
    artifact = Artifact(
        run_id=run_id,
        name=name,
        kind=kind,
        path=None if path is None else str(path),
        sha256=sha256,
        meta=to_jsonable(meta or {}),
        content=content,
    )
    session.add(artifact)
    session.flush()
    return artifact


def replace_artifact(
    session: Session,
    run_id: int,
    *,
    name: str,
    kind: str,
    path: str | None = None,
    sha256: str | None = None,
    meta: dict[str, Any] | None = None,
    content: bytes | None = None,
) -> Artifact:
    """Like :func:`add_artifact`, but first drop the run's artifacts of this name and kind.

    For a file rewritten in place while the run goes on (a training run's ``last``
    checkpoint): the store keeps one record of it, with the current sha256.
    """
    session.execute(
        delete(Artifact).where(
            Artifact.run_id == run_id, Artifact.name == name, Artifact.kind == kind
        )
    )
    session.expire_all()
    return add_artifact(
        session, run_id, name=name, kind=kind, path=path, sha256=sha256, meta=meta, content=content
    )


def get_artifacts(session: Session, run_id: int, kind: str | None = None) -> list[Artifact]:
    stmt = select(Artifact).where(Artifact.run_id == run_id)
    if kind is not None:
        stmt = stmt.where(Artifact.kind == kind)
    return list(session.scalars(stmt.order_by(Artifact.id)))


def stored_content(
    session: Session,
    run_id: int,
    *,
    kind: RunKind,
    artifact: str,
    what: str,
    content: str,
    error: type[Exception],
) -> tuple[Run, bytes]:
    """A run of ``kind`` and the bytes of its newest ``artifact`` artifact, for opening it.

    ``what`` names the saved thing ("a sampling trajectory"), ``content`` the artifact
    ("trajectory"). Raises ``error(message)`` when
    the run is gone, is of another kind, has no stored content, or the content does not match
    its recorded sha256.
    """
    run = get_run(session, run_id)
    if run is None:
        raise error(f"Run {run_id} does not exist (deleted in another tab?).")
    if run.kind != kind:
        raise error(f"Run {run_id} is a {run.kind} run, not {what}.")
    artifacts = get_artifacts(session, run_id, kind=artifact)
    if not artifacts or artifacts[-1].content is None:
        raise error(f"Run {run_id} has no stored {content} to open.")
    stored = artifacts[-1]
    if stored.sha256 and hashlib.sha256(stored.content).hexdigest() != stored.sha256:
        raise error(f"Run {run_id}: the stored {content} does not match its sha256.")
    return run, stored.content


@dataclass(frozen=True)
class RunQuery:
    """Filter, sort and page the run table (the Runs page's controls)."""

    kinds: tuple[str, ...] = ()  # empty = every kind
    statuses: tuple[str, ...] = ()  # empty = every status
    tag: str | None = None  # runs carrying this exact tag
    text: str | None = None  # substring of name or notes, case-insensitive
    sort: str = "created_at"  # one of SORTABLE
    descending: bool = True  # newest first by default
    offset: int = 0
    limit: int = 50


@dataclass
class RunPage:
    runs: list[Run]
    total: int  # matching runs over all pages
    query: RunQuery = field(default_factory=RunQuery)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(stmt: Select[Any], query: RunQuery) -> Select[Any]:
    if query.kinds:
        stmt = stmt.where(Run.kind.in_(query.kinds))
    if query.statuses:
        stmt = stmt.where(Run.status.in_(query.statuses))
    if query.tag:
        stmt = stmt.where(Run.id.in_(select(RunTag.run_id).where(RunTag.name == query.tag)))
    if query.text and query.text.strip():
        pattern = f"%{_escape_like(query.text.strip())}%"
        stmt = stmt.where(
            or_(Run.name.ilike(pattern, escape="\\"), Run.notes.ilike(pattern, escape="\\"))
        )
    return stmt


def list_runs(session: Session, query: RunQuery = RunQuery()) -> RunPage:
    """One page of runs matching ``query`` plus the total count (two indexed queries)."""
    if query.sort not in SORTABLE:
        raise InvalidRunData(f"cannot sort by {query.sort!r}; choose one of {', '.join(SORTABLE)}")
    limit = max(1, min(int(query.limit), 1000))
    total = session.scalar(_filtered(select(func.count(Run.id)), query)) or 0
    column = getattr(Run, query.sort)
    order = (column.desc(), Run.id.desc()) if query.descending else (column.asc(), Run.id.asc())
    stmt = _filtered(select(Run), query).order_by(*order).offset(max(0, query.offset)).limit(limit)
    return RunPage(runs=list(session.scalars(stmt)), total=total, query=query)


def all_tags(session: Session) -> list[str]:
    return sorted(session.scalars(select(RunTag.name).distinct()))


def kind_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Run.kind, func.count(Run.id)).group_by(Run.kind))
    return {kind: n for kind, n in rows}
