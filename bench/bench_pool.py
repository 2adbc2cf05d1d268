"""Benchmark of the GPU-pool simulator: simulated requests per wall-clock second, per policy.

Workload: 40 models × 0.1 req/s for one hour (≈ 14,400 requests), 16 H100s, the paper's
defaults. Goal ≥ 20,000 req/s for Aegaeon (the artifact's SimPy simulator: 6–45 req/s).
Also times a 12-point rate sweep (40 models, 120 s of arrivals, 0.05–0.7 req/s per model)
in worker processes — goal < 10 s — and reports the goodput it finds.

    python bench/bench_pool.py [--repeat 3] [--processes 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from core.helpformat import HelpFormatter
from core.pool import PolicyName, PoolConfig, SimConfig, Simulation, WorkloadConfig
from core.pool.runner import goodput_from_points, sweep


def bench_policy(
    policy: PolicyName, repeat: int, record: bool
) -> tuple[int, float, float, float, int]:
    """(requests, best wall s, best CPU s, attainment, events) for one policy, 1-hour trace.

    CPU seconds (this process) are reported too: on a shared machine the wall clock also
    counts time other processes held the cores.
    """
    cfg = SimConfig(
        policy=policy,
        workload=WorkloadConfig(num_models=40, rate_per_model=0.1, duration_s=3600.0),
        pool=PoolConfig(gpu="H100", num_gpus=16),
        record_events=record,
    )
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        sim = Simulation(cfg, np.random.default_rng(0))
        start, cpu = time.perf_counter(), time.process_time()
        res = sim.run()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return res.num_requests, best, best_cpu, res.attainment, res.events


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_pool", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per policy")
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 1, help="sweep worker processes"
    )
    args = parser.parse_args()

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| policy | events log | requests | events | wall s | req/wall-s | CPU s | req/CPU-s "
          "| attainment |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for policy in PolicyName:
        for record in (False, True) if policy is PolicyName.AEGAEON else (False,):
            n, wall, cpu, att, events = bench_policy(policy, args.repeat, record)
            print(f"| {policy.value} | {'on' if record else 'off'} | {n:,} | {events:,} | "
                  f"{wall:.2f} | {n / wall:,.0f} | {cpu:.2f} | {n / cpu:,.0f} | {att:.3f} |")  # fmt: skip

    base = SimConfig(
        workload=WorkloadConfig(num_models=40, duration_s=120.0),
        pool=PoolConfig(gpu="H100", num_gpus=16),
        record_events=False,
    )
    rates = list(np.linspace(0.05, 0.7, 12))
    start = time.perf_counter()
    pts = sweep(base, rates, [PolicyName.AEGAEON], processes=args.processes)
    wall = time.perf_counter() - start
    total = sum(p.result.num_requests for p in pts)
    print(f"\n12-point Aegaeon sweep (40 models, 120 s, 0.05–0.7 req/s/model, "
          f"{args.processes} processes): {wall:.1f} s wall for {total:,} requests; "
          f"goodput {goodput_from_points(pts):.3f} req/s per model")  # fmt: skip


if __name__ == "__main__":
    main()
