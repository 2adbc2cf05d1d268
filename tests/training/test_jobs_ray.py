"""Training jobs on a Ray cluster: the same manager, queue, stop and resume as locally.

The cluster is CI's head (``GLASSBOX_TEST_RAY_ADDRESS``) or a local one the session starts
once (``ray_address`` in tests/conftest.py). Each job is a real Ray task training a tiny
model into this test's SQLite store, which the Ray worker reaches at the same path.
"""

from __future__ import annotations

import os
import signal

import pytest

from core.model import file_sha256, load_checkpoint
from core.store import get_artifacts, get_points, open_database, require_run
from core.store.owner import current_owner
from core.training.executors import WORKER_LOST, RayExecutor
from core.training.jobs import JobManager, JobSpec, JobState
from core.training.page import live_view

pytestmark = pytest.mark.slow  # real Ray tasks: each starts a fresh worker that loads torch


@pytest.fixture
def ray_manager(ray_address, monkeypatch):
    """A manager whose executor GLASSBOX_RAY_ADDRESS chose, as a server's is chosen."""
    monkeypatch.setenv("GLASSBOX_RAY_ADDRESS", ray_address)
    manager = JobManager(open_database(), background=False, nice=0)
    yield manager
    manager.shutdown(timeout=60)


def _last_checkpoint(session, run_id: int):
    found = [
        a for a in get_artifacts(session, run_id, "checkpoint") if a.name == "last.safetensors"
    ]
    return found[0] if found and found[0].path and os.path.isfile(found[0].path) else None


def _started(manager, factory, job_id: str):
    """A predicate: the job's run has its first checkpoint on disk."""

    def check() -> bool:
        manager.poll()
        run_id = manager.get(job_id).run_id
        if run_id is None:
            return False
        with factory() as session:
            return _last_checkpoint(session, run_id) is not None

    return check


def test_a_job_trains_on_ray_and_the_store_follows_it(ray_manager, tiny_job_args):
    manager, factory = ray_manager, open_database()
    assert isinstance(manager.executor, RayExecutor) and manager.notice is None
    assert "Ray cluster" in manager.executor.where
    job, _ = manager.submit(JobSpec(tiny_job_args(30), "tiny on ray"))
    assert job.state is JobState.RUNNING and job.pid is None  # a Ray task, no local process
    done = manager.wait(job.id, timeout=180)
    assert (done.state, done.returncode) == (JobState.DONE, 0), done.log_tail
    with factory() as session:
        run = require_run(session, done.run_id)
        assert run.status == "finished" and f"job:{job.id}" in run.tag_names
        assert run.owner and run.owner != current_owner()  # written by the Ray worker
        points = get_points(session, run.id)
        assert [x for x, _ in points["train_loss"]] == list(range(1, 31))
        assert [x for x, _ in points["val_loss"]] == [10, 20, 30]
        first, last = points["val_loss"][0][1], points["val_loss"][-1][1]
        assert last < first - 0.5  # a repetitive text is learned quickly
        ckpt = _last_checkpoint(session, run.id)
        assert ckpt.sha256 == file_sha256(ckpt.path)
        assert load_checkpoint(ckpt.path).extra["step"] == 30
        view = live_view(session, run.id)
    assert (view.status, view.step, view.fraction) == ("finished", 30, 1.0)
    assert [s for s, _ in view.samples] == [30, 20, 10]


def test_stop_cancels_the_ray_task_keeps_the_checkpoint_and_resumes(
    ray_manager, tiny_job_args, until
):
    manager, factory = ray_manager, open_database()
    job, key = manager.submit(JobSpec(tiny_job_args(100_000), "long on ray"))
    until(_started(manager, factory, job.id), timeout=180)
    assert manager.cancel(job.id, key).stop_requested  # ray.cancel: KeyboardInterrupt
    done = manager.wait(job.id, timeout=120)
    assert done.returncode == 1, done.log_tail  # the run ended "interrupted", not "finished"
    with factory() as session:
        run = require_run(session, done.run_id)
        assert run.status == "interrupted"
        assert run.summary["message"] == f"interrupted at step {run.summary['steps']}"
        assert live_view(session, run.id).resumable
        step = load_checkpoint(_last_checkpoint(session, run.id).path).extra["step"]
        kept = [x for x, _ in get_points(session, run.id)["train_loss"]]
        stopped_at = run.summary["steps"]
    assert step == stopped_at >= 10  # the checkpoint of the step it stopped at
    assert kept == list(range(1, step + 1))
    # Resume on the cluster too: the run continues in place to its new total.
    again, _ = manager.submit(JobSpec.resume(done.run_id, steps=step + 10))
    resumed = manager.wait(again.id, timeout=180)
    assert (resumed.run_id, resumed.returncode) == (done.run_id, 0), resumed.log_tail
    with factory() as session:
        run = require_run(session, done.run_id)
        xs = [x for x, _ in get_points(session, run.id)["train_loss"]]
    assert xs == list(range(1, step + 11))  # no step lost or logged twice
    assert run.status == "finished" and run.summary["resumed_from"] == step


def test_a_ray_worker_that_dies_leaves_an_interrupted_resumable_run(
    ray_manager, tiny_job_args, until
):
    manager, factory = ray_manager, open_database()
    job, _ = manager.submit(JobSpec(tiny_job_args(100_000), "killed on ray"))
    until(_started(manager, factory, job.id), timeout=180)
    run_id = manager.get(job.id).run_id
    with factory() as session:
        host, pid, _start = require_run(session, run_id).owner.rsplit(":", 2)
    os.kill(int(pid), signal.SIGKILL)  # the Ray worker process (this machine's cluster)
    done = manager.wait(job.id, timeout=120)
    assert done.returncode == WORKER_LOST and "lost" in done.log_tail
    assert "\x1b" not in done.log_tail  # Ray's terminal colours are not for a page
    with factory() as session:
        run = require_run(session, run_id)
        assert run.status == "interrupted" and "worker ended" in run.summary["interrupted"]
        assert live_view(session, run_id).resumable
        assert load_checkpoint(_last_checkpoint(session, run_id).path).extra["step"] >= 10
