"""Heavy page actions on a small worker pool shared by the server, so page reruns never starve.

Streamlit runs each session's script on its own thread. When twenty sessions each start a
simulation or a BPE training on their script thread, twenty CPU-bound threads share the GIL
and two cores, and every other page rerun — drawing a chart, changing a widget — waits
behind them. Here heavy actions go to one ``ThreadPoolExecutor`` of ``MAX_WORKERS`` threads
(created once per server by ``st.cache_resource``): at most that many run at a time, the
rest wait in line, and the waiting script threads sleep in ``Future.result`` (no GIL), so
light reruns keep their share of the CPU.

    result = run_job("Simulating 4,800 requests", lambda report: simulate(..., report))

``report(fraction, note)`` is how the work shows progress; it raises :class:`Cancelled` once
the job is cancelled — when its browser session has gone (``ui.work``), or when the script
waiting for it is stopped or rerun (the user clicked something else) — so the worker is
freed for the next job within one report.

    steps = run_quietly(lambda: sampler.run_within(n, 0.3))   # a short slice, no widget

:func:`run_quietly` is for short slices of work whose page draws its own progress
(Sampling's Run N), no bar of its own. The slices have a lane of their own, one worker
(``QUICK_WORKERS``): a slice is bounded (0.3 s), so a 5-token Run N never waits in line
behind a BPE training or a pool simulation of another session — short work first, as a
scheduler would. At most ``MAX_WORKERS + QUICK_WORKERS`` threads compute at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import streamlit as st

from ui.work import SessionGone, session_alive

T = TypeVar("T")
MAX_WORKERS = 2  # one per core of the machine this was measured on (docs/benchmarks.md)
QUICK_WORKERS = 1  # the lane of run_quietly's short slices
POLL_S = 0.25  # how often a waiting page checks its session (and its bar for news)
REDRAW_S = 1.0  # the bar is redrawn at most this often: each redraw costs the browser
Report = Callable[..., None]  # report(fraction in [0, 1], note="")


class Cancelled(Exception):
    """Raised inside a job's work by ``report`` once nobody waits for the result."""


@st.cache_resource(show_spinner=False)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="glassbox-job")


@st.cache_resource(show_spinner=False)
def _quick_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=QUICK_WORKERS, thread_name_prefix="glassbox-slice")


@dataclass
class Job:
    """One submitted action: its future, its cancel flag and its last reported progress."""

    cancel: threading.Event = field(default_factory=threading.Event)
    fraction: float = 0.0
    note: str = ""
    started: bool = False

    def report(self, fraction: float, note: str = "") -> None:
        if self.cancel.is_set():
            raise Cancelled("nobody is waiting for this job any more")
        self.fraction, self.note = min(max(float(fraction), 0.0), 1.0), note


def submit(work: Callable[[Report], T], quick: bool = False) -> tuple[Job, Future[T]]:
    """Queue ``work(report)`` on the shared pool (with ``quick``, on the lane of short
    slices); a job cancelled before it starts never runs."""
    job = Job()

    def body() -> T:
        if job.cancel.is_set():
            raise Cancelled("cancelled while waiting for a worker")
        job.started = True
        return work(job.report)

    return job, (_quick_pool() if quick else _pool()).submit(body)


def _wait(job: Job, future: Future[T], between: Callable[[], None] | None = None) -> T:
    """The result of ``future``, checking every ``POLL_S`` that the session is still there
    (then ``between()``, e.g. to redraw progress). If the session goes away the job is
    cancelled and :class:`ui.work.SessionGone` ends the script quietly; any other way the
    wait ends early (Streamlit stopping or rerunning the script) cancels the job too."""
    try:
        while True:
            try:
                return future.result(timeout=POLL_S)
            except TimeoutError:
                pass
            if not session_alive():
                raise SessionGone("the browser session that started this work has closed")
            if between is not None:
                between()
    except BaseException:
        job.cancel.set()
        future.cancel()
        raise


def run_quietly(work: Callable[[], T]) -> T:
    """Run ``work()`` on the pool and wait for it without drawing anything; its result.

    For a short slice of work (well under a second once a worker has it) whose page shows its
    own progress between slices; it runs on the lane of slices, not behind heavy jobs. The
    wait checks the session as :func:`run_job` does; a slice already started is not
    interrupted (it ends within its own time limit).
    """
    job, future = submit(lambda report: work(), quick=True)
    return _wait(job, future)


def _bar_state(job: Job, label: str) -> tuple[float, str]:
    """What the bar shows: the fraction to the percent, and its text."""
    text = f"{label}… {job.note}" if job.started else f"{label}: waiting for a worker…"
    return round(job.fraction, 2), text


def run_job(label: str, work: Callable[[Report], T]) -> T:
    """Run ``work(report)`` on the pool and wait for it with a progress bar; its result.

    Exceptions of the work come back here; the wait is :func:`_wait`'s. The bar is redrawn
    only when its percent or text changed, and at most once per ``REDRAW_S``: a page waiting
    in line sends its browser nothing (a bar redrawn four times a second cost its browser
    0.07 CPU-s per second, each redraw a React render; docs/benchmarks.md).
    """
    job, future = submit(work)
    shown = [_bar_state(job, label), time.monotonic()]  # what the bar shows, since when
    bar = st.progress(*shown[0])

    def show() -> None:  # only news, at most once per REDRAW_S: each redraw costs the browser
        state = _bar_state(job, label)
        if state != shown[0] and time.monotonic() - shown[1] >= REDRAW_S:
            shown[:] = state, time.monotonic()
            bar.progress(*state)

    try:
        return _wait(job, future, show)
    finally:
        bar.empty()
