"""Training jobs owned by the server: workers, a FIFO queue, stop, resume.

A page never trains in its own script run: it submits a :class:`JobSpec` (the flags of
``python -m core.training``) to the one :class:`JobManager` of the server process, which
starts each job's worker (``python -m core.training ... --tag job:<id>``) as soon as one of
``max_jobs`` slots is free (``GLASSBOX_MAX_JOBS``, default 1), first come first served.
Where the worker runs is the executor's business (``executors.py``): a local process by
default, a Ray task when ``GLASSBOX_RAY_ADDRESS`` names a cluster (:func:`executor_from_env`;
a cluster that does not answer leaves the jobs local, with :attr:`JobManager.notice` saying
why). Workers run at a lower CPU priority than the pages (``nice``, ``GLASSBOX_JOB_NICE``,
default 5), so a job never makes the server slow to answer. The worker writes its run to
the store as it goes (see ``recorder.py``) and owns it (``host:pid:start``), so

* a new browser session reattaches by reading the store and :meth:`JobManager.jobs`;
* Stop sends SIGTERM (``ray.cancel`` on Ray): the worker saves its last checkpoint
  (atomically) and ends the run "interrupted", resumable with :meth:`JobSpec.resume`
  (``--resume-run``);
* a worker killed with ``kill -9`` (or a Ray node lost) leaves its run "running": the
  manager notices (:meth:`JobManager.poll`, at once for its own workers, every 30 s with
  ``sweep_interrupted`` for any dead process of this host) and marks it interrupted;
  its points and last checkpoint stay, and it can be resumed the same way;
* a non-finite loss ends the run "failed" with the step and reason in its summary.

With Ray, ``max_jobs`` is this server's share: each replica keeps its own queue and sends
at most ``max_jobs`` jobs to the cluster, and Ray starts them as CPUs free up
(``GLASSBOX_RAY_JOB_CPUS`` per job), so the cluster's size bounds the room as a whole.

A background thread calls :meth:`JobManager.poll` every ``poll_s`` seconds so queued jobs
start with no page open; tests call it directly. Jobs are cancelled with the key given at
submission (the page keeps its users' keys), so one user cannot stop another's job.
"""

from __future__ import annotations

import atexit
import enum
import os
import secrets
import shutil
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.cluster import ClusterUnavailable, ray_address_from_env
from core.store import (
    RunNotFound,
    RunQuery,
    RunStatus,
    glassbox_home,
    list_runs,
    require_run,
    sweep_interrupted,
    update_run,
)
from core.training.executors import Executor, LocalExecutor, RayExecutor, Worker

MAX_JOBS_ENV = "GLASSBOX_MAX_JOBS"
NICE_ENV = "GLASSBOX_JOB_NICE"
MAX_QUEUE = 50  # queued jobs at most: a room of users, not a batch system
SWEEP_EVERY_S = 30.0  # also look for runs of dead workers (another server's) this often


class JobError(ValueError):
    """A job that cannot be submitted or cancelled, with what to do instead."""


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # the worker exited (the run's status says how it ended)
    CANCELLED = "cancelled"  # removed from the queue before it started


