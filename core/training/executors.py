"""Where a training job's worker runs: a local process, or a task on a Ray cluster.

The job manager (``jobs.py``) keeps the queue, the keys and the run bookkeeping; an
:class:`Executor` only starts one job's worker and hands back a :class:`Worker` handle that
the manager polls, stops and waits on. Both kinds run the same thing, ``python -m
core.training``'s :func:`core.training.cli.main` with the job's flags, so the worker records
its run in the store the same way either way (``recorder.py``), and

==================  ==========================================  ===============================
                    :class:`LocalExecutor`                      :class:`RayExecutor`
==================  ==========================================  ===============================
worker              ``nice python -m core.training ...``        a Ray task (``num_cpus`` from
                    (a child process of the server)             ``GLASSBOX_RAY_JOB_CPUS``) in a
                                                                fresh Ray worker process
                                                                (``max_calls=1``), at ``nice``
Stop                SIGTERM -> KeyboardInterrupt in the loop    ``ray.cancel`` -> the same
                    -> last checkpoint, run "interrupted"       KeyboardInterrupt, same result
worker dies         exit status < 0; the run is still           the task's error (worker or
                    "running" -> the manager marks it           node died); the same
                    interrupted (its points and checkpoint
                    stay)
output              ``$GLASSBOX_HOME/jobs/job-<id>.log``        the same file on the node;
                                                                its tail comes back with the
                                                                task's result
==================  ==========================================  ===============================

A Ray task is not retried (``max_retries=0``): a job whose worker died is resumable from its
last checkpoint, which is better than a silent restart from step 0.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from core.cluster import connect, job_cpus_from_env, probe, runtime_env

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL = 2_000  # characters of a worker's output kept as the reason it failed
WORKER_LOST = -1  # exit status of a Ray job whose worker or node died (no status of its own)
# Variables a Ray worker gets from the server (the node's own environment gives the rest).
_FORWARDED = ("GLASSBOX_", "OMP_WAIT_POLICY", "PYTHONUNBUFFERED")


class Worker(Protocol):
    """One started job's worker, as the job manager handles it."""

    pid: int | None  # the local process id (None on Ray: the run's owner names it)

    def poll(self) -> int | None:
        """Its exit status once it has ended (0: finished), else None."""
        ...

    def stop(self) -> None:
        """Ask it to stop: it saves its last checkpoint and ends its run "interrupted"."""
        ...

    def kill(self) -> None:
        """End it at once (after a stop that took too long)."""
        ...

    def wait(self, timeout: float) -> None:
        """Block until it ends or ``timeout`` seconds pass."""
        ...

    def tail(self) -> str:
        """The end of its output (why it failed)."""
        ...


class Executor(Protocol):
    """Starts workers; ``where`` and ``starting`` are phrases for the Training page."""

    where: str  # "on the Ray cluster at ..." (after "Jobs run")
    starting: str  # what a started job without a run yet is doing

    def start(
        self, job_id: str, flags: Sequence[str], command: Sequence[str], env: Mapping[str, str],
        log: Path, nice: int,
    ) -> Worker:  # fmt: skip
        """Start ``flags`` (of ``python -m core.training``); ``command`` is the same as a
        local command line."""
        ...


def read_tail(path: Path | None) -> str:
    """The last ``LOG_TAIL`` characters of a log file ("" if there is none)."""
    if path is None or not path.is_file():
        return ""
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - LOG_TAIL))
        return handle.read().decode("utf-8", errors="replace")


# ---------------------------------------------------------------------- local processes
class LocalWorker:
    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process, self.log, self.pid = process, log, process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def wait(self, timeout: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)

    def tail(self) -> str:
        return read_tail(self.log)


class LocalExecutor:
    """Each job in a child process of the server (the default)."""

    where = "in worker processes on this server"
    starting = "reading the corpus and building the model"

    def start(
        self, job_id: str, flags: Sequence[str], command: Sequence[str], env: Mapping[str, str],
        log: Path, nice: int,
    ) -> LocalWorker:  # fmt: skip
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as handle:
            process = subprocess.Popen(
                list(command),
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO_ROOT,
                env=dict(env),
                start_new_session=True,  # a Ctrl-C of the server reaches it as SIGTERM only
            )
        return LocalWorker(process, log)


