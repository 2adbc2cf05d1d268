"""Run-store throughput: writes, point reads, and the Runs page's query at 10,000 runs.

    python -m bench.bench_store                      # SQLite in a temporary folder
    python -m bench.bench_store --postgres URL       # also a PostgreSQL database (wiped!)

Each database gets 10,000 runs with tags and summaries plus 200 points on 100 of them; then
the Runs page's first page, a filtered page, a deep page (offset 9,950), a text search and
the points of one run are timed (median of 5).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from bench.common import median, print_table, timed
from core.helpformat import HelpFormatter
from core.store import (
    Base,
    RunQuery,
    add_points,
    create_run,
    get_points,
    list_runs,
    make_engine,
    open_database,
)

N_RUNS = 10_000
KINDS = ("training", "sampling", "pool", "tokenizer")


def _wipe(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def bench(label: str, url: str) -> list[list[object]]:
    Session = open_database(url)
    start = time.perf_counter()
    batch = 500
    for first in range(0, N_RUNS, batch):
        with Session.begin() as s:
            for i in range(first, first + batch):
                create_run(
                    s,
                    kind=KINDS[i % len(KINDS)],
                    name=f"run {i}",
                    config={"i": i, "lr": 1e-3, "model": {"n_layer": 4}},
                    summary={"val_loss": 1 + (i % 97) / 97, "tokens_per_s": 4000 + i % 500},
                    tags=["even" if i % 2 == 0 else "odd"],
                    status="finished",
                )
    write_runs = time.perf_counter() - start
    start = time.perf_counter()
    with Session.begin() as s:
        for run_id in range(1, 101):
            add_points(s, run_id, "train_loss", [(k, 1.0 / (k + 1)) for k in range(200)])
    write_points = time.perf_counter() - start

    def query(q: RunQuery):
        def go():
            with Session.begin() as s:
                page = list_runs(s, q)
                [r.tag_names for r in page.runs]

        return median(timed(go)) * 1000

    def points():
        with Session.begin() as s:
            get_points(s, 50)

    rows = [
        [label, "insert 10,000 runs (with tags)", f"{N_RUNS / write_runs:,.0f} runs/s"],
        [label, "insert 20,000 points", f"{20_000 / write_points:,.0f} points/s"],
        [label, "Runs page: first 50, newest first", f"{query(RunQuery()):.1f} ms"],
        [
            label,
            "Runs page: kind + tag filter",
            f"{query(RunQuery(kinds=('pool',), tag='even')):.1f} ms",
        ],
        [label, "Runs page: offset 9,950", f"{query(RunQuery(offset=9950)):.1f} ms"],
        [label, "Runs page: text search", f"{query(RunQuery(text='run 99')):.1f} ms"],
        [label, "read 200 points of one run", f"{median(timed(points)) * 1000:.1f} ms"],
    ]
    Session.kw["bind"].dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_store", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("--postgres", help="PostgreSQL SQLAlchemy URL (its tables are wiped)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += bench("SQLite (WAL)", f"sqlite:///{Path(tmp) / 'bench.db'}")
    if args.postgres:
        _wipe(args.postgres)
        rows += bench("PostgreSQL 15", args.postgres)
        _wipe(args.postgres)
    print_table("Run store at 10,000 runs", ["database", "operation", "result"], rows)


if __name__ == "__main__":
    main()
