"""Batch API: one run, parallel sweeps over load, goodput by bisection, GPUs needed, run cost.

``sweep`` fans configurations out to worker processes (spawned, so it is safe inside a
threaded Streamlit server), or to a Ray cluster when given its address (one task per point;
``GLASSBOX_RAY_ADDRESS`` for the page and the command line), and reports each finished
point to a progress callback.
``goodput`` is the paper's headline metric (§6): the highest per-model arrival rate whose
SLO attainment stays ≥ 90%, found by bracketing then k-section search (k = workers, so each
round evaluates k rates in parallel). ``gpus_needed`` bisects the pool size for a target.
``estimate_cost`` predicts how big a run is, so a live view can refuse runs too large.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace

import numpy as np

from core.cluster import ClusterUnavailable, connect, probe, runtime_env
from core.pool.config import ConfigError, PolicyName, SimConfig
from core.pool.engine import Simulation
from core.pool.results import SimResult
from core.pool.validation import validate_config
from core.pool.workload import Trace, rate_shape

Progress = Callable[[int, int, "SweepPoint"], None]  # (done, total, point just finished)

# Conservative simulated requests per wall-clock second on a 2-core laptop-class CPU.
_SPEED = {
    PolicyName.AEGAEON: 8_000.0,
    PolicyName.REQUEST_FCFS: 8_000.0,
    PolicyName.REQUEST_SRTF: 6_000.0,
    PolicyName.SERVERLESSLLM: 6_000.0,
    PolicyName.STATIC: 20_000.0,
    PolicyName.DEDICATED: 20_000.0,
}


@dataclass(frozen=True)
class SweepPoint:
    """One configuration of a sweep and what it measured."""

    policy: PolicyName  # which scheduler
    rate_per_model: float  # per-model arrival rate (req/s)
    total_rate: float  # all models together (req/s)
    num_gpus: int  # pool size
    result: SimResult  # the full measurement


@dataclass(frozen=True)
class GoodputResult:
    """Highest load at which attainment ≥ target, and every point tried on the way."""

    policy: PolicyName
    target: float  # attainment threshold (0.9 in the paper)
    rate_per_model: float  # goodput, per model (req/s); 0 if even the lowest rate fails
    total_rate: float  # goodput, all models (req/s)
    points: tuple[SweepPoint, ...]  # evaluations, sorted by rate


@dataclass(frozen=True)
class CostEstimate:
    """Predicted size of a run (before running it)."""

    requests: int  # expected number of requests
    wall_s: float  # expected wall-clock seconds to simulate
    live_ok: bool  # small enough to animate in a page
    reason: str  # why not, when live_ok is False


def run(
    config: SimConfig, rng: np.random.Generator | None = None, trace: Trace | None = None
) -> SimResult:
    """Simulate ``config`` to the end and return its measurements."""
    return Simulation(config, rng, trace).run()


def run_in_steps(
    config: SimConfig,
    trace: Trace | None = None,
    steps: int = 40,
    between: Callable[[float], object] | None = None,
) -> SimResult:
    """``run(config, trace=trace)`` in ``steps`` slices of simulated time, calling
    ``between(fraction done)`` after each: a page shows progress there, and stops a run
    whose viewer has gone by raising (the exception propagates; nothing is returned).
    Same measurements as :func:`run` (only the wall time differs)."""
    sim = Simulation(config, None, trace)
    last_arrival = float(sim.trace.arrival_s[-1])  # slices cover the arrivals; run() drains
    for k in range(1, steps):
        if sim.done:
            break
        sim.advance(last_arrival * k / steps)
        if between is not None:
            between(k / steps)
    return sim.run()


def _point(args: tuple[SimConfig, Trace | None]) -> SweepPoint:
    cfg, trace = args
    res = Simulation(cfg, None, trace).run()
    return SweepPoint(cfg.policy, cfg.workload.rate_per_model, cfg.workload.total_rate,
                      cfg.pool.num_gpus, res)  # fmt: skip


@contextlib.contextmanager
def _plain_main() -> Iterator[None]:
    """Start spawned workers without re-running the caller's ``__main__``.

    ``spawn`` re-imports the parent's main module in each worker; under Streamlit that is
    the page script (which would start the sweep again), in a plain script it needs an
    ``if __name__ == "__main__"`` guard. Workers only need ``core.pool``, so while they
    start ``__main__`` is a bare module.
    """
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


_RAY_WAIT_S = 5.0  # a sweep on Ray checks its head this often while no point finishes


def _point_task(cfg: SimConfig, trace: Trace | None) -> SweepPoint:
    return _point((cfg, trace))


def _run_on_ray(
    jobs: list[tuple[SimConfig, Trace | None]], address: str, progress: Progress | None
) -> list[SweepPoint]:
    """Each point as a Ray task (1 CPU); Ray queues what the cluster cannot run at once.
    Points not yet finished when ``progress`` raises (the page's viewer left) are cancelled."""
    import ray

    connect(address)  # ClusterUnavailable when the head does not answer
    task = ray.remote(_point_task).options(num_cpus=1, runtime_env=runtime_env())
    trace_ref = ray.put(jobs[0][1])  # one copy of an uploaded trace for every task
    refs = {task.remote(cfg, trace_ref): i for i, (cfg, _) in enumerate(jobs)}
    out: list[SweepPoint | None] = [None] * len(jobs)
    pending = list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=_RAY_WAIT_S)
            if not ready:
                probe(address)  # nothing finished for a while: is the head still there?
            for ref in ready:
                i = refs[ref]
                out[i] = ray.get(ref)
                if progress:
                    progress(sum(p is not None for p in out), len(jobs), out[i])
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)  # a simulation holds no state worth saving
    return out  # type: ignore[return-value]


