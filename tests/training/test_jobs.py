"""Training jobs in worker processes: a real tiny run, reattach, kill -9 and resume, queue."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from core.cluster import ClusterUnavailable
from core.model import file_sha256, load_checkpoint
from core.store import get_artifacts, get_points, open_database, require_run
from core.training.jobs import (
    JobError,
    JobManager,
    JobSpec,
    JobState,
    max_jobs_from_env,
    nice_from_env,
)
from core.training.page import live_view


def _manager(**kw) -> JobManager:
    return JobManager(open_database(), background=False, nice=0, **kw)


@pytest.mark.slow  # a real worker process: ~10-30 s on a busy 2-core machine
def test_a_job_trains_in_a_worker_and_the_store_follows_it(tiny_job_args):
    factory = open_database()
    manager = _manager()
    job, _ = manager.submit(JobSpec(tiny_job_args(30), "tiny"))
    assert job.state is JobState.RUNNING and job.pid != os.getpid()
    done = manager.wait(job.id, timeout=120)
    assert (done.state, done.returncode) == (JobState.DONE, 0), done.log_tail
    with factory() as session:
        run = require_run(session, done.run_id)
        assert run.status == "finished" and f"job:{job.id}" in run.tag_names
        points = get_points(session, run.id)
        assert [x for x, _ in points["train_loss"]] == list(range(1, 31))
        assert [x for x, _ in points["val_loss"]] == [10, 20, 30]
        first, last = points["val_loss"][0][1], points["val_loss"][-1][1]
        assert last < first - 0.5  # a repetitive text is learned quickly
        (ckpt,) = [
            a for a in get_artifacts(session, run.id, "checkpoint") if a.name == "last.safetensors"
        ]
        assert ckpt.sha256 == file_sha256(ckpt.path)
        assert load_checkpoint(ckpt.path).extra["step"] == 30
        view = live_view(session, run.id)
    assert (view.status, view.step, view.steps, view.fraction) == ("finished", 30, 30, 1.0)
    assert [s for s, _ in view.samples] == [30, 20, 10]
    # a new manager (a restarted server) knows no jobs; the store still shows the run
    assert _manager().jobs() == []


@pytest.mark.slow  # two real worker processes
def test_kill_9_leaves_an_interrupted_run_that_resumes_in_place(tiny_job_args, until):
    factory = open_database()
    manager = _manager()
    job, _ = manager.submit(JobSpec(tiny_job_args(100_000), "long"))

    def has_checkpoint() -> bool:  # the worker records its first checkpoint at step 10
        manager.poll()
        run_id = manager.get(job.id).run_id
        if run_id is None:
            return False
        with factory() as session:
            # the last checkpoint, on disk (the best one may be recorded a moment earlier)
            return any(
                a.name == "last.safetensors" and a.path and os.path.isfile(a.path)
                for a in get_artifacts(session, run_id, "checkpoint")
            )

    until(has_checkpoint)
    run_id = manager.get(job.id).run_id
    os.kill(job.pid, signal.SIGKILL)
    done = manager.wait(job.id, timeout=60)
    assert done.returncode == -signal.SIGKILL
    with factory() as session:
        run = require_run(session, run_id)
        assert run.status == "interrupted"
        kept = [x for x, _ in get_points(session, run_id)["train_loss"]]
        assert kept[:10] == list(range(1, 11))
        view = live_view(session, run_id)
        assert view.resumable
        last = [
            a for a in get_artifacts(session, run_id, "checkpoint") if a.name == "last.safetensors"
        ]
        ckpt_step = load_checkpoint(last[0].path).extra["step"]
    assert ckpt_step >= 10 and ckpt_step % 10 == 0
    # resume in place with a new total: the run continues from its checkpoint to the end
    again, _ = manager.submit(JobSpec.resume(run_id, steps=ckpt_step + 20))
    with pytest.raises(JobError, match="already has a job"):
        manager.submit(JobSpec.resume(run_id))
    resumed = manager.wait(again.id, timeout=120)
    assert (resumed.run_id, resumed.returncode) == (run_id, 0), resumed.log_tail
    with factory() as session:
        run = require_run(session, run_id)
        xs = [x for x, _ in get_points(session, run_id)["train_loss"]]
    assert xs == list(range(1, ckpt_step + 21))  # no step lost or logged twice
    assert run.status == "finished" and run.summary["steps"] == ckpt_step + 20
    assert run.summary["resumed_from"] == ckpt_step


class WaitingWorkers(JobManager):
    """Workers that wait for a signal instead of training: the queue logic alone."""

    def command(self, job_id: str, spec: JobSpec) -> list[str]:
        return [sys.executable, "-c", "import signal; signal.pause()"]


def test_queue_limit_positions_and_cancel():
    manager = WaitingWorkers(None, max_jobs=2, background=False, nice=0)
    try:
        submitted = [manager.submit(JobSpec(("--steps", str(i)), f"job {i}")) for i in range(5)]
        (a, ka), (b, _), (c, _), (d, kd), _ = submitted
        assert [j.state for j, _ in submitted[:2]] == [JobState.RUNNING] * 2
        assert [j.position for j, _ in submitted[2:]] == [1, 2, 3]
        assert manager.running_count() == 2
        # another session's key cannot cancel; the owner's can
        with pytest.raises(JobError, match="another session"):
            manager.cancel(d.id, ka)
        assert manager.cancel(d.id, kd).state is JobState.CANCELLED
        assert _queued(manager) == [("job 2", 1), ("job 4", 2)]
        # stopping a running job frees its slot for the head of the queue
        manager.cancel(a.id, ka)
        stopped = manager.wait(a.id, timeout=30)
        assert stopped.state is JobState.DONE and stopped.returncode == -signal.SIGTERM
        assert manager.get(c.id).state is JobState.RUNNING
        assert _queued(manager) == [("job 4", 1)]
        with pytest.raises(JobError, match="no job"):
            manager.cancel("nope", ka)
    finally:
        manager.shutdown(timeout=10)
    # shutdown stops the running workers and empties the queue
    assert manager.wait(b.id, timeout=10).returncode == -signal.SIGTERM
    assert _queued(manager) == []


def _queued(manager: JobManager) -> list[tuple[str, int | None]]:
    return [(j.spec.label, j.position) for j in manager.jobs() if j.state is JobState.QUEUED]


def test_max_jobs_from_the_environment(monkeypatch):
    monkeypatch.delenv("GLASSBOX_MAX_JOBS", raising=False)
    assert max_jobs_from_env() == 1
    monkeypatch.setenv("GLASSBOX_MAX_JOBS", "3")
    assert max_jobs_from_env() == 3
    for bad in ("0", "-1", "2.5", "many", "65"):
        monkeypatch.setenv("GLASSBOX_MAX_JOBS", bad)
        with pytest.raises(JobError, match="GLASSBOX_MAX_JOBS"):
            max_jobs_from_env()


def test_job_nice_from_the_environment(monkeypatch):
    monkeypatch.delenv("GLASSBOX_JOB_NICE", raising=False)
    assert nice_from_env() == 5
    monkeypatch.setenv("GLASSBOX_JOB_NICE", "0")
    assert nice_from_env() == 0
    for bad in ("-1", "20", "low"):
        monkeypatch.setenv("GLASSBOX_JOB_NICE", bad)
        with pytest.raises(JobError, match="GLASSBOX_JOB_NICE"):
            nice_from_env()


class GoneCluster:
    """An executor whose cluster went away after the server started."""

    where = "on the Ray cluster at 10.0.0.5:6379"
    starting = "waiting"

    def start(self, *args, **kwargs):
        raise ClusterUnavailable("the Ray cluster at 10.0.0.5:6379 does not answer (refused)")


def test_a_job_the_cluster_cannot_take_ends_at_once_with_the_reason():
    manager = JobManager(None, max_jobs=1, background=False, executor=GoneCluster())
    (a, _), (b, _) = (
        manager.submit(JobSpec(("--steps", "1"), "a")),
        manager.submit(JobSpec(("--steps", "2"), "b")),
    )
    for job in (a, b):  # neither holds a slot nor waits: each says why it did not start
        assert (job.state, job.returncode, job.run_id) == (JobState.DONE, -1, None)
        assert "does not answer" in job.log_tail
    assert manager.running_count() == 0 and manager.notice is None
