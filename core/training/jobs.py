"""Training jobs owned by the server: worker processes, a FIFO queue, stop, resume.

A page never trains in its own script run: it submits a :class:`JobSpec` (the flags of
``python -m core.training``) to the one :class:`JobManager` of the server process, which
starts each job as a worker process (``python -m core.training ... --tag job:<id>``) as soon
as one of ``max_jobs`` slots is free (``GLASSBOX_MAX_JOBS``, default 1), first come first
served. Workers run at a lower CPU priority than the pages (``nice``, ``GLASSBOX_JOB_NICE``,
default 5), so a job never makes the server slow to answer. The worker writes its run to the store as it goes (see ``recorder.py``) and owns it
(``host:pid:start``), so

* a new browser session reattaches by reading the store and :meth:`JobManager.jobs`;
* Stop sends SIGTERM: the worker saves its last checkpoint (atomically) and ends the run
  "interrupted", resumable with :meth:`JobSpec.resume` (``--resume-run``);
* a worker killed with ``kill -9`` leaves its run "running" with a dead owner: the manager
  notices (:meth:`JobManager.poll`, at once for its own workers, every 30 s for any) and
  marks it interrupted with ``sweep_interrupted``;
  its points and last checkpoint stay, and it can be resumed the same way;
* a non-finite loss ends the run "failed" with the step and reason in its summary.

A background thread calls :meth:`JobManager.poll` every ``poll_s`` seconds so queued jobs
start with no page open; tests call it directly. Jobs are cancelled with the key given at
submission (the page keeps its users' keys), so one user cannot stop another's job.
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.store import RunQuery, glassbox_home, list_runs, sweep_interrupted

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_JOBS_ENV = "GLASSBOX_MAX_JOBS"
NICE_ENV = "GLASSBOX_JOB_NICE"
MAX_QUEUE = 50  # queued jobs at most: a room of users, not a batch system
SWEEP_EVERY_S = 30.0  # also look for runs of dead workers (another server's) this often
LOG_TAIL = 2_000  # characters of a worker's output kept as the reason it failed


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
    pid: int | None = None
    returncode: int | None = None
    stop_requested: bool = False
    log_tail: str = ""  # the end of the worker's output once it ended badly


@dataclass
class _Record:
    job: Job
    key: str
    process: subprocess.Popen | None = None
    log: Path | None = None


class JobManager:
    """Runs training jobs in worker processes, at most ``max_jobs`` at a time, FIFO."""

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
    ) -> None:
        self.session_factory = session_factory
        self.max_jobs = max_jobs if max_jobs is not None else max_jobs_from_env()
        if self.max_jobs < 1:
            raise JobError("max_jobs must be at least 1")
        self.env = dict(os.environ if env is None else env)
        self.log_dir = log_dir or glassbox_home() / "jobs"
        self.nice = nice_from_env() if nice is None else nice
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
            elif record.job.state is JobState.RUNNING and record.process is not None:
                if record.process.poll() is None:
                    record.process.send_signal(signal.SIGTERM)
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
        """Block until the job's worker exits (tests, benchmarks); returns its final view."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            job = self.get(job_id)
            if job.state in (JobState.DONE, JobState.CANCELLED):
                return job
            with self._lock:
                process = self._records[job_id].process
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"job {job_id} still {job.state} after {timeout} s")
            if process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=min(left, 0.5))
            else:
                self._stop.wait(min(left, 0.1))

    def poll(self) -> None:
        """Reap ended workers, find new runs' ids, start queued jobs in free slots."""
        with self._lock:
            ended = False
            for record in self._records.values():
                job = record.job
                if job.state is not JobState.RUNNING or record.process is None:
                    continue
                if job.run_id is None:
                    record.job = job = replace(job, run_id=self._find_run(job.id))
                code = record.process.poll()
                if code is not None:
                    record.job = replace(
                        job,
                        state=JobState.DONE,
                        returncode=code,
                        run_id=job.run_id if job.run_id is not None else self._find_run(job.id),
                        log_tail=self._tail(record) if code != 0 else "",
                    )
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
            processes = [
                r.process
                for r in self._records.values()
                if r.process is not None and r.process.poll() is None
            ]
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()

    # ------------------------------------------------------------------ internals
    def command(self, job_id: str, spec: JobSpec) -> list[str]:
        """The worker's command line (``nice`` lowers its priority below the pages')."""
        argv = [sys.executable, "-m", "core.training", *spec.args]
        if spec.resume_run is None:
            argv += ["--tag", f"job:{job_id}"]
        nice = shutil.which("nice")
        if self.nice and nice:
            argv = [nice, "-n", str(self.nice), *argv]
        return argv

    def _start(self, record: _Record) -> None:
        job = record.job
        self.log_dir.mkdir(parents=True, exist_ok=True)
        record.log = self.log_dir / f"job-{job.id}.log"
        env = {**self.env, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONUNBUFFERED": "1"}
        with open(record.log, "wb") as log:
            record.process = subprocess.Popen(
                self.command(job.id, job.spec),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO_ROOT,
                env=env,
                start_new_session=True,  # a Ctrl-C of the server reaches it as SIGTERM only
            )
        record.job = replace(job, state=JobState.RUNNING, pid=record.process.pid, position=None)

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

    @staticmethod
    def _tail(record: _Record) -> str:
        if record.log is None or not record.log.is_file():
            return ""
        with open(record.log, "rb") as handle:
            handle.seek(max(0, record.log.stat().st_size - LOG_TAIL))
            return handle.read().decode("utf-8", errors="replace")

    def _loop(self, poll_s: float) -> None:
        while not self._stop.wait(poll_s):
            try:
                self.poll()
            except Exception:  # the poller must outlive one bad poll (a locked database)
                continue
