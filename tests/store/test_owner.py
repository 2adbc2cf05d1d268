"""Runs killed with -9 do not stay "running" forever (issue 22, item 6)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.store import (
    InvalidRunData,
    RunStatus,
    create_run,
    current_owner,
    get_run,
    mark_interrupted,
    open_database,
    owner_alive,
    record_run,
    sweep_interrupted,
)
from core.store.owner import _start_ticks

ROOT = Path(__file__).resolve().parents[2]


def _dead_owner() -> str:
    """The owner string of a process that has ended (killed with -9)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner = f"{socket.gethostname()}:{child.pid}:{_start_ticks(child.pid)}"
    child.send_signal(signal.SIGKILL)
    child.wait()
    return owner


def test_owner_of_this_process_is_alive_and_a_killed_one_is_not():
    me = current_owner()
    assert me.startswith(f"{socket.gethostname()}:")
    assert owner_alive(me) is True
    assert owner_alive(_dead_owner()) is False
    host, pid, start = me.rsplit(":", 2)
    assert owner_alive(f"{host}:{pid}:{int(start or 0) + 1}") is False  # pid reused
    assert owner_alive("another-host:1:1") is None
    assert owner_alive(None) is None and owner_alive("garbage") is None


def test_a_running_run_records_its_owner(session_factory):
    with session_factory.begin() as s:
        running = record_run(s, kind="training", name="t", status=RunStatus.RUNNING).id
        done = record_run(s, kind="pool", name="p").id
    with session_factory.begin() as s:
        assert get_run(s, running).owner == current_owner()
        assert get_run(s, done).owner is None


def test_sweep_marks_only_runs_whose_process_is_gone(session_factory):
    with session_factory.begin() as s:
        killed = create_run(s, kind="training", name="killed", owner=_dead_owner()).id
        alive = create_run(s, kind="training", name="alive", owner=current_owner()).id
        remote = create_run(s, kind="training", name="remote", owner="elsewhere:1:1").id
        legacy = create_run(s, kind="training", name="legacy").id
    with session_factory.begin() as s:
        assert sweep_interrupted(s) == [killed]
    with session_factory.begin() as s:
        assert get_run(s, killed).status == "interrupted"
        assert "ended without finishing" in get_run(s, killed).summary["interrupted"]
        assert [get_run(s, i).status for i in (alive, remote, legacy)] == ["running"] * 3


def test_mark_interrupted_by_hand(session_factory):
    with session_factory.begin() as s:
        legacy = create_run(s, kind="training", name="legacy").id
        mine = create_run(s, kind="training", name="mine", owner=current_owner()).id
        done = record_run(s, kind="pool", name="done").id
    with session_factory.begin() as s:
        assert mark_interrupted(s, legacy).status == "interrupted"
    with pytest.raises(InvalidRunData, match="still being written"), session_factory.begin() as s:
        mark_interrupted(s, mine)
    with pytest.raises(InvalidRunData, match="finished, not running"), session_factory.begin() as s:
        mark_interrupted(s, done)


def test_app_start_sweeps_and_saved_runs_marks_by_hand():
    import ui.db

    ui.db._open.clear()  # a fresh server start
    with open_database().begin() as s:
        killed = create_run(s, kind="training", name="killed", owner=_dead_owner()).id
        legacy = create_run(s, kind="training", name="legacy").id
    at = AppTest.from_file(str(ROOT / "pages" / "runs.py"), default_timeout=60)
    at.query_params["compare"] = str(legacy)
    at.run()
    assert not at.exception
    with open_database().begin() as s:
        assert get_run(s, killed).status == "interrupted"  # swept when the store opened
        assert get_run(s, legacy).status == "running"  # no owner: left to the user
    next(b for b in at.button if b.label == "Mark interrupted").click().run()
    assert not at.exception
    with open_database().begin() as s:
        assert get_run(s, legacy).status == "interrupted"
    assert not any(b.label == "Mark interrupted" for b in at.button)


def test_claim_run_reopens_a_stopped_run_from_a_step(session_factory):
    from core.store import add_artifact, claim_run, get_artifacts, get_points

    with session_factory.begin() as s:
        run = record_run(
            s, kind="training", name="t", status=RunStatus.INTERRUPTED,
            series={"train_loss": [(1, 3.0), (2, 2.5), (3, 2.4)], "val_loss": [(2, 2.6)]},
        )  # fmt: skip
        for step in (2, 3):
            add_artifact(s, run.id, name=f"sample@{step}", kind="sample", meta={"step": step})
        busy = create_run(s, kind="training", name="busy", owner=current_owner()).id
    with session_factory.begin() as s:
        claim_run(s, run.id, from_step=2)
    with session_factory.begin() as s:
        again = get_run(s, run.id)
        assert (again.status, again.owner) == ("running", current_owner())
        assert again.summary["resumed_from"] == 2
        assert get_points(s, run.id) == {"train_loss": [(1, 3.0), (2, 2.5)], "val_loss": [(2, 2.6)]}
        assert [a.name for a in get_artifacts(s, run.id, "sample")] == ["sample@2"]
        with pytest.raises(InvalidRunData, match="still running"):
            claim_run(s, busy, from_step=0)


def test_replace_artifact_keeps_one_record_per_name(session_factory):
    from core.store import add_artifact, get_artifacts, replace_artifact

    with session_factory.begin() as s:
        run = record_run(s, kind="training", name="t", status=RunStatus.RUNNING)
        add_artifact(s, run.id, name="last.safetensors", kind="checkpoint", sha256="a" * 64)
        add_artifact(s, run.id, name="sample@1", kind="sample")
        replace_artifact(s, run.id, name="last.safetensors", kind="checkpoint", sha256="b" * 64)
    with session_factory.begin() as s:
        arts = get_artifacts(s, run.id)
        assert [(a.name, a.sha256) for a in arts] == [
            ("sample@1", None),
            ("last.safetensors", "b" * 64),
        ]
