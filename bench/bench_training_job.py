"""Training-job benchmark: tokens/s of a job from the job manager vs the command line.

The same small run (the built-in corpus and BPE, 2 layers, width 128, 4 heads, context 128,
batch 8) is trained three ways (four with ``--ray``), alternating, in a throwaway ``GLASSBOX_HOME``:

* **cli** — ``python -m core.training ...`` as a plain subprocess (the reference);
* **job** — the same flags submitted to ``core.training.jobs.JobManager`` (a worker
  process at ``--nice``, default the manager's 5, whose recorder writes points every 2 s),
  as the Training page does;
* **job + page** — the same job while a reader calls ``core.training.page.live_view``
  every ``--watch-s`` seconds, as an open Training page's live fragment does;
* **job on Ray** (with ``--ray HOST:PORT``) — the same job through a manager whose executor
  is that Ray cluster (a task reserving ``--ray-cpus`` CPUs, hence that many torch threads),
  as with ``GLASSBOX_RAY_ADDRESS``.

Tokens/s is the run's own ``summary.tokens_per_s`` (training steps only: start-up and
evaluation excluded, the same clock for all of them). Goals (issue 17): job ≥ 90% of cli;
a watching page costs the job ≤ 5%. Medians over ``--rounds`` (run in alternating order). On a machine busy with
other work, a worker at ``nice 5`` gets less CPU than the command line at 0: ``--nice 0``
measures the job path alone.

    python -m bench.bench_training_job
    python -m bench.bench_training_job --steps 100 --rounds 1 --nice 0
    ray start --head --port 6390 --num-cpus 2 && python -m bench.bench_training_job --ray 127.0.0.1:6390
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench.common import print_table
from core.cluster import ClusterUnavailable
from core.helpformat import HelpFormatter
from core.store import open_database, require_run
from core.training.builtin import TOKENIZER_FILE
from core.training.executors import RayExecutor
from core.training.jobs import JobManager, JobSpec
from core.training.page import live_view


def job_args(steps: int, name: str) -> tuple[str, ...]:
    return (
        "--corpus", "builtin", "--tokenizer", str(TOKENIZER_FILE), "--n-layer", "2",
        "--n-head", "4", "--n-embd", "128", "--context-length", "128", "--batch-size", "8",
        "--steps", str(steps), "--warmup-steps", "10", "--eval-every", str(steps),
        "--eval-windows", "4", "--sample-every", "0", "--checkpoint-every", str(steps),
        "--dropout", "0.0", "--log-every", str(steps), "--name", name,
    )  # fmt: skip


def rate_of(factory, run_id: int) -> float:
    with factory() as session:
        run = require_run(session, run_id)
        return float(run.summary["tokens_per_s"])


def cli_rate(factory, steps: int, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "core.training", *job_args(steps, "bench-cli")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    run_id = int(next(ln for ln in out.splitlines() if ln.startswith("run ")).split()[1][:-1])
    return rate_of(factory, run_id)


def job_rate(manager: JobManager, factory, steps: int, watch_s: float | None) -> float:
    job, _ = manager.submit(JobSpec(job_args(steps, "bench-job"), "bench"))
    stop = threading.Event()

    def watch() -> None:  # what an open page's live fragment does
        while not stop.wait(watch_s):
            run_id = manager.get(job.id).run_id
            if run_id is not None:
                with factory() as session:
                    live_view(session, run_id)

    reader = threading.Thread(target=watch, daemon=True) if watch_s else None
    if reader:
        reader.start()
    done = manager.wait(job.id, timeout=3600)
    stop.set()
    if done.returncode != 0:
        raise SystemExit(f"the job failed:\n{done.log_tail}")
    return rate_of(factory, done.run_id)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_training_job",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--steps", type=int, default=200, help="training steps per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each way, alternating")
    parser.add_argument(
        "--watch-s", type=float, default=2.0, help="seconds between the page's live reads"
    )
    parser.add_argument(
        "--nice", type=int, default=5, help="CPU priority offset of the job workers (0 to 19)"
    )
    parser.add_argument(
        "--ray", metavar="HOST:PORT", help="also run the job on this Ray cluster ('job on Ray')"
    )
    parser.add_argument(
        "--ray-cpus", type=int, default=os.cpu_count() or 1, help="CPUs a Ray job reserves"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "GLASSBOX_HOME": home,
            "GLASSBOX_DATABASE_URL": f"sqlite:///{Path(home) / 'glassbox.db'}",
        }
        os.environ.update({k: env[k] for k in ("GLASSBOX_HOME", "GLASSBOX_DATABASE_URL")})
        factory = open_database()
        manager = JobManager(factory, env=env, background=False, nice=args.nice)
        ways = {
            "cli": lambda: cli_rate(factory, args.steps, env),
            "job": lambda: job_rate(manager, factory, args.steps, None),
            "job + page": lambda: job_rate(manager, factory, args.steps, args.watch_s),
        }
        if args.ray:
            try:
                executor = RayExecutor(args.ray, cpus=args.ray_cpus)
            except ClusterUnavailable as exc:
                print(f"bench_training_job: {exc}", file=sys.stderr)
                raise SystemExit(2) from None
            on_ray = JobManager(
                factory, env=env, background=False, nice=args.nice, executor=executor
            )
            ways["job on Ray"] = lambda: job_rate(on_ray, factory, args.steps, None)
        rates: dict[str, list[float]] = {way: [] for way in ways}
        for round_ in range(args.rounds):  # the order alternates: drifts in load even out
            for way in list(ways)[:: 1 if round_ % 2 == 0 else -1]:
                rates[way].append(ways[way]())
        manager.shutdown()
        if args.ray:
            on_ray.shutdown()
    cli = statistics.median(rates["cli"])
    rows = []
    for way, values in rates.items():
        rate = statistics.median(values)
        rows.append([way, rate, f"{rate / cli:.0%}", " ".join(f"{v:,.0f}" for v in values)])
    print_table(
        f"Training job vs command line ({args.steps} steps, 2x128, context 128, batch 8, "
        f"workers at nice {args.nice})",
        ["way", "tokens/s (median)", "of cli", "each round"],
        rows,
    )


if __name__ == "__main__":
    main()