# ---------------------------------------------------------------------- Ray
def run_training_task(flags: Sequence[str], log: str, nice: int) -> tuple[int, str]:
    """The body of a Ray training task: ``core.training.cli.main(flags)`` in this worker.

    Runs in a fresh Ray worker process (``max_calls=1``), so the run's owner
    (``host:pid:start``) ends with the job. Returns (exit status, tail of the output when it
    is not 0). ``ray.cancel`` raises KeyboardInterrupt in the training loop, which saves the
    last checkpoint and ends the run "interrupted", as SIGTERM does for a local worker.
    """
    os.chdir(REPO_ROOT)  # relative paths (assets/...) mean this checkout, as locally
    if nice:
        os.nice(nice)
    path = Path(log)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:  # this node does not share the server's GLASSBOX_HOME: keep a local log
        path = Path(tempfile.mkdtemp(prefix="glassbox-job-")) / path.name
    with (
        open(path, "w", encoding="utf-8", buffering=1) as out,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(out),
    ):
        code = _main(flags)
    return code, (read_tail(path) if code else "")


def _main(flags: Sequence[str]) -> int:
    from core.training.cli import main  # torch loads in the worker, not in the server

    try:
        return main(list(flags))
    except SystemExit as exc:  # the command line's refusals: a message, status 1 or 2
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, flush=True)
        return 1
    except KeyboardInterrupt:  # cancelled before the training loop started
        print("stopped before training started", flush=True)
        return -signal.SIGTERM
    except Exception:  # a bug: its traceback goes to the job's log, not to a page
        traceback.print_exc()
        return 1


class RayWorker:
    pid = None

    def __init__(self, ref: object) -> None:
        self.ref = ref
        self._code: int | None = None
        self._tail = ""

    def poll(self) -> int | None:
        import ray
        from ray.exceptions import RayError, RayTaskError, TaskCancelledError

        if self._code is not None:
            return self._code
        ready, _ = ray.wait([self.ref], timeout=0)
        if not ready:
            return None
        try:
            self._code, self._tail = ray.get(self.ref)
        except TaskCancelledError:  # cancelled while it waited for a CPU
            self._code, self._tail = -signal.SIGTERM, "cancelled before it started on the cluster"
        except RayTaskError as exc:  # the task itself raised (outside the training code)
            self._code, self._tail = 1, _short("the job failed on the Ray cluster", exc)
        except RayError as exc:  # the worker or its node died; the task is not retried
            self._code, self._tail = WORKER_LOST, _short("the Ray worker running it was lost", exc)
        return self._code

    def stop(self) -> None:
        import ray

        if self.poll() is None:
            ray.cancel(self.ref)  # KeyboardInterrupt in the task: it saves a checkpoint

    def kill(self) -> None:
        import ray

        if self.poll() is None:
            ray.cancel(self.ref, force=True)

    def wait(self, timeout: float) -> None:
        import ray

        ray.wait([self.ref], timeout=max(0.0, timeout))

    def tail(self) -> str:
        return self._tail


def _short(what: str, exc: BaseException) -> str:
    """``what: `` and the first lines of Ray's error, without its terminal colours."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{what}: {' '.join(lines[:3])}"[:LOG_TAIL]


class RayExecutor:
    """Each job as a task on the Ray cluster at ``address`` (connected at construction)."""

    def __init__(self, address: str, cpus: int | None = None) -> None:
        import ray

        self.address = connect(address)  # ClusterUnavailable when the head does not answer
        self.cpus = cpus if cpus is not None else job_cpus_from_env()
        self.starting = (
            f"waiting for {self.cpus} free CPU(s) on the Ray cluster, then reading the corpus "
            "and building the model"
        )
        total = int(ray.cluster_resources().get("CPU", 0))
        self.where = (
            f"on the Ray cluster at {self.address} ({total} CPUs; {self.cpus} per job, "
            "Ray queues jobs beyond that)"
        )

    def start(
        self, job_id: str, flags: Sequence[str], command: Sequence[str], env: Mapping[str, str],
        log: Path, nice: int,
    ) -> RayWorker:  # fmt: skip
        import ray

        probe(self.address)  # ClusterUnavailable: the head went down since the server started
        forwarded = {k: v for k, v in env.items() if k.startswith(_FORWARDED)}
        task = ray.remote(
            max_calls=1,  # a fresh worker process per job: the run's owner ends with it
            max_retries=0,  # a lost job is resumed by a person, from its last checkpoint
        )(run_training_task).options(
            name=f"glassbox-training-{job_id}",
            num_cpus=self.cpus,
            runtime_env=runtime_env(forwarded),
        )
        return RayWorker(task.remote(list(flags), str(log), nice))