def run_many(
    configs: Sequence[SimConfig],
    processes: int | None = None,
    progress: Progress | None = None,
    trace: Trace | None = None,
    ray_address: str | None = None,
) -> list[SweepPoint]:
    """Run configs (in worker processes when ``processes`` > 1, or as tasks on the Ray
    cluster at ``ray_address``); results in input order. Same results either way.
    Raises ``core.cluster.ClusterUnavailable`` when the cluster does not answer."""
    for cfg in configs:
        validate_config(cfg)
    jobs = [(replace(c, record_events=False), trace) for c in configs]
    if ray_address and jobs:
        return _run_on_ray(jobs, ray_address, progress)
    workers = min(len(jobs), processes if processes is not None else (os.cpu_count() or 1))
    out: list[SweepPoint | None] = [None] * len(jobs)
    if workers <= 1:
        for i, job in enumerate(jobs):
            out[i] = _point(job)
            if progress:
                progress(i + 1, len(jobs), out[i])
        return out  # type: ignore[return-value]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        with _plain_main():  # workers start during submit
            futures = {pool.submit(_point, job): i for i, job in enumerate(jobs)}
        for n_done, fut in enumerate(as_completed(futures), start=1):
            i = futures[fut]
            out[i] = fut.result()
            if progress:
                progress(n_done, len(jobs), out[i])
    return out  # type: ignore[return-value]


def run_many_anywhere(
    configs: Sequence[SimConfig],
    processes: int | None = None,
    progress: Progress | None = None,
    ray_address: str | None = None,
) -> tuple[list[SweepPoint], str | None]:
    """:func:`run_many` on the Ray cluster at ``ray_address`` when it answers, else on this
    machine; (points, why they ran here although a cluster was named, or None)."""
    if ray_address:
        try:
            return run_many(configs, processes, progress, ray_address=ray_address), None
        except ClusterUnavailable as exc:
            notice = f"{exc}; swept on this server instead"
            return run_many(configs, processes, progress), notice
    return run_many(configs, processes, progress), None


def sweep(
    config: SimConfig,
    rates: Sequence[float],
    policies: Sequence[PolicyName] | None = None,
    processes: int | None = None,
    progress: Progress | None = None,
    ray_address: str | None = None,
) -> list[SweepPoint]:
    """Attainment (and everything else) at each per-model rate, for each policy (on the
    Ray cluster at ``ray_address`` when given)."""
    if not rates:
        raise ConfigError("a sweep needs at least one rate")
    pols = list(policies) if policies else [config.policy]
    configs = [config.with_rate(float(r)).replace(policy=p) for p in pols for r in rates]
    return run_many(configs, processes, progress, ray_address=ray_address)


def crossing(xs: Sequence[float], ys: Sequence[float], target: float = 0.9) -> float:
    """Highest x whose y ≥ ``target`` with every lower x passing too, linearly interpolated
    to the crossing with the next point; 0 if the lowest x fails.
    ``crossing([1, 2, 3], [1, .95, .85])`` -> 2.5.

    A NaN y (nothing measured there, e.g. no request finished) fails, and the line is not
    drawn towards it: the answer is then the last passing x itself.
    """
    pts = sorted(zip(xs, ys, strict=True))
    best = 0.0
    for i, (x, y) in enumerate(pts):
        if not y >= target:  # NaN fails
            if i > 0 and not math.isnan(y):
                xa, ya = pts[i - 1]
                best = xa + (x - xa) * (ya - target) / (ya - y)
            return best
        best = x
    return best


