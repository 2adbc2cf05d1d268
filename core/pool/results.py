"""What one simulation measured: SLO attainment, latency distributions, GPU use, E[m].

Metrics follow the Aegaeon paper (§6) and its artifact: the time-fraction SLO attainment
(mean over requests; a request never served scores 0) next to the strict share of requests
whose every token met its original deadline; TTFT and TBT percentiles with CDF points; GPU
time split into prefill/decode (busy), switching and idle; model switches and models served
per GPU; Little's-law quantities (time-average requests in system, arrival rate, mean
sojourn); and active models over time against Theorem 3.1's E[m] = Σ_i (1 − e^(−λ_i·T)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.pool.config import SimConfig
from core.pool.gpu import GPU
from core.pool.ledger import Ledger
from core.pool.workload import Trace


@dataclass
class SimResult:
    """Summary of one run (``summary()`` gives the flat scalars stored with the run)."""

    policy: str  # PolicyName value
    num_requests: int  # requests in the trace
    finished: int  # requests that produced every token before the drain limit
    gpus_used: int  # GPUs the policy occupied
    end_time_s: float  # simulated time of the last event
    attainment: float  # mean per-request time-fraction SLO attainment
    attainment_time_weighted: float  # Σ on-schedule time / Σ service time
    strict_attainment: float  # share of requests with every token on its original deadline
    ttft_p50_s: float
    ttft_p90_s: float
    ttft_p99_s: float
    tbt_p50_s: float
    tbt_p90_s: float
    tbt_p99_s: float
    tbt_mean_s: float
    busy_fraction: float  # prefill + decode time / (GPUs × end time)
    prefill_fraction: float
    decode_fraction: float
    switching_fraction: float
    idle_fraction: float
    switches: int  # model loads, all GPUs
    models_per_gpu: float  # mean distinct models served by a GPU that served any
    max_models_per_gpu: int
    peak_concurrent_models_per_gpu: int  # most models with work on one GPU at one time
    mean_in_system: float  # time-average requests in the system (Little's L)
    arrival_rate_rps: float  # requests / arrival window (Little's λ)
    mean_sojourn_s: float  # mean arrival→last-token time of finished requests (Little's W)
    mean_active_models: float  # time-average models with ≥ 1 request in the system
    expected_active_models: float  # Theorem 3.1 with the measured rates and sojourn
    wall_s: float  # wall-clock seconds spent simulating
    requests_per_wall_s: float  # simulation speed
    events: int  # events processed
    failed: int = 0  # requests dropped before a first token (ServerlessLLM's timeout); score 0
    ttft_cdf: list[tuple[float, float]] = field(default_factory=list)  # (seconds, fraction ≤)
    tbt_cdf: list[tuple[float, float]] = field(default_factory=list)  # (seconds, fraction ≤)
    attainment_over_time: list[tuple[float, float]] = field(default_factory=list)  # (t, att.)
    active_models_over_time: list[tuple[float, float]] = field(default_factory=list)  # (t, m)
    per_gpu: list[dict[str, Any]] = field(default_factory=list)  # role, phase seconds, switches

    def summary(self) -> dict[str, float]:
        """Flat scalar metrics (snake_case, unit suffixes) for the run store."""
        skip = {"policy", "ttft_cdf", "tbt_cdf", "attainment_over_time",
                "active_models_over_time", "per_gpu"}  # fmt: skip
        out = {k: v for k, v in asdict(self).items() if k not in skip}
        out["slo_attainment"] = self.attainment
        return {k: (float(v) if v is not None else math.nan) for k, v in out.items()}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunState:
    """What ``summarize`` reads of a simulation (``Simulation.state()`` builds it)."""

    config: SimConfig
    trace: Trace
    ledger: Ledger
    gpus: Sequence[GPU]  # the policy's GPUs, with their phase totals and switches
    gpus_used: int  # GPUs the policy occupied
    arrived: int  # requests that have arrived (the first ``arrived`` of the trace)
    now: float  # simulated time reached
    last_event_time: float  # time of the last event processed
    done: bool  # nothing left to simulate
    wall_s: float  # wall-clock seconds spent simulating
    events: int  # events processed


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Quantiles (qs in [0, 1]) of a weighted sample; nan when empty."""
    if values.size == 0 or weights.sum() <= 0:
        return np.full(len(qs), math.nan)
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order].astype(float)
    cum = np.cumsum(w) / w.sum()
    idx = np.minimum(np.searchsorted(cum, qs, side="left"), len(v) - 1)
    return v[idx]