def max_jobs_from_env(default: int = 1) -> int:
    """``GLASSBOX_MAX_JOBS`` as a whole number from 1 to 64 (``default`` when unset)."""
    raw = os.environ.get(MAX_JOBS_ENV, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise JobError(f"{MAX_JOBS_ENV} must be a whole number from 1 to 64, got {raw[:20]!r}")
    return int(raw)


def nice_from_env(default: int = 5) -> int:
    """``GLASSBOX_JOB_NICE``: how much lower than the pages' the workers' CPU priority is
    (0 to 19; 0: the same)."""
    raw = os.environ.get(NICE_ENV, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) > 19:
        raise JobError(f"{NICE_ENV} must be a whole number from 0 to 19, got {raw[:20]!r}")
    return int(raw)


def executor_from_env(env: dict[str, str] | None = None) -> tuple[Executor, str | None]:
    """The executor ``GLASSBOX_RAY_ADDRESS`` asks for, and a notice when it cannot be had.

    Unset: local worker processes, no notice. Set and the cluster answers: a
    :class:`RayExecutor`. Set but Ray missing or the head unreachable: local worker
    processes, and the notice says why (the Training page shows it; the app keeps working).
    """
    address = ray_address_from_env() if env is None else (env.get("GLASSBOX_RAY_ADDRESS") or "")
    if not address.strip():
        return LocalExecutor(), None
    try:
        return RayExecutor(address.strip()), None
    except ClusterUnavailable as exc:
        return (
            LocalExecutor(),
            f"{exc}. Jobs run on this server until it restarts with the cluster up.",
        )


@dataclass(frozen=True)
class JobSpec:
    """What to run: flags of ``python -m core.training`` and a label for the queue."""

    args: tuple[str, ...]
    label: str
    resume_run: int | None = None  # set when the job continues a stored run in place

    @classmethod
    def resume(cls, run_id: int, label: str = "", steps: int | None = None) -> JobSpec:
        """A job continuing stored run ``run_id`` from its last checkpoint with its flags
        (``steps``: a new total)."""
        args = ("--resume-run", str(int(run_id)))
        if steps is not None:
            args += ("--steps", str(int(steps)))
        return cls(args, label or f"resume run {run_id}", run_id)


@dataclass(frozen=True)
class Job:
    """One job as the queue shows it (a snapshot: the manager keeps the live record)."""

    id: str
    spec: JobSpec
    state: JobState
    submitted_at: float  # time.time()
    position: int | None = None  # 1-based place in the queue while queued
    run_id: int | None = None  # the run in the store, once the worker created it
    pid: int | None = None  # the local worker's process id (None on Ray: see the run's owner)
    returncode: int | None = None  # < 0: killed by that signal; -1: lost on Ray or never started
    stop_requested: bool = False
    log_tail: str = ""  # the end of the worker's output once it ended badly


@dataclass
class _Record:
    job: Job
    key: str
    worker: Worker | None = None
    log: Path | None = None


class JobManager:
    """Runs training jobs on an executor, at most ``max_jobs`` at a time, FIFO."""

    def __init__(
        self,
        session_factory: sessionmaker[Session] | None = None,
        *,
        max_jobs: int | None = None,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
        poll_s: float = 0.5,
        background: bool = True,
        nice: int | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.max_jobs = max_jobs if max_jobs is not None else max_jobs_from_env()
        if self.max_jobs < 1:
            raise JobError("max_jobs must be at least 1")
        self.env = dict(os.environ if env is None else env)
        self.log_dir = log_dir or glassbox_home() / "jobs"
        self.nice = nice_from_env() if nice is None else nice
        self.notice: str | None = None  # why jobs are not where GLASSBOX_RAY_ADDRESS says
        if executor is None:
            executor, self.notice = executor_from_env(self.env)
        self.executor = executor
        self._records: dict[str, _Record] = {}
        self._queue: deque[str] = deque()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._last_sweep = 0.0
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(
                target=self._loop, args=(poll_s,), name="glassbox-jobs", daemon=True
            )
            self._thread.start()
        atexit.register(self.shutdown)

    # ------------------------------------------------------------------ public actions
    def submit(self, spec: JobSpec) -> tuple[Job, str]:
        """Queue ``spec``; returns the job and the key that cancels it. Starts it if a slot
        is free."""
        with self._lock:
            if len(self._queue) >= MAX_QUEUE:
                raise JobError(
                    f"the queue is full ({MAX_QUEUE} jobs waiting): try again when some finished"
                )
            if spec.resume_run is not None and any(
                r.job.spec.resume_run == spec.resume_run or r.job.run_id == spec.resume_run
                for r in self._records.values()
                if r.job.state in (JobState.QUEUED, JobState.RUNNING)
            ):
                raise JobError(f"run {spec.resume_run} already has a job queued or running")
            job_id = secrets.token_hex(4)
            key = secrets.token_urlsafe(12)
            job = Job(job_id, spec, JobState.QUEUED, time.time(), run_id=spec.resume_run)
            self._records[job_id] = _Record(job, key)
            self._queue.append(job_id)
        self.poll()
        return self.get(job_id), key

    def cancel(self, job_id: str, key: str) -> Job:
        """Take a queued job off the queue, or stop a running one (it keeps its checkpoint)."""
        with self._lock:
            record = self._records.get(job_id)
            if record is None:
                raise JobError(f"no job {job_id!r} on this server (it may have been restarted)")
            if not secrets.compare_digest(record.key, key):
                raise JobError("this job was started by another session: only it can stop it")
            if record.job.state is JobState.QUEUED:
                self._queue.remove(job_id)
                record.job = replace(record.job, state=JobState.CANCELLED, position=None)
            elif record.job.state is JobState.RUNNING and record.worker is not None:
                record.worker.stop()
                record.job = replace(record.job, stop_requested=True)
        self.poll()
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        with self._lock:
            record = self._records.get(job_id)
            if record is None:
                raise JobError(f"no job {job_id!r} on this server (it may have been restarted)")
            return self._view(record)

    def jobs(self) -> list[Job]:
        """Every job this manager knows, queued ones in queue order first, then the rest
        newest first."""
        with self._lock:
            queued = [self._view(self._records[i]) for i in self._queue]
            others = [
                self._view(r) for r in self._records.values() if r.job.state is not JobState.QUEUED
            ]
        others.sort(key=lambda j: j.submitted_at, reverse=True)
        return [*[j for j in others if j.state is JobState.RUNNING], *queued] + [
            j for j in others if j.state is not JobState.RUNNING
        ]

    def running_count(self) -> int:
        with self._lock:
            return sum(r.job.state is JobState.RUNNING for r in self._records.values())

    def wait(self, job_id: str, timeout: float) -> Job:
        """Block until the job's worker ends (tests, benchmarks); returns its final view."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            job = self.get(job_id)
            if job.state in (JobState.DONE, JobState.CANCELLED):
                return job
            with self._lock:
                worker = self._records[job_id].worker
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"job {job_id} still {job.state} after {timeout} s")
            if worker is not None:
                worker.wait(min(left, 0.5))
            else:
                self._stop.wait(min(left, 0.1))

    def poll(self) -> None:
        """Reap ended workers, find new runs' ids, start queued jobs in free slots."""
        with self._lock:
            ended = False
            for record in self._records.values():
                job = record.job
                if job.state is not JobState.RUNNING or record.worker is None:
                    continue
                if job.run_id is None:
                    record.job = job = replace(job, run_id=self._find_run(job.id))
                code = record.worker.poll()
                if code is not None:
                    record.job = job = replace(
                        job,
                        state=JobState.DONE,
                        returncode=code,
                        run_id=job.run_id if job.run_id is not None else self._find_run(job.id),
                        log_tail=record.worker.tail() if code != 0 else "",
                    )
                    if code != 0 and job.run_id is not None:
                        self._settle(job.run_id, code, job.log_tail)
                    ended = True
            if ended or time.monotonic() - self._last_sweep > SWEEP_EVERY_S:
                self._sweep()
            while self._queue and self.running_count() < self.max_jobs:
                self._start(self._records[self._queue.popleft()])

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the poller and every running worker (each saves its checkpoint)."""
        self._stop.set()
        with self._lock:
            self._queue.clear()
            workers = [
                r.worker
                for r in self._records.values()
                if r.worker is not None and r.worker.poll() is None
            ]
        for worker in workers:
            worker.stop()
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.wait(max(0.0, deadline - time.monotonic()))
            if worker.poll() is None:
                worker.kill()

    # ------------------------------------------------------------------ internals
    @staticmethod
    def flags(job_id: str, spec: JobSpec) -> list[str]:
        """The worker's flags of ``python -m core.training`` (a new run is tagged with the
        job, so the manager finds it)."""
        if spec.resume_run is None:
            return [*spec.args, "--tag", f"job:{job_id}"]
        return list(spec.args)

    def command(self, job_id: str, spec: JobSpec) -> list[str]:
        """A local worker's command line (``nice`` lowers its priority below the pages')."""
        argv = [sys.executable, "-m", "core.training", *self.flags(job_id, spec)]
        nice = shutil.which("nice")
        if self.nice and nice:
            argv = [nice, "-n", str(self.nice), *argv]
        return argv

    def _start(self, record: _Record) -> None:
        job = record.job
        record.log = self.log_dir / f"job-{job.id}.log"
        env = {**self.env, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONUNBUFFERED": "1"}
        try:
            record.worker = self.executor.start(
                job.id, self.flags(job.id, job.spec), self.command(job.id, job.spec), env,
                record.log, self.nice,
            )  # fmt: skip
        except (ClusterUnavailable, OSError) as exc:  # the cluster went away; no fork left
            record.job = replace(
                job, state=JobState.DONE, position=None, returncode=-1, log_tail=str(exc)
            )
            return
        record.job = replace(job, state=JobState.RUNNING, pid=record.worker.pid, position=None)

    def _view(self, record: _Record) -> Job:
        job = record.job
        if job.state is JobState.QUEUED:
            return replace(job, position=self._queue.index(job.id) + 1)
        return job

    def _find_run(self, job_id: str) -> int | None:
        if self.session_factory is None:
            return None
        try:
            with self.session_factory() as session:
                runs = list_runs(session, RunQuery(tag=f"job:{job_id}", limit=1)).runs
                return runs[0].id if runs else None
        except SQLAlchemyError:
            return None

    def _sweep(self) -> None:
        """Runs whose worker died without finishing them (kill -9) become interrupted."""
        self._last_sweep = time.monotonic()
        if self.session_factory is None:
            return
        try:
            with self.session_factory.begin() as session:
                sweep_interrupted(session)
        except SQLAlchemyError:
            pass  # the next poll tries again

    def _settle(self, run_id: int, code: int, tail: str) -> None:
        """A worker ended badly and its run still says "running" (killed, or its Ray worker
        or node lost): the run becomes interrupted, resumable from its last checkpoint. The
        worker has ended, so nothing writes to the run any more, whichever host it ran on."""
        if self.session_factory is None:
            return
        reason = tail.strip().splitlines()[-1][:300] if tail.strip() else f"exit status {code}"
        try:
            with self.session_factory.begin() as session:
                if require_run(session, run_id).status == RunStatus.RUNNING.value:
                    update_run(
                        session,
                        run_id,
                        status=RunStatus.INTERRUPTED,
                        summary={"interrupted": f"the job's worker ended ({reason})"},
                    )
        except (SQLAlchemyError, RunNotFound):
            pass  # the sweep tries again for a dead process of this host

    def _loop(self, poll_s: float) -> None:
        while not self._stop.wait(poll_s):
            try:
                self.poll()
            except Exception:  # the poller must outlive one bad poll (a locked database)
                continue