def goodput_from_points(points: Sequence[SweepPoint], target: float = 0.9) -> float:
    """``crossing`` of a rate sweep: the per-model rate at which attainment falls below
    ``target`` (the paper's goodput), from the points already simulated."""
    return crossing(
        [p.rate_per_model for p in points], [p.result.attainment for p in points], target
    )


def goodput(
    config: SimConfig,
    target: float = 0.9,
    rel_tol: float = 0.05,
    processes: int | None = None,
    progress: Progress | None = None,
    max_rounds: int = 10,
) -> GoodputResult:
    """Highest per-model rate with attainment ≥ ``target`` for ``config.policy``."""
    k = max(1, processes if processes is not None else (os.cpu_count() or 1))
    tried: dict[float, SweepPoint] = {}

    def evaluate(rates: list[float]) -> None:
        new = [r for r in rates if r not in tried]
        for p in run_many([config.with_rate(r) for r in new], k, progress):
            tried[p.rate_per_model] = p

    def ok(rate: float) -> bool:
        return tried[rate].result.attainment >= target

    def bracket() -> tuple[float | None, float | None]:
        hi = min((r for r in tried if not ok(r)), default=None)
        lo = max((r for r in tried if ok(r) and (hi is None or r < hi)), default=None)
        return lo, hi

    evaluate([config.workload.rate_per_model])
    for _ in range(max_rounds):  # bracket the crossing: lo passes, hi fails
        lo, hi = bracket()
        if lo is not None and hi is not None:
            break
        if hi is None:
            evaluate([max(tried) * 2.0 ** (i + 1) for i in range(k)])
        else:
            evaluate([min(tried) / 2.0 ** (i + 1) for i in range(k)])
    lo, hi = bracket()
    for _ in range(max_rounds):  # k-section search inside the bracket
        if lo is None or hi is None or hi - lo <= rel_tol * lo:
            break
        evaluate([lo + (hi - lo) * (i + 1) / (k + 1) for i in range(k)])
        lo, hi = bracket()
    found = lo if lo is not None else 0.0
    pts = tuple(sorted(tried.values(), key=lambda p: p.rate_per_model))
    return GoodputResult(config.policy, target, found, found * config.workload.num_models, pts)


def gpus_needed(
    config: SimConfig,
    target: float = 0.9,
    max_gpus: int | None = None,
    processes: int | None = None,
) -> int:
    """Smallest pool size with attainment ≥ target (dedicated: one per model). Raises
    ConfigError when even ``max_gpus`` (default: 2 × models) is not enough."""
    if config.policy is PolicyName.DEDICATED:
        return config.workload.num_models
    lo = 2 if config.policy is PolicyName.AEGAEON else 1
    hi = max_gpus or max(lo, 2 * config.workload.num_models)
    k = max(1, processes if processes is not None else (os.cpu_count() or 1))
    results: dict[int, float] = {}

    def evaluate(sizes: list[int]) -> None:
        sizes = [s for s in sizes if s not in results]
        cfgs = [replace(config, pool=replace(config.pool, num_gpus=s)) for s in sizes]
        for p in run_many(cfgs, k):
            results[p.num_gpus] = p.result.attainment

    evaluate([hi])
    if results[hi] < target:
        raise ConfigError(f"even {hi} GPUs reach only {results[hi]:.2f} attainment (< {target})")
    while hi - lo > 0:
        probes = sorted({lo + (hi - lo) * (i + 1) // (k + 1) for i in range(k)} - {hi})
        if not probes:
            probes = [lo]
        evaluate(probes)
        passing = [s for s in results if results[s] >= target and lo <= s <= hi]
        hi = min(passing)
        failing = [s for s in results if results[s] < target and s < hi]
        lo = max(lo, max(failing) + 1) if failing else lo
        if lo in results and results[lo] >= target:
            hi = lo
    return hi


def estimate_cost(
    config: SimConfig, live_max_requests: int = 20_000, trace: Trace | None = None
) -> CostEstimate:
    """Expected requests and wall time of ``config`` (or of replaying ``trace``);
    ``live_ok`` is False above ``live_max_requests``."""
    validate_config(config)
    if trace is not None:
        requests = len(trace)
    else:
        wl = config.workload
        grid = np.linspace(0.0, wl.duration_s, 2001)
        mean_shape = float(np.mean(rate_shape(wl, grid)))
        requests = int(math.ceil(wl.total_rate * wl.duration_s * mean_shape))
    wall = requests / _SPEED[config.policy]
    ok = requests <= live_max_requests
    reason = "" if ok else (
        f"about {requests:,} requests: more than the {live_max_requests:,} a live view animates;"
        " shorten the duration, lower the rate, or use a batch run"
    )  # fmt: skip
    return CostEstimate(requests, wall, ok, reason)