def step_integral(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """∫₀^x f for a right-continuous step function f(t) = values[k] on [times[k], times[k+1])."""
    seg = np.diff(times, append=times[-1]) * values
    cum = np.r_[0.0, np.cumsum(seg)[:-1]]
    k = np.clip(np.searchsorted(times, at, side="right") - 1, 0, len(times) - 1)
    return cum[k] + values[k] * (at - times[k])


def summarize(sim: RunState) -> SimResult:
    """The metrics of a run so far (all of them once ``sim.done``)."""
    led, trace, cfg = sim.ledger, sim.trace, sim.config
    n = sim.arrived
    if n == 0:
        return _empty(sim)
    arrival = trace.arrival_s[:n]
    if sim.done:
        end = max(sim.last_event_time, float(arrival[-1]))
        window = max(float(arrival[-1]), 1e-9)
    else:  # a live run part-way: measure up to the current time
        end = window = max(sim.now, 1e-9)
    out = np.asarray(led.output[:n])
    done = np.asarray(led.done[:n])
    finished = done >= out
    att = np.array([led.attainment(r, end, sim.done) for r in range(n)])
    failed_at = np.asarray(led.failed_at[:n])
    stop = np.where(np.isnan(failed_at), end, failed_at)  # a dropped request's span ends there
    spans = np.where(finished, np.asarray(led.finish[:n]) - arrival, stop - arrival)
    on = np.asarray(led.on[:n])
    first = np.asarray(led.first[:n])
    ttft = (first - arrival)[~np.isnan(first)]
    tbt_v, tbt_w = np.asarray(led.tbt_values), np.asarray(led.tbt_weights, dtype=float)
    qs = np.array([0.5, 0.9, 0.99])
    tt = np.quantile(ttft, qs) if ttft.size else np.full(3, math.nan)
    tb = weighted_quantiles(tbt_v, tbt_w, qs)
    grid = np.linspace(0, 1, 101)
    ttft_cdf = (
        list(zip(np.quantile(ttft, grid).tolist(), grid.tolist(), strict=True)) if ttft.size else []
    )
    tbt_cdf = (
        list(zip(weighted_quantiles(tbt_v, tbt_w, grid).tolist(), grid.tolist(), strict=True))
        if tbt_v.size
        else []
    )

    gpus = sim.gpus
    phases = np.array([g.totals(end) for g in gpus]).reshape(
        -1, 4
    )  # (G, 4) idle/prefill/decode/switch
    total = max(end * len(gpus), 1e-12)
    frac = phases.sum(axis=0) / total
    served = [len(g.served) for g in gpus if g.served]

    sojourn = (np.asarray(led.finish[:n]) - arrival)[finished]
    mean_sojourn = float(sojourn.mean()) if sojourn.size else math.nan
    counts = np.bincount(trace.model[:n], minlength=trace.num_models)
    rates = counts / window
    expected = float(np.sum(1.0 - np.exp(-rates * mean_sojourn))) if sojourn.size else math.nan
    changes = np.asarray(led.active_changes, dtype=float)
    edges = np.linspace(0.0, end, cfg.time_bins + 1)
    area = step_integral(changes[:, 0], changes[:, 1], edges)
    widths = np.diff(edges)
    active_t = np.divide(np.diff(area), widths, out=np.zeros_like(widths), where=widths > 0)
    mean_active = float(step_integral(changes[:, 0], changes[:, 1], np.array([window]))[0] / window)
    a_edges = np.linspace(0.0, window, cfg.time_bins + 1)
    b = np.clip(np.searchsorted(a_edges, arrival, side="right") - 1, 0, cfg.time_bins - 1)
    b_count = np.bincount(b, minlength=cfg.time_bins)
    b_att = np.bincount(b, weights=att, minlength=cfg.time_bins)
    centers = (a_edges[:-1] + a_edges[1:]) / 2
    att_t = [(float(c), float(s / k)) for c, s, k in zip(centers, b_att, b_count, strict=True) if k]

    return SimResult(
        policy=cfg.policy.value,
        num_requests=len(trace),
        finished=int(finished.sum()),
        gpus_used=sim.gpus_used,
        end_time_s=end,
        attainment=float(att.mean()) if n else math.nan,
        attainment_time_weighted=float(on.sum() / spans.sum()) if spans.sum() > 0 else math.nan,
        strict_attainment=float(np.mean(np.asarray(led.strict_ok[:n]) & finished)) if n else math.nan,
        ttft_p50_s=float(tt[0]), ttft_p90_s=float(tt[1]), ttft_p99_s=float(tt[2]),
        tbt_p50_s=float(tb[0]), tbt_p90_s=float(tb[1]), tbt_p99_s=float(tb[2]),
        tbt_mean_s=float((tbt_v * tbt_w).sum() / tbt_w.sum()) if tbt_w.sum() else math.nan,
        busy_fraction=float(frac[1] + frac[2]),
        prefill_fraction=float(frac[1]),
        decode_fraction=float(frac[2]),
        switching_fraction=float(frac[3]),
        idle_fraction=float(frac[0]),
        switches=int(sum(g.switches for g in gpus)),
        models_per_gpu=float(np.mean(served)) if served else 0.0,
        max_models_per_gpu=int(max(served)) if served else 0,
        peak_concurrent_models_per_gpu=max((g.peak_models for g in gpus), default=0),
        mean_in_system=led.area_in_system / led.mark if led.mark > 0 else 0.0,
        arrival_rate_rps=n / window,
        mean_sojourn_s=mean_sojourn,
        mean_active_models=mean_active,
        expected_active_models=expected,
        wall_s=sim.wall_s,
        requests_per_wall_s=n / sim.wall_s if sim.wall_s > 0 else math.inf,
        events=sim.events,
        failed=int(np.sum(~np.isnan(failed_at))),
        ttft_cdf=ttft_cdf,
        tbt_cdf=tbt_cdf,
        attainment_over_time=att_t,
        active_models_over_time=[(float(c), float(v)) for c, v in zip((edges[:-1] + edges[1:]) / 2, active_t, strict=True)],
        per_gpu=[
            {"index": g.index, "role": g.role, "switches": g.switches, "models": len(g.served),
             **dict(zip(("idle_s", "prefill_s", "decode_s", "switching_s"), map(float, p), strict=True))}
            for g, p in zip(gpus, phases, strict=True)
        ],
    )  # fmt: skip


def _empty(sim: RunState) -> SimResult:
    """The result of a simulation in which no request has arrived yet."""
    nan = math.nan
    return SimResult(
        policy=sim.config.policy.value, num_requests=len(sim.trace), finished=0,
        gpus_used=sim.gpus_used, end_time_s=sim.now, attainment=nan,
        attainment_time_weighted=nan, strict_attainment=nan, ttft_p50_s=nan, ttft_p90_s=nan,
        ttft_p99_s=nan, tbt_p50_s=nan, tbt_p90_s=nan, tbt_p99_s=nan, tbt_mean_s=nan,
        busy_fraction=0.0, prefill_fraction=0.0, decode_fraction=0.0, switching_fraction=0.0,
        idle_fraction=1.0, switches=0, models_per_gpu=0.0, max_models_per_gpu=0,
        peak_concurrent_models_per_gpu=0,
        mean_in_system=0.0, arrival_rate_rps=0.0, mean_sojourn_s=nan, mean_active_models=0.0,
        expected_active_models=nan, wall_s=sim.wall_s, requests_per_wall_s=0.0,
        events=sim.events,
    )  # fmt: skip
