"""Which process owns a running run, and the start-up sweep for runs whose process is gone.

A run that is still going (a training run from ``python -m core.training``) records its
owner as ``host:pid:start``, the start being the process's start time in clock ticks since
boot (``/proc/<pid>/stat``, field 22), so a pid reused by another process does not count
as the owner still running. A process killed with ``kill -9`` cannot mark its run
interrupted; :func:`sweep_interrupted` (run once when the app opens the store) does it for
every running run owned by a process of this host that no longer exists.
:func:`claim_run` hands a stopped run to the process that resumes it. Runs of other
hosts, or without an owner (older versions), are left alone: the Saved runs page offers
"Mark interrupted" for those.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.store.models import Artifact, Run, RunPoint, RunStatus
from core.store.repository import InvalidRunData, require_run, update_run

_MAX_OWNER = 200


def _start_ticks(pid: int) -> str:
    """The process's start time (ticks since boot) or "" where /proc is not available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else ""


def current_owner() -> str:
    """``host:pid:start`` of this process (what ``create_run`` records for running runs)."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"[:_MAX_OWNER]


def owner_alive(owner: str | None) -> bool | None:
    """True/False for an owner on this host; None when it cannot be told (another host).

    ``owner_alive(current_owner()) -> True``; a pid that no longer exists, or exists with
    another start time (reused), -> False.
    """
    if not owner:
        return None
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    host, pid_text, start = parts
    if host != socket.gethostname():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user
    except OSError:
        return None
    return not start or _start_ticks(pid) in ("", start)


def sweep_interrupted(session: Session) -> list[int]:
    """Mark running runs whose owning process on this host is gone as interrupted; ids."""
    swept = []
    running = select(Run).where(Run.status == RunStatus.RUNNING.value, Run.owner.is_not(None))
    for run in session.scalars(running):
        if owner_alive(run.owner) is False:
            update_run(
                session,
                run.id,
                status=RunStatus.INTERRUPTED,
                summary={"interrupted": f"process {run.owner} ended without finishing the run"},
            )
            swept.append(run.id)
    return swept


def mark_interrupted(session: Session, run_id: int) -> Run:
    """By hand (Saved runs): a running run becomes interrupted; others are refused."""
    run = require_run(session, run_id)
    if run.status != RunStatus.RUNNING.value:
        raise InvalidRunData(f"run {run_id} is {run.status}, not running: nothing to mark")
    if owner_alive(run.owner) is True:
        raise InvalidRunData(
            f"run {run_id} is still being written by process {run.owner} on this machine; "
            "stop that process first (Ctrl+C or kill) and it marks the run itself"
        )
    return update_run(
        session, run_id, status=RunStatus.INTERRUPTED, summary={"interrupted": "marked by hand"}
    )


def claim_run(session: Session, run_id: int, *, from_step: float) -> Run:
    """Reopen a stopped run for this process to continue it from step ``from_step``.

    For resuming a training run in place: the run becomes running, owned by this process,
    and its points and samples after ``from_step`` (logged after the checkpoint it resumes
    from) are dropped, so the continued curves do not overlap. A run that is still running
    under a live process is refused.
    """
    run = require_run(session, run_id)
    if run.status == RunStatus.RUNNING.value and owner_alive(run.owner) is not False:
        raise InvalidRunData(
            f"run {run_id} is still running (process {run.owner}); stop it before resuming"
        )
    session.execute(delete(RunPoint).where(RunPoint.run_id == run_id, RunPoint.x > from_step))
    for sample in session.scalars(
        select(Artifact).where(Artifact.run_id == run_id, Artifact.kind == "sample")
    ):
        step = (sample.meta or {}).get("step") if isinstance(sample.meta, dict) else None
        if isinstance(step, int | float) and step > from_step:
            session.delete(sample)
    run.owner = current_owner()
    update_run(session, run_id, status=RunStatus.RUNNING, summary={"resumed_from": from_step})
    return run
