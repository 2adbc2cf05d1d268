"""The GPU-pool dashboard's setup: knobs ↔ ``SimConfig`` ↔ URL, the checks, and saving.

What ``pages/pool.py`` needs that is not drawing: the knobs a user sets (with a one-line
explanation each, for the paper's scenarios in Aegaeon, SOSP'25 §6.1) and their bounds
(``LIMITS``: the widgets and the link reader ``ui.urlstate`` use them), how their values map
onto a preset's ``SimConfig`` and back, the checks that refuse a setup before anything runs
(the simulator's own validation, live-view, batch, sweep and GPUs-needed cost limits), the
sweep's configs and curves, and the run store writes the page makes. Pure Python: no
Streamlit; every check returns or raises a message a user can act on.

    values = values_of(preset("paper-40x0.1")) | {"gpus": 1}
    setup = check_setup("paper-40x0.1", values)  # PoolError("Aegaeon needs ≥ 2 GPUs …")
    plan_needed(setup.config, ["aegaeon"], 2_000.0)  # PoolError: "… about 1,234 s …"
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from core.pool.artifact import artifact_trace_names, read_artifact_trace
from core.pool.catalogue import gpus, length_profiles
from core.pool.config import (
    ArrivalProcess,
    PolicyName,
    PoolError,
    Popularity,
    SimConfig,
    SwitchConfig,
)
from core.pool.persist import save_result
from core.pool.presets import preset
from core.pool.results import SimResult
from core.pool.runner import SweepPoint, crossing, estimate_cost, gpus_needed
from core.pool.stories import DEFAULT_STORY, STORIES
from core.pool.trace_io import read_trace_csv
from core.pool.validation import validate_trace
from core.pool.workload import Trace, measured_rates, model_rates
from core.store import RunKind, RunStatus, record_run

LIVE_MAX_REQUESTS = 20_000  # larger runs go to batch mode
MAX_MODELS = 1_000  # market size a page simulates (the figures draw one bar per model)
MAX_UPLOAD_BYTES = 20 * 2**20  # trace CSVs larger than this (20 MB) go to the command line
BATCH_MAX_WALL_S = 300.0  # longer batch runs go to the command line
SWEEP_MAX_WALL_S = 120.0  # refuse comparisons and sweeps predicted to take longer
DEFAULT_PRESET = "paper-40x0.1"
MIXES: dict[str, tuple[str, tuple[tuple[str, float], ...]]] = {
    "paper": (
        "6:2:2 Qwen2.5-7B / Yi-9B / Llama-2-13B (the paper)",
        (("qwen2.5-7b", 6.0), ("yi-9b", 2.0), ("llama2-13b", 2.0)),
    ),
    "market": (
        "1.8B–14B market mix",
        (("qwen1.5-1.8b", 2.0), ("qwen2.5-7b", 4.0), ("yi-9b", 1.0), ("llama2-13b", 1.0))
        + (("qwen2.5-14b", 2.0),),
    ),
    "large": ("32B and 72B (FP8) models", (("qwen2.5-32b", 1.0), ("qwen2.5-72b-fp8", 1.0))),
    "72b": ("72B in BF16 (145 GB: needs an H200)", (("qwen2.5-72b", 1.0),)),
}
# The mixes' names in the knob (short enough to read whole in a narrow selectbox).
MIX_NAMES = {
    "paper": "6:2:2 (paper)",
    "market": "1.8B–14B",
    "large": "32B + 72B",
    "72b": "72B BF16",
}
# Every knob: (label, one-line explanation shown as help and in the knob guide).
KNOBS: dict[str, tuple[str, str]] = {
    "policy": (
        "Policy",
        "Who gets a GPU when: Aegaeon switches models per token batch; "
        "request-level keeps a model loaded until its requests finish; static places "
        "models once; dedicated gives every model its own GPU.",
    ),
    "models": ("Models (M)", "How many LLMs the market offers; most are rarely called."),
    "rate": ("Rate per model (req/s)", "Mean arrivals per model; the total rate is M × this."),
    "duration": ("Duration (s)", "Arrivals are generated over this many simulated seconds."),
    "popularity": (
        "Popularity",
        "uniform: equal rates; zipf: rate ∝ (i+1)^−α; alibaba: 94% "
        "of models share 1.35% of the requests.",
    ),
    "alpha": ("Zipf α", "Skew of the zipf split: 0 = uniform, 2 = a few models get almost all."),
    "arrival": ("Arrivals", "poisson: memoryless gaps; gamma: gaps with the CV below (bursty)."),
    "cv": (
        "CV of gaps",
        "Coefficient of variation of inter-arrival gaps (gamma only; 1 = Poisson).",
    ),
    "burst": ("Burst factor", "Rate multiplier inside periodic bursts (1 = no bursts)."),
    "lengths": ("Lengths", "Prompt/response length distribution (ShareGPT-like by default)."),
    "in_scale": ("Prompt × ", "Multiply prompt lengths (the paper's 2× input runs)."),
    "out_scale": ("Response ×", "Multiply response lengths (the paper's 2× output runs)."),
    "mix": (
        "Model sizes",
        "Which catalogue models serve the market models, in what ratio: "
        + "; ".join(f"{MIX_NAMES[k]}: {label}" for k, (label, _) in MIXES.items())
        + ".",
    ),
    "gpu": ("GPU type", "Memory, HBM bandwidth and FLOP/s set step latency and what fits."),
    "gpus": ("GPUs", "Pool size (dedicated ignores it: one GPU per model)."),
    "ttft": ("TTFT SLO (s)", "Deadline for the first token, from arrival (paper: 10 s)."),
    "tpot": (
        "TBT SLO (s)",
        "Each later token is due this much after the previous deadline (paper: 0.1 s).",
    ),
    "switch": (
        "Switch cost",
        "aegaeon: optimised auto-scaling (~1 s per switch); "
        "unoptimized: a stock engine restart (~50 s).",
    ),
    "seed": ("Seed", "Same seed ⇒ same workload and the same event log, bit for bit."),
}
POLICIES = [p.value for p in PolicyName]
CHOICES = {
    "policy": POLICIES,
    "popularity": [p.value for p in Popularity],
    "arrival": [a.value for a in ArrivalProcess],
    "lengths": list(length_profiles()),
    "mix": list(MIXES),
    "gpu": list(gpus()),
    "switch": ["aegaeon", "unoptimized"],
}
# Numeric knobs and their types (the rest are choices).
NUMBERS: dict[str, type] = {k: int for k in ("models", "gpus", "seed")} | {
    k: float
    for k in ("rate", "duration", "alpha", "cv", "burst", "in_scale", "out_scale", "ttft", "tpot")
}
# Bounds of the numeric knobs, for the widgets and for links: (lowest, highest). The lower
# bound is what a widget can show; ``check_setup`` refuses zero where it makes no sense.
LIMITS: dict[str, tuple[float, float]] = {
    "models": (1, MAX_MODELS),
    "gpus": (1, 1_024),
    "seed": (0, 2**32 - 1),
    "rate": (0.0, 1_000.0),
    "duration": (0.0, 7 * 86_400.0),
    "alpha": (0.0, 10.0),
    "cv": (0.0, 100.0),
    "burst": (0.0, 100.0),
    "in_scale": (0.0, 100.0),
    "out_scale": (0.0, 100.0),
    "ttft": (0.0, 3_600.0),
    "tpot": (0.0, 60.0),
}
SWEEP_LIMIT = 1_000.0  # highest sweep bound (req/s per model or models)
TARGET_LIMIT = 100_000.0  # highest target load of "GPUs needed" (req/s)
AXES = {"rate": "arrival rate per model (req/s)", "models": "number of models"}
VIEWS = ("Stories", "Live", "Compare", "Sweep")
SPEEDS = (1, 2, 5, 10, 20, 60, 120)  # simulated seconds per wall second
TWO_POLICIES = "aegaeon,request_fcfs"  # what Compare and Sweep start with


# ---------------------------------------------------------------- knobs <-> config <-> URL
def values_of(cfg: SimConfig) -> dict[str, Any]:
    """The knob values showing ``cfg`` (keys of ``KNOBS``)."""
    wl = cfg.workload
    mix = next((k for k, v in MIXES.items() if v[1] == wl.model_mix), "paper")
    unopt = cfg.switch == SwitchConfig.unoptimized()
    return {
        "policy": cfg.policy.value,
        "models": wl.num_models,
        "rate": wl.rate_per_model,
        "duration": wl.duration_s,
        "popularity": wl.popularity.value,
        "alpha": wl.zipf_alpha,
        "arrival": wl.arrival.value,
        "cv": wl.cv,
        "burst": wl.burst_factor,
        "lengths": wl.length_profile,
        "in_scale": wl.input_scale,
        "out_scale": wl.output_scale,
        "mix": mix,
        "gpu": cfg.pool.gpu,
        "gpus": cfg.pool.num_gpus,
        "ttft": cfg.slo.ttft_s,
        "tpot": cfg.slo.tpot_s,
        "switch": "unoptimized" if unopt else "aegaeon",
        "seed": cfg.seed,
    }


def config_of(base: SimConfig, v: Mapping[str, Any]) -> SimConfig:
    """``base`` (a preset) with the knob values applied; events always recorded."""
    wl = replace(
        base.workload,
        num_models=int(v["models"]),
        rate_per_model=float(v["rate"]),
        duration_s=float(v["duration"]),
        popularity=Popularity(v["popularity"]),
        zipf_alpha=float(v["alpha"]),
        arrival=ArrivalProcess(v["arrival"]),
        cv=float(v["cv"]),
        burst_factor=float(v["burst"]),
        length_profile=v["lengths"],
        input_scale=float(v["in_scale"]),
        output_scale=float(v["out_scale"]),
        model_mix=MIXES[v["mix"]][1],
    )
    sw = SwitchConfig.unoptimized() if v["switch"] == "unoptimized" else SwitchConfig.aegaeon()
    return replace(
        base,
        policy=PolicyName(v["policy"]),
        workload=wl,
        switch=sw,
        seed=int(v["seed"]),
        pool=replace(base.pool, gpu=v["gpu"], num_gpus=int(v["gpus"])),
        slo=replace(base.slo, ttft_s=float(v["ttft"]), tpot_s=float(v["tpot"])),
        record_events=True,
    )


@dataclass
class ViewState:
    """Which view is shown and how, beside the setup: the rest of a shared link (the page
    reads and writes it with ``ui.urlstate``, bounded by the comments' ranges)."""

    view: str = "Stories"  # one of VIEWS
    story: str = DEFAULT_STORY  # stories view: a key of core.pool.stories.STORIES
    art: str = ""  # an artifact trace replayed instead of the synthetic workload ("" = none)
    speed: int = 10  # live view: simulated seconds per wall second, one of SPEEDS
    cmp: list[str] = field(default_factory=lambda: TWO_POLICIES.split(","))  # compared
    sw_axis: str = "rate"  # sweep x-axis, a key of AXES
    sw_lo: float = 0.05  # sweep range start
    sw_hi: float = 0.7  # sweep range end
    sw_n: int = 8  # sweep points (2 to 16 run; 0 to 16 shown)
    sw_pols: list[str] = field(default_factory=lambda: TWO_POLICIES.split(","))  # swept


def story_state(key: str) -> dict[str, Any]:
    """What "run it yourself" loads for story ``key``: ``preset``, every knob (the preset's
    values with the story's changes), the view's fields it sets, and no artifact trace."""
    story = STORIES[key]
    return (
        {"preset": story.preset}
        | values_of(preset(story.preset))
        | dict(story.values)
        | {"art": ""}
        | dict(story.view)
    )


ART_TRACES = ("", *artifact_trace_names())  # "" = the synthetic workload


def artifact_replay(name: str) -> Trace | None:
    """The artifact trace ``name`` as its simulator replays it (None for "")."""
    return read_artifact_trace(name) if name else None


# ---------------------------------------------------------------- checks
@dataclass(frozen=True)
class Setup:
    """A checked setup: the config, the optional uploaded trace and the run's size."""

    config: SimConfig
    trace: Trace | None
    requests: int  # expected (synthetic) or exact (trace) number of requests
    wall_s: float  # predicted seconds to simulate

    @property
    def live_ok(self) -> bool:
        return self.requests <= LIVE_MAX_REQUESTS


def check_setup(name: str, values: Mapping[str, Any], trace: Trace | None = None) -> Setup:
    """Raise PoolError with the simulator's message unless the setup can run."""
    for key, (lo, hi) in LIMITS.items():
        if not lo <= values[key] <= hi:
            raise PoolError(f"{KNOBS[key][0]} must be from {lo:,g} to {hi:,g}, got {values[key]!r}")
    cfg = config_of(preset(name), values)
    cost = estimate_cost(cfg, LIVE_MAX_REQUESTS)
    if trace is None:
        return Setup(cfg, None, cost.requests, cost.wall_s)
    validate_trace(cfg, trace)
    per_request = cost.wall_s / max(cost.requests, 1)
    return Setup(cfg, trace, len(trace), len(trace) * per_request)


def read_upload(filename: str, data: bytes, mix: str) -> Trace:
    """An uploaded trace CSV for the model mix; PoolError if it is not a valid trace."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise PoolError(
            f"{filename} is {len(data) / 2**20:,.1f} MB; a page reads traces up to "
            f"{MAX_UPLOAD_BYTES / 2**20:,.0f} MB: replay larger ones from a shell with "
            "`python -m core.pool run --trace FILE`"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PoolError(f"{filename} is not UTF-8 text: upload a CSV file") from None
    return read_trace_csv(filename, model_mix=MIXES[mix][1], text=text)


def live_refusal(s: Setup) -> str | None:
    """Why the setup is too large for the live view, or None."""
    if s.live_ok:
        return None
    return (
        f"Too large for a live view: about {s.requests:,} requests (the live view "
        f"animates at most {LIVE_MAX_REQUESTS:,}). Shorten the duration, lower the rate "
        "or the number of models — or use **Run in batch mode**."
    )


def batch_refusal(s: Setup, name: str) -> str | None:
    """Why the setup is too slow to simulate in a page (with the command line), or None."""
    if s.wall_s <= BATCH_MAX_WALL_S:
        return None
    return (
        f"About {s.wall_s:,.0f} s of simulation is too long for a page; run it "
        f"from a shell: `python -m core.pool run --preset {name} "
        f"--policy {s.config.policy.value} --save`"
    )


def compare_refusal(s: Setup, policies: Sequence[str]) -> str | None:
    """Why these policies cannot be compared on the setup, or None."""
    if not 2 <= len(policies) <= 4:
        return f"Pick two to four policies to compare (you picked {len(policies)})."
    if s.wall_s * len(policies) > SWEEP_MAX_WALL_S:
        return (
            f"This comparison would take about {s.wall_s * len(policies):,.0f} s; shorten "
            "the duration or lower the rate."
        )
    return None


def market_of(s: Setup) -> tuple[list[str], list[float]]:
    """Model names and mean arrival rates (req/s) of the setup's market."""
    if s.trace is not None:
        return list(s.trace.model_names), measured_rates(s.trace)
    wl = s.config.workload
    return [f"m{i:02d}" for i in range(wl.num_models)], model_rates(wl).tolist()


# ---------------------------------------------------------------- sweeps
def sweep_xs(axis: str, lo: float, hi: float, n: int, policies: Sequence[str]) -> list[float]:
    """The sweep's x values; PoolError naming every problem with the range."""
    problems = []
    if not policies:
        problems.append("pick at least one policy")
    if not 0 < lo < hi:
        problems.append(f"the range needs 0 < from < to (got {lo:g} to {hi:g})")
    if not 2 <= n <= 16:
        problems.append(f"use 2 to 16 points (got {n})")
    if problems:
        raise PoolError("; ".join(problems) + ".")
    xs = np.linspace(lo, hi, n).tolist()
    return sorted({max(1, round(x)) for x in xs}) if axis == "models" else xs


def sweep_configs(
    base: SimConfig, axis: str, xs: Sequence[float], policies: Sequence[str]
) -> list[SimConfig]:
    """One config per (policy, x), policy-major, without event recording."""
    out = []
    for p in policies:
        for x in xs:
            cfg = base.replace(policy=PolicyName(p), record_events=False)
            if axis == "rate":
                cfg = cfg.with_rate(float(x))
            else:
                cfg = cfg.replace(workload=replace(cfg.workload, num_models=int(x)))
            out.append(cfg)
    return out


def plan_sweep(
    base: SimConfig, name: str, axis: str, lo: float, hi: float, n: int, policies: Sequence[str]
) -> tuple[list[SimConfig], float]:
    """(configs, predicted wall seconds) of a sweep; PoolError saying why it cannot run."""
    try:
        configs = sweep_configs(base, axis, sweep_xs(axis, lo, hi, n, policies), policies)
        wall = sum(estimate_cost(c).wall_s for c in configs)
    except PoolError as exc:
        raise PoolError(f"Cannot sweep: {exc}") from None
    if wall > SWEEP_MAX_WALL_S:
        raise PoolError(
            f"This sweep would take about {wall:,.0f} s (limit {SWEEP_MAX_WALL_S:.0f} s): "
            "use fewer points, a shorter duration, or the command line "
            f"`python -m core.pool sweep --preset {name} --save`."
        )
    return configs, wall


def processes_for(wall_s: float) -> int:
    """Worker processes for a batch of runs: one unless it takes seconds (then two)."""
    return 1 if wall_s < 4.0 else max(1, min(2, os.cpu_count() or 1))


def sweep_curves(
    axis: str, configs: Sequence[SimConfig], points: Sequence[SweepPoint]
) -> tuple[dict[str, list[tuple[float, float]]], dict[str, float]]:
    """(attainment curve per policy, goodput per policy: the 90% crossing)."""
    curves: dict[str, list[tuple[float, float]]] = {}
    for cfg, pt in zip(configs, points, strict=True):
        x = cfg.workload.rate_per_model if axis == "rate" else cfg.workload.num_models
        curves.setdefault(pt.policy.value, []).append((float(x), pt.result.attainment))
    marks = {p: crossing([x for x, _ in c], [y for _, y in c]) for p, c in curves.items()}
    return curves, marks


def plan_needed(base: SimConfig, policies: Sequence[str], target_rps: float) -> float:
    """Predicted wall seconds of :func:`gpus_needed_per_policy`; PoolError saying why it
    cannot run (a target that is not a positive number, or too long for a page).

    Each policy bisects the pool size from 2 × M GPUs (≥ 4): one run at the top, then about
    log2(2 × M) more, each the size of a run at the target load.
    """
    if not (math.isfinite(target_rps) and 0 < target_rps <= TARGET_LIMIT):
        raise PoolError(
            f"The target load must be a number of requests per second from just above 0 to "
            f"{TARGET_LIMIT:,.0f} (got {target_rps:g})."
        )
    if not policies:
        raise PoolError("Pick at least one policy.")
    m = base.workload.num_models
    probes = 1 + math.ceil(math.log2(max(4, 2 * m)))
    wall = 0.0
    for p in policies:
        if p == PolicyName.DEDICATED.value:
            continue  # one GPU per model: nothing to simulate
        cfg = base.replace(policy=PolicyName(p), record_events=False).with_rate(target_rps / m)
        wall += probes * estimate_cost(cfg).wall_s
    if wall > SWEEP_MAX_WALL_S:
        raise PoolError(
            f"Finding the GPUs needed at {target_rps:,g} req/s would take about {wall:,.0f} s "
            f"of simulation (limit {SWEEP_MAX_WALL_S:.0f} s): lower the target load, shorten "
            "the duration, or pick fewer policies."
        )
    return wall


def gpus_needed_per_policy(
    base: SimConfig,
    policies: Sequence[str],
    target_rps: float,
    progress: Callable[[int, str], object] | None = None,
) -> tuple[dict[str, int | None], str]:
    """(smallest pool with ≥ 90% attainment per policy, the load in words) at a total load
    of ``target_rps`` spread over the models; None where even 2 × M GPUs (≥ 4) fail."""
    m = base.workload.num_models
    needed: dict[str, int | None] = {}
    for i, p in enumerate(policies):
        cfg = base.replace(policy=PolicyName(p), record_events=False).with_rate(target_rps / m)
        try:
            needed[p] = gpus_needed(cfg, max_gpus=max(4, 2 * m), processes=1)
        except PoolError:
            needed[p] = None
        if progress is not None:
            progress(i + 1, p)
    return needed, f"{target_rps:g} req/s over {m} models"


# ---------------------------------------------------------------- saving
def save_live_run(
    session: Session,
    config: SimConfig,
    result: SimResult,
    series: Mapping[str, Sequence[tuple[float, float]]],
) -> int:
    """Save a finished live run with its live series over simulated time; its run id."""
    keys = ("slo_attainment", "queued", "tokens_per_s", "active_models")
    extra = {key: series[key] for key in keys if series.get(key)}
    run_id = save_result(session, config, result, tags=["live", "dashboard"], extra_series=extra)
    return run_id


def save_batch_run(session: Session, config: SimConfig, result: SimResult) -> int:
    """Save a finished batch run (simulated to the end without events); its run id."""
    return save_result(session, config, result, tags=["batch", "dashboard"])


def save_models_sweep(
    session: Session,
    base: SimConfig,
    curves: Mapping[str, Sequence[tuple[float, float]]],
    marks: Mapping[str, float],
) -> int:
    """Save a sweep over the number of models (``save_sweep`` covers rate sweeps)."""
    cfg = {"base": base.to_dict(), "axis": "num_models", "policies": list(curves)}
    run = record_run(
        session,
        kind=RunKind.POOL_SWEEP,
        config=cfg,
        series={f"attainment_{p}": pts for p, pts in curves.items()},
        summary={f"max_models_at_90pct_{p}": float(g) for p, g in marks.items()},
        tags=["sweep", "dashboard"],
        name=f"sweep: {', '.join(curves)} over number of models",
        status=RunStatus.FINISHED,
    )
    return run.id
