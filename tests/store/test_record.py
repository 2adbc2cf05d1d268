"""record_run: the one writer every saving path uses, with the store's one finite filter."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from core.store import (
    ArtifactSpec,
    InvalidRunData,
    RunStatus,
    finite,
    get_artifacts,
    get_points,
    get_run,
    list_runs,
    record_run,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2, 2.0),
        (0.5, 0.5),
        (float("nan"), None),
        (float("inf"), None),
        (-math.inf, None),
        (10**400, None),
        ("1.5", None),
        (True, None),
        (None, None),
    ],
)
def test_finite_is_the_one_filter(value, expected):
    assert finite(value) == expected


def test_record_run_writes_everything_in_one_call(session_factory):
    with session_factory.begin() as s:
        run = record_run(
            s,
            kind="pool",
            name=" p ",
            config={"a": 1},
            summary={"good": 0.5, "bad": float("nan")},
            series={"s": [(0, 1.0), (1, float("inf"))], "empty": []},
            artifacts=[ArtifactSpec(name="blob", kind="note", content=b"hi", meta={"k": 1})],
            tags=["t"],
        )
        run_id = run.id
    with session_factory.begin() as s:
        run = get_run(s, run_id)
        assert (run.name, run.status, run.tag_names) == ("p", "finished", ["t"])
        assert run.summary == {"good": 0.5, "bad": None}
        assert get_points(s, run_id) == {"s": [(0.0, 1.0), (1.0, None)]}
        (art,) = get_artifacts(s, run_id)
        assert (art.name, art.kind, art.content, art.meta) == ("blob", "note", b"hi", {"k": 1})


def test_record_run_running_stays_open(session_factory):
    with session_factory.begin() as s:
        run_id = record_run(s, kind="training", name="t", status=RunStatus.RUNNING).id
    with session_factory.begin() as s:
        assert get_run(s, run_id).status == "running"


def test_record_run_refuses_bad_names_and_writes_nothing(session_factory):
    with pytest.raises(InvalidRunData, match="needs a name"), session_factory.begin() as s:
        record_run(s, kind="pool", name="   ")
    bad_x = {"s": [(float("nan"), 1.0)]}
    with pytest.raises(InvalidRunData, match="x must be a finite"), session_factory.begin() as s:
        record_run(s, kind="pool", name="p", series=bad_x)
    with session_factory.begin() as s:
        assert list_runs(s).total == 0


def test_every_writer_goes_through_record_run():
    """No module outside core/store creates runs itself (issue 19: one run-store writer)."""
    offenders = []
    for folder in ("core", "pages", "ui"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.parent.name == "store" and path.parent.parent.name == "core":
                continue
            text = path.read_text(encoding="utf-8")
            if re.search(r"\bcreate_run\(", text) or re.search(r"\bdef _?finite\(", text):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
