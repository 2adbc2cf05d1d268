"""Run store repository on SQLite and PostgreSQL (same tests, parametrized by fixture)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from core.store import (
    InvalidRunData,
    RunKind,
    RunNotFound,
    RunQuery,
    RunStatus,
    add_artifact,
    add_points,
    all_tags,
    create_run,
    delete_runs,
    finish_run,
    get_artifacts,
    get_points,
    get_run,
    kind_counts,
    list_runs,
    series_names,
    update_run,
)
from core.store.models import Artifact, RunPoint, RunTag


@dataclass
class TinyConfig:
    n_layer: int = 2
    lr: float = 3e-4
    sizes: tuple[int, ...] = (1, 2)


def test_create_and_read_back(session_factory):
    with session_factory.begin() as s:
        run = create_run(
            s, kind=RunKind.TRAINING, name=" tiny ", config=TinyConfig(), tags=["a", "a", " b "]
        )
        run_id = run.id
    with session_factory.begin() as s:
        run = get_run(s, run_id)
        assert run.name == "tiny"
        assert run.kind == "training"
        assert run.status == "running"
        assert run.config == {"n_layer": 2, "lr": 3e-4, "sizes": [1, 2]}
        assert run.tag_names == ["a", "b"]
        assert run.created_at is not None


def test_finish_merges_summary_and_drops_non_finite(session_factory):
    with session_factory.begin() as s:
        run_id = create_run(s, kind="pool", name="p", summary={"a": 1.0}).id
        finish_run(s, run_id, summary={"b": 2.5, "bad": float("nan")})
    with session_factory.begin() as s:
        run = get_run(s, run_id)
        assert run.status == RunStatus.FINISHED
        assert run.summary == {"a": 1.0, "b": 2.5, "bad": None}


def test_points_sorted_by_series_and_range(session_factory):
    with session_factory.begin() as s:
        run_id = create_run(s, kind="training", name="t").id
        assert add_points(s, run_id, "loss", [(2, 1.5), (0, 3.0), (1, float("nan"))]) == 3
        add_points(s, run_id, "lr", [(0, 1e-3)])
    with session_factory.begin() as s:
        pts = get_points(s, run_id)
        assert pts == {"loss": [(0.0, 3.0), (1.0, None), (2.0, 1.5)], "lr": [(0.0, 1e-3)]}
        assert get_points(s, run_id, "loss", x_min=1, x_max=1) == {"loss": [(1.0, None)]}
        assert series_names(s, [run_id]) == ["loss", "lr"]


def test_update_rename_tags_notes(session_factory):
    with session_factory.begin() as s:
        run_id = create_run(s, kind="sampling", name="old", tags=["x", "y"]).id
    with session_factory.begin() as s:
        update_run(s, run_id, name="new", notes="hello", tags=["y", "z"])
    with session_factory.begin() as s:
        run = get_run(s, run_id)
        assert (run.name, run.notes, run.tag_names) == ("new", "hello", ["y", "z"])
        assert all_tags(s) == ["y", "z"]


@pytest.mark.parametrize("bad", ["", "   ", "x" * 201])
def test_bad_names_are_refused(session_factory, bad):
    with pytest.raises(InvalidRunData), session_factory.begin() as s:
        create_run(s, kind="training", name=bad)


def test_unknown_kind_is_refused(session_factory):
    with pytest.raises(ValueError), session_factory.begin() as s:
        create_run(s, kind="nonsense", name="x")


def test_delete_removes_children(session_factory):
    with session_factory.begin() as s:
        keep = create_run(s, kind="training", name="keep", tags=["t"]).id
        gone = create_run(s, kind="training", name="gone", tags=["t"]).id
        for rid in (keep, gone):
            add_points(s, rid, "loss", [(0, 1.0)])
            add_artifact(s, rid, name="ckpt", kind="checkpoint", path="/x", sha256="0" * 64)
    with session_factory.begin() as s:
        assert delete_runs(s, [gone]) == 1
    with session_factory.begin() as s:
        assert get_run(s, gone) is None
        assert s.query(RunPoint).filter_by(run_id=gone).count() == 0
        assert s.query(RunTag).filter_by(run_id=gone).count() == 0
        assert s.query(Artifact).filter_by(run_id=gone).count() == 0
        assert get_points(s, keep) == {"loss": [(0.0, 1.0)]}
        with pytest.raises(RunNotFound):
            update_run(s, gone, name="x")


def test_artifact_inline_content(session_factory):
    with session_factory.begin() as s:
        run_id = create_run(s, kind="tokenizer", name="bpe").id
        add_artifact(s, run_id, name="tok.json", kind="tokenizer", content=b"\x00\xffdata")
    with session_factory.begin() as s:
        (art,) = get_artifacts(s, run_id)
        assert art.content == b"\x00\xffdata"


def _seed(s, n):
    for i in range(n):
        create_run(
            s,
            kind="training" if i % 2 else "pool",
            name=f"run {i:03d}" + (" 50%_off" if i == 7 else ""),
            status="finished" if i % 3 else "failed",
            tags=["even"] if i % 2 == 0 else ["odd"],
            notes="special" if i == 5 else "",
        )


def test_list_filter_sort_paginate(session_factory):
    with session_factory.begin() as s:
        _seed(s, 30)
    with session_factory.begin() as s:
        page = list_runs(s, RunQuery(limit=10))
        assert page.total == 30 and len(page.runs) == 10
        assert page.runs[0].name.startswith("run 029")  # newest first (id breaks ties)
        names = [r.name for r in list_runs(s, RunQuery(sort="name", descending=False)).runs]
        assert names[:2] == ["run 000", "run 001"]
        assert list_runs(s, RunQuery(kinds=("pool",))).total == 15
        assert list_runs(s, RunQuery(tag="odd")).total == 15
        assert list_runs(s, RunQuery(statuses=("failed",))).total == 10
        assert [r.name for r in list_runs(s, RunQuery(text="SPECIAL")).runs] == ["run 005"]
        # LIKE wildcards in user text are literal
        assert [r.name for r in list_runs(s, RunQuery(text="50%_")).runs] == ["run 007 50%_off"]
        last = list_runs(s, RunQuery(offset=25, limit=10))
        assert len(last.runs) == 5 and last.total == 30
        assert kind_counts(s) == {"pool": 15, "training": 15}
        with pytest.raises(InvalidRunData):
            list_runs(s, RunQuery(sort="drop table"))


def test_two_writers_at_once_lose_nothing(session_factory):
    errors: list[BaseException] = []

    def writer(prefix: str) -> None:
        try:
            for i in range(25):
                with session_factory.begin() as s:
                    run_id = create_run(s, kind="training", name=f"{prefix}{i}").id
                    add_points(s, run_id, "loss", [(j, float(j)) for j in range(20)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_factory.begin() as s:
        assert list_runs(s).total == 50
        assert s.query(RunPoint).count() == 1000


def test_stored_content_says_what_is_wrong_with_a_run_to_open(session_factory):
    import hashlib

    from core.store import ArtifactSpec, RunKind, RunStatus, record_run, stored_content

    class Refused(Exception):
        pass

    good, bad = b'{"format": 1}', b'{"format": 2}'
    with session_factory.begin() as s:
        ok = record_run(
            s, kind=RunKind.SAMPLING, name="ok", status=RunStatus.FINISHED,
            artifacts=[ArtifactSpec("t.json", "traj", sha256=hashlib.sha256(good).hexdigest(),
                                    content=good)],
        ).id  # fmt: skip
        tampered = record_run(
            s, kind=RunKind.SAMPLING, name="tampered", status=RunStatus.FINISHED,
            artifacts=[ArtifactSpec("t.json", "traj", sha256=hashlib.sha256(good).hexdigest(),
                                    content=bad)],
        ).id  # fmt: skip
        empty = record_run(s, kind=RunKind.SAMPLING, name="empty", status=RunStatus.FINISHED).id
        other = record_run(s, kind=RunKind.TOKENIZER, name="tok", status=RunStatus.FINISHED).id
    args = {"kind": RunKind.SAMPLING, "artifact": "traj", "what": "a trajectory",
            "content": "trajectory", "error": Refused}  # fmt: skip
    with session_factory() as s:
        run, content = stored_content(s, ok, **args)
        assert (run.id, content) == (ok, good)
        for run_id, message in (
            (ok + 100, f"Run {ok + 100} does not exist"),
            (other, f"Run {other} is a tokenizer run, not a trajectory."),
            (empty, f"Run {empty} has no stored trajectory to open."),
            (tampered, f"Run {tampered}: the stored trajectory does not match its sha256."),
        ):
            with pytest.raises(Refused) as info:
                stored_content(s, run_id, **args)
            assert str(info.value).startswith(message)
