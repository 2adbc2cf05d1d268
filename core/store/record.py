"""One way to write a run: ``record_run`` creates it with its series, artifacts and summary.

Every writer in the app (tokenizers, sampling trajectories, pool runs and sweeps, training)
calls it, so the rules live in one place: names and tags are checked by ``create_run``,
points and summaries pass the store's one finite-value filter (:func:`finite`: NaN and
infinities are stored as null), and a run that is still going (``status=RUNNING``, a
training run that streams its points) records which process owns it, so a start-up sweep
can tell a live run from one whose process was killed.

    with Session.begin() as s:
        run = record_run(
            s, kind=RunKind.POOL, name="40 models", config=cfg,
            series={"ttft_cdf": [(0.5, 0.12), (0.9, 0.4)]},
            summary={"slo_attainment": 0.93},
        )
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core.store.models import Run, RunKind, RunStatus
from core.store.owner import current_owner
from core.store.repository import add_artifact, add_points, create_run, finish_run

Points = Iterable[tuple[float, float | None]]


@dataclass(frozen=True)
class ArtifactSpec:
    """A file the run produced (``path`` + ``sha256``) or a small blob kept inline."""

    name: str  # shown in the run's artifact list, e.g. "tokenizer.json"
    kind: str  # what reads it back, e.g. "tokenizer", "checkpoint"
    path: str | None = None  # a file on this machine (under $GLASSBOX_HOME)
    sha256: str | None = None  # checked before the file is loaded again
    meta: Mapping[str, Any] | None = None  # small JSON facts (format, steps, role)
    content: bytes | None = None  # inline bytes instead of a file


def record_run(
    session: Session,
    *,
    kind: RunKind | str,
    name: str,
    config: Any = None,
    summary: Mapping[str, Any] | None = None,
    series: Mapping[str, Points] | None = None,
    artifacts: Iterable[ArtifactSpec] = (),
    tags: Iterable[str] = (),
    notes: str = "",
    status: RunStatus | str = RunStatus.FINISHED,
) -> Run:
    """Write one run with everything it produced; the caller owns the transaction.

    With ``status=RUNNING`` the run stays open (the owner adds points and calls
    ``finish_run`` later); any other status closes it with ``summary``. Empty series are
    skipped. Returns the flushed run (``run.id`` set).
    """
    status = RunStatus(status)
    run = create_run(
        session,
        kind=kind,
        name=name,
        config=config,
        tags=tags,
        notes=notes,
        status=RunStatus.RUNNING,
        owner=current_owner() if status is RunStatus.RUNNING else None,
    )
    for series_name, points in (series or {}).items():
        points = list(points)
        if points:
            add_points(session, run.id, series_name, points)
    for art in artifacts:
        add_artifact(
            session,
            run.id,
            name=art.name,
            kind=art.kind,
            path=art.path,
            sha256=art.sha256,
            meta=dict(art.meta or {}),
            content=art.content,
        )
    if status is not RunStatus.RUNNING:
        finish_run(session, run.id, status=status, summary=dict(summary or {}))
    elif summary:
        finish_run(session, run.id, status=RunStatus.RUNNING, summary=dict(summary))
    return run
