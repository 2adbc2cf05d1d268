"""ui/jobs.py: heavy actions run on a bounded shared pool, report progress, stop when cancelled."""

from __future__ import annotations

import threading
from itertools import pairwise

import pytest

from ui import jobs
from ui.work import SessionGone


def test_a_job_returns_its_result_and_its_errors():
    seen: list[float] = []

    def work(report):
        for k in range(3):
            report(k / 2, f"step {k}")
            seen.append(k / 2)
        return "done"

    assert jobs.run_job("Working", work) == "done"
    assert seen == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="bad input"):
        jobs.run_job("Working", lambda report: (_ for _ in ()).throw(ValueError("bad input")))


def test_at_most_max_workers_jobs_run_at_once_and_the_rest_wait_in_line():
    gate = threading.Event()
    started = [threading.Event() for _ in range(jobs.MAX_WORKERS + 1)]

    def blocked(i: int):
        def work(report):
            started[i].set()
            assert gate.wait(30)
            return i

        return work

    submitted = [jobs.submit(blocked(i)) for i in range(len(started))]
    try:
        assert all(started[i].wait(30) for i in range(jobs.MAX_WORKERS))
        waiting, _ = submitted[-1]
        assert not waiting.started  # every worker is busy: the last job waits its turn
    finally:
        gate.set()
    assert [future.result(timeout=30) for _, future in submitted] == list(range(len(started)))


def test_a_job_whose_session_has_gone_is_cancelled_at_its_next_report(monkeypatch):
    monkeypatch.setattr(jobs, "session_alive", lambda: False)
    stopped = threading.Event()

    def work(report):
        try:
            while True:
                report(0.5)
        except jobs.Cancelled:
            stopped.set()
            raise

    with pytest.raises(SessionGone):
        jobs.run_job("Working", work)
    assert stopped.wait(30)  # the worker was freed, not left computing for nobody


def test_a_job_cancelled_before_it_starts_never_runs():
    gate = threading.Event()
    ran = threading.Event()
    busy = [jobs.submit(lambda report: gate.wait(30)) for _ in range(jobs.MAX_WORKERS)]
    job, future = jobs.submit(lambda report: ran.set())
    job.cancel.set()
    gate.set()
    for _, f in busy:
        f.result(timeout=30)
    with pytest.raises(jobs.Cancelled):
        future.result(timeout=30)
    assert not ran.is_set()


def test_run_quietly_runs_on_the_lane_of_slices_and_returns_its_result_and_errors():
    threads: list[str] = []

    def work():
        threads.append(threading.current_thread().name)
        return [1, 2, 3]

    assert jobs.run_quietly(work) == [1, 2, 3]
    assert threads[0].startswith("glassbox-slice")  # a worker, not the script's thread
    with pytest.raises(ValueError, match="bad input"):
        jobs.run_quietly(lambda: (_ for _ in ()).throw(ValueError("bad input")))


def test_a_slice_does_not_wait_behind_heavy_jobs():
    gate = threading.Event()
    busy = [jobs.submit(lambda report: gate.wait(30)) for _ in range(jobs.MAX_WORKERS + 1)]
    try:  # every heavy worker busy and one more in line: the slice still runs now
        assert jobs.run_quietly(lambda: "slice") == "slice"
        assert not busy[-1][0].started
    finally:
        gate.set()
    for _, f in busy:
        f.result(timeout=30)


def test_run_quietly_waits_in_line_and_a_gone_session_never_runs_it(monkeypatch):
    gate = threading.Event()
    ran = threading.Event()
    busy = [jobs.submit(lambda report: gate.wait(30), quick=True)
            for _ in range(jobs.QUICK_WORKERS)]  # fmt: skip
    monkeypatch.setattr(jobs, "session_alive", lambda: False)
    try:
        with pytest.raises(SessionGone):
            jobs.run_quietly(ran.set)  # the lane is busy: it waits, then its session goes
    finally:
        gate.set()
    for _, f in busy:
        f.result(timeout=30)
    monkeypatch.setattr(jobs, "session_alive", lambda: True)
    assert jobs.run_quietly(lambda: "next") == "next"  # the line moved on past it
    assert not ran.is_set()


def _recorded_bar(monkeypatch) -> list[tuple[float, str]]:
    """Every draw of run_job's bar (st.progress, then its .progress), as (fraction, text)."""
    calls: list[tuple[float, str]] = []

    class Bar:
        def progress(self, fraction, text=""):
            calls.append((fraction, text))

        def empty(self):
            pass

    def progress(fraction, text=""):  # st.progress: the first draw
        calls.append((fraction, text))
        return Bar()

    monkeypatch.setattr(jobs.st, "progress", progress)
    return calls


def test_the_bar_is_redrawn_only_when_what_it_shows_changes(monkeypatch):
    """A job waiting in line (or working without news) sends the browser no redraws."""
    calls = _recorded_bar(monkeypatch)
    polls = []
    enough = threading.Event()

    def alive() -> bool:  # called once per poll of the waiting page
        polls.append(1)
        if len(polls) >= 8:
            enough.set()
        return True

    monkeypatch.setattr(jobs, "session_alive", alive)
    monkeypatch.setattr(jobs, "POLL_S", 0.001)
    monkeypatch.setattr(jobs, "REDRAW_S", 0.0)  # every change is drawn (throttle: below)

    def work(report):
        report(0.5, "half")
        assert enough.wait(30)  # the page polled eight times with nothing new to show
        return "done"

    assert jobs.run_job("Working", work) == "done"
    assert len(polls) >= 8
    assert calls[0] == (0.0, "Working: waiting for a worker…")
    assert calls[-1] == (0.5, "Working… half")
    assert len(calls) <= 3  # at most: the first draw, "started", "half"
    assert all(a != b for a, b in pairwise(calls))  # never the same thing twice


def test_the_bar_is_redrawn_at_most_once_per_redraw_interval(monkeypatch):
    calls = _recorded_bar(monkeypatch)
    monkeypatch.setattr(jobs, "POLL_S", 0.001)
    monkeypatch.setattr(jobs, "REDRAW_S", 3600.0)
    polls = []
    enough = threading.Event()

    def alive() -> bool:
        polls.append(1)
        if len(polls) >= 8:
            enough.set()
        return True

    monkeypatch.setattr(jobs, "session_alive", alive)

    def work(report):
        for k in range(1, 5):
            report(k / 4, f"part {k}")
        assert enough.wait(30)
        return "done"

    assert jobs.run_job("Working", work) == "done"
    assert calls == [(0.0, "Working: waiting for a worker…")]  # news, but within the hour
