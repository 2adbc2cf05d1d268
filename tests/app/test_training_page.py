"""The Training page under Streamlit's AppTest (no browser): form, estimate, runs, jobs."""

from __future__ import annotations

import gc
import socket
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.store import (
    RunKind,
    RunStatus,
    add_artifact,
    list_runs,
    open_database,
    record_run,
    update_run,
)
from core.training.builtin import TOKENIZER_FILE
from core.training.cli import main as train_cli
from core.training.executors import RayExecutor
from core.training.jobs import JobManager, JobState
from tests.app.rendered import live_markup, plain

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "training.py")
TINY = {"preset": "custom", "n_layer": "1", "n_head": "2", "n_embd": "16",
        "context_length": "16", "steps": "6", "batch_size": "2", "warmup_steps": "1",
        "eval_every": "3", "sample_every": "3"}  # fmt: skip


def _run(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def _managers() -> list[JobManager]:
    return [o for o in gc.get_objects() if type(o) is JobManager]


@pytest.fixture(autouse=True)
def _stop_workers():
    """Every job a test started ends with it (the page's manager lives in the test process)."""
    yield
    for manager in _managers():
        manager.shutdown(timeout=60)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_default_form_estimates_the_job_and_can_start():
    at = _run()
    assert not at.exception and [plain(e.value) for e in at.error] == []
    assert at.title[0].value == "Training"
    metrics = _metrics(at)
    assert metrics["parameters"] == "366.0k"  # the tiny preset with the built-in BPE
    assert metrics["training FLOPs"] == "2.3e+11"
    assert not at.button(key="tr_start").disabled
    assert any("No training run yet" in i.value for i in at.info)
    assert any("Jobs run in worker processes on this server" in c.value for c in at.caption)
    assert at.warning == []  # no GLASSBOX_RAY_ADDRESS, nothing to report


def test_a_link_sets_the_form_and_bad_entries_are_named():
    at = _run(TINY | {"steps": "²", "preset": "huge", "lr": "nan"})
    assert not at.exception
    (warning,) = [plain(w.value) for w in at.warning]
    assert "steps" in warning and "preset" in warning and "lr" in warning
    assert at.selectbox(key="tr_preset").value == "tiny"  # the default kept
    assert at.number_input(key="tr_steps").value == 200
    good = _run(TINY)
    assert good.selectbox(key="tr_preset").value == "custom"
    assert good.number_input(key="tr_n_embd").value == 16
    assert good.query_params["steps"] == "6"


def test_a_job_over_the_cost_limit_cannot_start():
    at = _run({"preset": "custom", "n_layer": "12", "n_head": "12", "n_embd": "768",
               "context_length": "1024", "steps": "100000", "batch_size": "256"})  # fmt: skip
    assert not at.exception
    warnings = [plain(w.value) for w in at.warning]
    assert any(w.startswith("this job would cost") for w in warnings)
    assert at.button(key="tr_start").disabled


def test_a_stored_run_is_shown_with_its_text_escaped():
    factory = open_database()
    with factory.begin() as session:
        run = record_run(
            session, kind=RunKind.TRAINING, name="[evil](http://x.test) <b>run</b>",
            config={"model": {"context_length": 16}, "train": {"steps": 4, "batch_size": 2}},
            series={"train_loss": [(1, 5.0), (2, 4.0), (3, 3.5), (4, 3.0)],
                    "val_loss": [(4, 3.2)]},
            summary={"steps": 4, "message": "done ![img](http://x.test/a.png)"},
        )  # fmt: skip
        add_artifact(session, run.id, name="sample@4", kind="sample", meta={"step": 4},
                     content=b"<img src=x onerror=alert(1)> [a](javascript:x)")  # fmt: skip
        run_id = run.id
    at = _run({"run": str(run_id)})
    assert not at.exception
    assert _metrics(at)["step of 4"] == "4" and _metrics(at)["validation loss"] == "3.200"
    assert any("after step 4" in m.value for m in at.markdown)
    assert [c.value for c in at.code] == ["<img src=x onerror=alert(1)> [a](javascript:x)"]
    assert live_markup(at) == []
    assert "tr_resume" not in [b.key for b in at.button]  # finished: nothing to resume


def test_an_interrupted_run_offers_resume(tmp_path):
    tok = TOKENIZER_FILE
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat. " * 200, encoding="utf-8")
    args = ["--corpus", str(corpus), "--tokenizer", str(tok), "--n-layer", "1", "--n-head",
            "2", "--n-embd", "16", "--context-length", "16", "--steps", "4", "--batch-size",
            "2", "--eval-every", "2", "--eval-windows", "2", "--sample-every", "0",
            "--checkpoint-every", "2", "--warmup-steps", "1"]  # fmt: skip
    assert train_cli(args) == 0
    factory = open_database()
    with factory.begin() as session:
        (run,) = list_runs(session).runs
        update_run(session, run.id, status=RunStatus.INTERRUPTED)
        run_id = run.id
    at = _run({"run": str(run_id)})
    assert not at.exception
    assert at.button(key="tr_resume").label == "Resume from the last checkpoint"


@pytest.mark.slow  # a real worker process
def test_start_submits_a_job_that_the_queue_shows_as_yours():
    before = {id(m) for m in _managers()}  # other tests' managers (they live on in atexit)
    at = _run(TINY)
    at.button(key="tr_start").click().run()
    assert not at.exception
    (flash,) = [s.value for s in at.success]
    assert "started" in flash or "queued" in flash
    (manager,) = [m for m in _managers() if m.jobs() and id(m) not in before]
    (job,) = manager.jobs()
    assert job.state is JobState.RUNNING
    assert any(job.id in m.value and "yours" in m.value for m in at.markdown)
    done = manager.wait(job.id, timeout=120)
    assert done.returncode == 0, done.log_tail


def test_an_unreachable_ray_cluster_is_named_and_jobs_stay_here(monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("GLASSBOX_RAY_ADDRESS", f"127.0.0.1:{port}")
    at = _run()
    assert any("Jobs run in worker processes on this server" in c.value for c in at.caption)
    assert not at.exception
    (warning,) = [plain(w.value) for w in at.warning]
    assert f"127.0.0.1:{port}" in warning and "does not answer" in warning
    assert "Jobs run on this server" in warning
    assert not at.button(key="tr_start").disabled  # the app keeps working, locally


@pytest.mark.slow  # a real Ray task
def test_with_a_ray_cluster_start_sends_the_job_there(ray_address, monkeypatch):
    monkeypatch.setenv("GLASSBOX_RAY_ADDRESS", ray_address)
    before = {id(m) for m in _managers()}
    at = _run(TINY)
    assert any("Jobs run on the Ray cluster at" in c.value for c in at.caption)
    at.button(key="tr_start").click().run()
    assert not at.exception
    (manager,) = [m for m in _managers() if m.jobs() and id(m) not in before]
    assert isinstance(manager.executor, RayExecutor)
    (job,) = manager.jobs()
    assert job.state is JobState.RUNNING and job.pid is None
    done = manager.wait(job.id, timeout=180)
    assert done.returncode == 0, done.log_tail
    with open_database()() as session:
        (run,) = list_runs(session).runs
        assert run.status == "finished" and f"job:{job.id}" in run.tag_names


def test_a_run_stopped_by_a_non_finite_loss_says_why():
    message = "the loss became non-finite at step 7; the run stopped; last good checkpoint: x"
    with open_database().begin() as session:
        run = record_run(
            session, kind=RunKind.TRAINING, name="diverged", status=RunStatus.FAILED,
            config={"model": {"context_length": 16}, "train": {"steps": 20, "batch_size": 2}},
            series={"train_loss": [(s, 3.0) for s in range(1, 7)]},
            summary={"steps": 6, "message": message},
        )  # fmt: skip
        run_id = run.id
    at = _run({"run": str(run_id)})
    assert not at.exception
    assert [plain(e.value) for e in at.error] == [message]
    assert _metrics(at)["step of 20"] == "6"


def test_without_a_run_in_the_link_the_newest_is_followed_and_the_picker_switches():
    with open_database().begin() as session:
        ids = [
            record_run(
                session, kind=RunKind.TRAINING, name=f"run {name}",
                config={"model": {"context_length": 16}, "train": {"steps": 2, "batch_size": 2}},
                series={"train_loss": [(1, 4.0), (2, loss)]}, summary={"steps": 2},
            ).id
            for name, loss in (("old", 3.0), ("new", 2.0))
        ]  # fmt: skip
    at = _run()
    assert not at.exception
    assert at.subheader[0].value == "run new"
    at.selectbox(key="tr_pick").select(ids[0]).run()
    assert not at.exception
    assert at.subheader[0].value == "run old"
    assert at.query_params["run"] == str(ids[0])
