"""Saved runs listing on SQLite while another process writes: write-locked reads vs reading().

    python -m bench.bench_store_reads                 # 5,000 runs, 40 listings per mode
    python -m bench.bench_store_reads --listings 10   # shorter

A writer process inserts 20,000 points per transaction (10 batches built while the
transaction is open), back to back, as an import or a training run's flush does. Meanwhile the Saved runs page's listing (first page of 50 runs with tags,
key metrics and the damage check) is timed, first inside ``Session.begin()`` (``BEGIN
IMMEDIATE``: every read waits for the write lock, as before issue 22), then inside
``store.reading()`` (deferred ``BEGIN``: a WAL snapshot, no lock).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import machine, print_table
from core.helpformat import HelpFormatter
from core.store import (
    RunQuery,
    add_points,
    create_run,
    key_metrics,
    list_runs,
    open_database,
    reading,
    run_problems,
)

N_RUNS = 5_000


def _writer(url: str, stop: mp.Event, ready: mp.Event) -> None:
    factory = open_database(url)
    with factory.begin() as s:
        run_id = create_run(s, kind="training", name="writer").id
    ready.set()
    while not stop.is_set():
        # One transaction of 10 batches, each built while the lock is held (as an import
        # parses run after run, or a recorder flushes several series).
        with factory.begin() as s:
            for batch in range(10):
                points = [(k, 1.0 / (k + batch + 1)) for k in range(2_000)]
                add_points(s, run_id, f"series_{batch}", points)


def _listing(session) -> None:
    page = list_runs(session, RunQuery(limit=50))
    for r in page.runs:
        (r.tag_names, key_metrics(r.summary), run_problems(r.kind, r.config, r.summary))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_store_reads",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--listings", type=int, default=40, help="listings timed per mode")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="glassbox-bench-"))
    url = f"sqlite:///{folder / 'bench.db'}"
    factory = open_database(url)
    for first in range(0, N_RUNS, 500):
        with factory.begin() as s:
            for i in range(first, first + 500):
                create_run(s, kind="pool", name=f"run {i}", status="finished",
                           summary={"slo_attainment": i / N_RUNS}, tags=["bench"])  # fmt: skip
    modes = {"Session.begin() (BEGIN IMMEDIATE)": factory.begin, "reading() (BEGIN)": None}
    rows = []
    for writing in (False, True):
        with sqlite3.connect(folder / "bench.db") as raw:  # both phases start from a small WAL
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        stop, ready = mp.Event(), mp.Event()
        proc = mp.Process(target=_writer, args=(url, stop, ready)) if writing else None
        if proc:
            proc.start()
            ready.wait()
        times: dict[str, list[float]] = {label: [] for label in modes}
        for _ in range(args.listings):  # the two modes alternate under the same load
            for label, opener in modes.items():
                start = time.perf_counter()
                with opener() if opener else reading(factory) as s:
                    _listing(s)
                times[label].append((time.perf_counter() - start) * 1000)
        if proc:
            stop.set()
            proc.join()
        for label, values in times.items():
            values.sort()
            p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
            rows.append([label, "yes" if writing else "no",
                         f"{statistics.median(values):.1f}", f"{p95:.1f}", f"{max(values):.1f}"])  # fmt: skip
    print(machine())
    print_table(
        f"Saved runs listing, {N_RUNS:,} runs, {args.listings} listings of 50 per row",
        ["read transaction", "writer busy", "median ms", "p95 ms", "max ms"],
        rows,
    )


if __name__ == "__main__":
    main()
