"""GPU pool: many LLMs sharing a few GPUs (Aegaeon, SOSP'25), live, compared and swept."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core.pool import (
    ArrivalProcess,
    PolicyName,
    PoolError,
    Popularity,
    SimConfig,
    SimResult,
    Simulation,
    SwitchConfig,
    Trace,
    read_trace_csv,
)
from core.pool.catalogue import gpus, length_profiles
from core.pool.persist import save_result, save_sweep
from core.pool.presets import PRESETS, preset
from core.pool.runner import estimate_cost, gpus_needed, run, run_many
from core.pool.validation import validate_trace
from core.pool.workload import model_rates
from core.store import RunKind, RunStatus, add_points, create_run, finish_run
from core.viz.pool import (
    LiveHistory,
    attainment_time_figure,
    cdf_figure,
    crossing,
    gantt_figure,
    gpu_split_figure,
    gpus_needed_figure,
    live_series_figure,
    market_figure,
    per_gpu_figure,
    queue_figure,
    sweep_figure,
    switches_figure,
)
from ui.boot import ensure_app_shell
from ui.db import guard, session_factory

ensure_app_shell()

FRAME_S = 0.5  # wall seconds between live frames
LIVE_MAX_REQUESTS = 20_000  # larger runs go to batch mode
SWEEP_MAX_WALL_S = 120.0  # refuse sweeps predicted to take longer
SPEEDS = (1, 2, 5, 10, 20, 60, 120)  # simulated seconds per wall second
VIEWS = ("Live", "Compare", "Sweep")
DEFAULT_PRESET = "paper-40x0.1"
MIXES: dict[str, tuple[str, tuple[tuple[str, float], ...]]] = {
    "paper": (
        "6:2:2 Qwen2.5-7B / Yi-9B / Llama-2-13B (the paper)",
        (("qwen2.5-7b", 6.0), ("yi-9b", 2.0), ("llama2-13b", 2.0)),
    ),
    "market": (
        "1.8B–14B market mix",
        (
            ("qwen1.5-1.8b", 2.0),
            ("qwen2.5-7b", 4.0),
            ("yi-9b", 1.0),
            ("llama2-13b", 1.0),
            ("qwen2.5-14b", 2.0),
        ),
    ),
    "large": ("32B and 72B (FP8) models", (("qwen2.5-32b", 1.0), ("qwen2.5-72b-fp8", 1.0))),
    "72b": ("72B in BF16 (145 GB: needs an H200)", (("qwen2.5-72b", 1.0),)),
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
    "mix": ("Model sizes", "Which catalogue models serve the market models, in what ratio."),
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
CHOICES = {
    "policy": [p.value for p in PolicyName],
    "popularity": [p.value for p in Popularity],
    "arrival": [a.value for a in ArrivalProcess],
    "lengths": list(length_profiles()),
    "mix": list(MIXES),
    "gpu": list(gpus()),
    "switch": ["aegaeon", "unoptimized"],
}
NUMBERS = {
    "models": int,
    "rate": float,
    "duration": float,
    "alpha": float,
    "cv": float,
    "burst": float,
    "in_scale": float,
    "out_scale": float,
    "gpus": int,
    "ttft": float,
    "tpot": float,
    "seed": int,
}


# ---------------------------------------------------------------- setup <-> config <-> URL
def values_of(cfg: SimConfig) -> dict[str, Any]:
    """The widget values showing ``cfg``."""
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


def config_of(base: SimConfig, v: dict[str, Any]) -> SimConfig:
    """``base`` (a preset) with the widget values applied; events always recorded."""
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


def values_from_query(query: dict[str, str]) -> tuple[str, dict[str, Any], list[str]]:
    """(preset, widget values, problems) from the URL; bad entries are ignored and named."""
    name = query.get("preset", DEFAULT_PRESET)
    problems = []
    if name not in PRESETS:
        problems.append(f"preset={name!r} is unknown")
        name = DEFAULT_PRESET
    values = values_of(preset(name))
    for key in KNOBS:
        if key not in query:
            continue
        raw = query[key]
        try:
            values[key] = NUMBERS[key](raw) if key in NUMBERS else raw
            if key in CHOICES and raw not in CHOICES[key]:
                raise ValueError
            if key in NUMBERS and not (math.isfinite(values[key]) and values[key] >= 0):
                raise ValueError  # the widgets cannot show it (validation covers 0)
        except ValueError:
            problems.append(f"{key}={raw!r}")
            values[key] = values_of(preset(name))[key]
    return name, values, problems


def _num(query: dict[str, str], key: str, default: float) -> float:
    try:
        value = float(query.get(key, default))
    except ValueError:
        return default
    return value if math.isfinite(value) and value >= 0 else default


# ---------------------------------------------------------------- session state, once
S = st.session_state
for key, default in (
    ("pl_live", None),
    ("pl_playing", False),
    ("pl_batch", None),
    ("pl_compare", None),
    ("pl_sweep", None),
    ("pl_needed", None),
    ("pl_trace", None),
    ("pl_trace_name", ""),
    ("pl_refused", None),
    ("pl_flash", None),
):
    S.setdefault(key, default)
if "pl_ready" not in S:
    q = st.query_params.to_dict()
    S.pl_preset, vals, bad = values_from_query(q)
    for k, v in vals.items():
        S[f"pl_{k}"] = v
    S.pl_view = q.get("view") if q.get("view") in VIEWS else "Live"
    sp = q.get("speed", "10")
    S.pl_speed = int(sp) if sp.isdigit() and int(sp) in SPEEDS else 10
    cmp = [p for p in q.get("cmp", "aegaeon,request_fcfs").split(",") if p in CHOICES["policy"]]
    S.pl_cmp = cmp or ["aegaeon", "request_fcfs"]
    S.pl_sw_axis = q.get("sw_axis") if q.get("sw_axis") in ("rate", "models") else "rate"
    S.pl_sw_lo, S.pl_sw_hi, S.pl_sw_n = _num(q, "sw_lo", 0.05), _num(q, "sw_hi", 0.7), 8
    S.pl_sw_n = min(16, max(0, int(_num(q, "sw_n", 8))))
    pols = [
        p for p in q.get("sw_pols", "aegaeon,request_fcfs").split(",") if p in CHOICES["policy"]
    ]
    S.pl_sw_pols = pols[:4]
    S.pl_flash = f"Ignored from the link: {', '.join(bad)}" if bad else None
    S.pl_ready = True


def _apply_preset() -> None:
    for k, v in values_of(preset(S.pl_preset)).items():
        S[f"pl_{k}"] = v


def _widget(kind: str, key: str, container: Any = st, **kw: Any) -> None:
    label, help_text = KNOBS[key]
    if kind == "select":
        container.selectbox(label, CHOICES[key], key=f"pl_{key}", help=help_text, **kw)
    else:
        step = 1 if NUMBERS[key] is int else kw.pop("step", 0.1)
        container.number_input(
            label,
            min_value=0 if NUMBERS[key] is int else 0.0,
            step=step,
            key=f"pl_{key}",
            help=help_text,
            **kw,
        )


st.title("GPU pool")
st.caption(
    "Many LLMs share a small pool of GPUs. Most models are rarely called, yet a model that "
    "holds a GPU until its requests finish needs about one GPU per active model; Aegaeon "
    "(SOSP'25) switches models between token batches so a few GPUs serve many models within "
    "their latency SLOs. Set up a market, watch it run, compare policies, sweep the load."
)
setup_col, main_col = st.columns([1.3, 2.7], gap="medium")
with setup_col.container(border=True):
    st.selectbox(
        "Preset",
        list(PRESETS),
        key="pl_preset",
        on_change=_apply_preset,
        help="Scenarios from the paper's evaluation and its market study.",
    )
    st.caption(PRESETS[S.pl_preset].description)
    _widget("select", "policy", format_func=lambda p: p.replace("_", " "))
    with st.expander("Workload", expanded=True):
        c = st.columns(2)
        _widget("number", "models", c[0])
        _widget("number", "rate", c[1], step=0.05, format="%.3f")
        _widget("number", "duration", c[0], step=30.0)
        _widget("select", "popularity", c[1])
        _widget("number", "alpha", c[0])
        _widget("select", "arrival", c[1])
        _widget("number", "cv", c[0])
        _widget("number", "burst", c[1])
        _widget("select", "lengths", c[0])
        _widget("select", "mix", c[1], format_func=lambda m: MIXES[m][0])
        _widget("number", "in_scale", c[0])
        _widget("number", "out_scale", c[1])
        upload = st.file_uploader(
            "…or a trace CSV",
            type=["csv"],
            key="pl_upload",
            help="arrival_s,model,model_type,input_tokens,output_tokens, or the "
            "artifact's Request Time,Model Name,Input Length,Output Length. "
            "Replaces the synthetic workload.",
        )
    with st.expander("Pool and SLOs", expanded=True):
        c = st.columns(2)
        _widget("select", "gpu", c[0])
        _widget("number", "gpus", c[1])
        _widget("number", "ttft", c[0], step=0.5)
        _widget("number", "tpot", c[1], step=0.01, format="%.3f")
        _widget("select", "switch", c[0])
        _widget("number", "seed", c[1])
    with st.expander("What the knobs mean"):
        st.markdown("\n".join(f"- **{lab}** — {txt}" for lab, txt in KNOBS.values()))

values = {k: S[f"pl_{k}"] for k in KNOBS}
st.query_params.from_dict(
    {
        "preset": S.pl_preset,
        **{k: str(v) for k, v in values.items()},
        "view": S.pl_view,
        "speed": str(S.pl_speed),
        "cmp": ",".join(S.pl_cmp),
        "sw_axis": S.pl_sw_axis,
        "sw_lo": str(S.pl_sw_lo),
        "sw_hi": str(S.pl_sw_hi),
        "sw_n": str(S.pl_sw_n),
        "sw_pols": ",".join(S.pl_sw_pols),
    }
)


# ---------------------------------------------------------------- trace upload and validation
def _read_upload(upload: Any, mix: str) -> Trace | None:
    """Parse the uploaded CSV once per (file, model mix); errors become a flash message."""
    if upload is None:
        S.pl_trace, S.pl_trace_name = None, ""
        return None
    ident = f"{upload.file_id}:{mix}"
    if S.pl_trace_name != ident:
        S.pl_trace_name, S.pl_trace = ident, None
        try:
            text = upload.getvalue().decode("utf-8")
            S.pl_trace = read_trace_csv(upload.name, model_mix=MIXES[mix][1], text=text)
        except UnicodeDecodeError:
            S.pl_flash = f"{upload.name} is not UTF-8 text: upload a CSV file"
        except PoolError as exc:
            S.pl_flash = str(exc)
    return S.pl_trace


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


def check_setup(v: dict[str, Any], trace: Trace | None) -> Setup:
    """Raise PoolError with the simulator's message unless the setup can run."""
    cfg = config_of(preset(S.pl_preset), v)
    cost = estimate_cost(cfg, LIVE_MAX_REQUESTS)
    if trace is None:
        return Setup(cfg, None, cost.requests, cost.wall_s)
    validate_trace(cfg, trace)
    per_request = cost.wall_s / max(cost.requests, 1)
    return Setup(cfg, trace, len(trace), len(trace) * per_request)


trace = _read_upload(upload, values["mix"])
try:
    setup: Setup | None = check_setup(values, trace)
    setup_error = ""
except PoolError as exc:
    setup, setup_error = None, str(exc)


# ---------------------------------------------------------------- saving to the run store
def _save(action: str, write: Any) -> int | None:
    """``write(session) -> run id`` inside one transaction; None when the store is down."""
    factory = session_factory()
    if factory is None:
        return None
    run_id = None
    with guard(action) as outcome, factory.begin() as s:
        run_id = write(s)
    return run_id if outcome.ok else None


def _finite(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(x, y) for x, y in points if y is not None and math.isfinite(y)]


def _saved_note(run_id: int | None) -> None:
    if run_id is None:
        st.caption("Not saved: the run store is unavailable (see the message above).")
    else:
        st.caption(
            f"Saved as run #{run_id}: compare it on the [Saved runs](runs?compare={run_id}) page."
        )


# ---------------------------------------------------------------- live view
@dataclass
class LiveRun:
    """One session's live simulation (kept in st.session_state, never shared)."""

    sim: Simulation
    config: SimConfig
    history: LiveHistory
    rates: list[float]  # measured arrival rate per model (req/s), for E[m]
    gpu_labels: list[str]
    model_index: dict[str, int]
    snap: Any = None  # latest Snapshot
    result: SimResult | None = None
    run_id: int | None = None
    frames: int = 0
    last_wall: float | None = None  # monotonic time of the previous frame while playing


def _tokens(sim: Simulation) -> float:
    """Tokens produced so far (counted when a decode segment completes).
    TODO(core.pool): a ``Snapshot.tokens`` field would avoid reading the ledger."""
    return float(sum(sim.ledger.done))


def start_live(s: Setup) -> LiveRun:
    sim = Simulation(s.config, trace=s.trace)
    events, snap = sim.advance(until=0.0)
    t = sim.trace
    window = max(t.duration_s, 1e-9)
    rates = (np.bincount(t.model, minlength=t.num_models) / window).tolist()
    live = LiveRun(
        sim,
        s.config,
        LiveHistory(),
        rates,
        [f"GPU {g.index} · {g.role}" for g in snap.gpus],
        {n: i for i, n in enumerate(t.model_names)},
    )
    live.history.record(snap, events, 0.0, rates)
    live.snap = snap
    return live


def step_live(live: LiveRun, sim_seconds: float, max_samples: int = 24) -> None:
    """Advance ``sim_seconds`` of simulated time, sampled up to ``max_samples`` times."""
    live.snap = live.history.follow(live.sim, sim_seconds, live.rates, _tokens, max_samples)
    live.frames += 1


def finish_live(live: LiveRun) -> None:
    live.result = live.sim.result()

    def write(s: Any) -> int:
        run_id = save_result(s, live.config, live.result, tags=["live", "dashboard"])
        for key in ("slo_attainment", "queued", "tokens_per_s", "active_models"):
            pts = _finite(live.history.series.get(key, []))
            if pts:
                add_points(s, run_id, key, pts)
        return run_id

    live.run_id = _save("save the live run", write)


def pct(x: float) -> str:
    """Attainment for a metric tile: 99.4%, but 100% rather than 100.0%."""
    return "100%" if x >= 0.9995 else f"{x:.1%}"


def draw_live(live: LiveRun) -> None:
    snap, hist = live.snap, live.history
    em = hist.series.get("expected_active_models", [(0, math.nan)])[-1][1]
    m = st.columns(6)
    t = snap.time
    m[0].metric("Sim time", f"{t:.1f} s" if t < 100 else f"{t:.0f} s", help="Simulated seconds.")
    m[1].metric("Done", snap.finished, help=f"Requests finished; {snap.arrived} arrived so far.")
    m[2].metric("In system", snap.in_system, help="Requests arrived and not finished.")
    m[3].metric("Switches", snap.switches, help="Model loads so far, all GPUs.")
    att = snap.attainment
    m[4].metric(
        "Attainment",
        "—" if math.isnan(att) else pct(att),
        help="Mean share of service time on schedule, over finished requests.",
    )
    m[5].metric(
        "Active / E[m]",
        f"{snap.active_models} / {'—' if math.isnan(em) else f'{em:.0f}'}",
        help="Active models (with a request in the system) vs Theorem 3.1's "
        "E[m] = Σ(1 − e^(−λᵢT)) with T the mean time in system so far.",
    )
    st.plotly_chart(
        gantt_figure(hist.segments, live.gpu_labels, live.model_index, snap.time),
        key="pl_gantt",
        config={"displayModeBar": False},
    )
    q, f = st.columns([1.6, 1])
    q.plotly_chart(queue_figure(snap.models), key="pl_queue", config={"displayModeBar": False})
    with f:
        st.markdown("**Notable events** (latest first)")
        lines = [f"{e.time:8.2f} s  {e.text}" for e in reversed(hist.feed)][:14]
        with st.container(height=240):
            st.text("\n".join(lines) or "nothing yet")
        counts = hist.counts
        st.caption(
            f"{counts.get('switch_start', 0)} switches · {counts.get('preempt', 0)} "
            f"preemptions · {counts.get('slo_miss', 0)} SLO misses · "
            f"{counts.get('reject', 0)} rejections"
        )
    st.plotly_chart(
        live_series_figure(hist.series), key="pl_series", config={"displayModeBar": False}
    )


def live_fragment() -> None:
    live = S.pl_live
    if live is None:
        return
    if S.pl_playing and not live.sim.done:
        # Advance by the wall time since the last frame (capped), so a slow browser sees
        # fewer frames, not a slower simulation.
        now = time.monotonic()
        last = live.last_wall
        wall = FRAME_S if last is None else min(max(now - last, 0.0), 2 * FRAME_S)
        live.last_wall = now
        step_live(live, S.pl_speed * wall)
    draw_live(live)
    if live.sim.done and live.result is None:
        finish_live(live)
        S.pl_playing = False
        st.rerun(scope="app")


def _toggle_play() -> None:
    S.pl_playing = not S.pl_playing
    S.pl_live.last_wall = None


def _run_to_end() -> None:
    live = S.pl_live
    end = live.sim.trace.duration_s + live.config.drain_s
    step_live(live, end - live.sim.now + 1.0, max_samples=200)
    S.pl_playing = False


def result_view(title: str, result: SimResult, cfg: SimConfig, run_id: int | None) -> None:
    """Metrics and figures of one finished run."""
    st.subheader(title)
    m = st.columns(6)
    m[0].metric(
        "Attainment",
        pct(result.attainment),
        help="Mean share of service time on schedule. Strict (every token on its "
        f"original deadline): {result.strict_attainment:.1%}",
    )
    m[1].metric("TTFT p90", f"{result.ttft_p90_s:.2f} s")
    m[2].metric("TBT p90", f"{result.tbt_p90_s * 1e3:.0f} ms")
    m[3].metric("Switches", result.switches)
    m[4].metric(
        "Models / GPU", f"{result.models_per_gpu:.1f}", help=f"max {result.max_models_per_gpu}"
    )
    m[5].metric(
        "Active / E[m]",
        f"{result.mean_active_models:.0f} / {result.expected_active_models:.0f}",
        help="Time-average active models vs Theorem 3.1's E[m] = Σ(1 − e^(−λᵢT)).",
    )
    st.caption(
        f"{result.num_requests:,} requests, {result.finished:,} finished, "
        f"{result.gpus_used} GPUs, simulated in {result.wall_s:.2f} s "
        f"({result.requests_per_wall_s:,.0f} requests/s)."
    )
    _saved_note(run_id)
    label = {result.policy: result}
    st.plotly_chart(attainment_time_figure(label), key=f"pl_{title}_att")
    st.plotly_chart(cdf_figure(label, (cfg.slo.ttft_s, cfg.slo.tpot_s)), key=f"pl_{title}_cdf")
    st.plotly_chart(per_gpu_figure(result.per_gpu), key=f"pl_{title}_gpus")


def batch_run(s: Setup) -> None:
    cfg = s.config.replace(record_events=False)
    with st.spinner(f"Simulating about {s.requests:,} requests…"):
        result = run(cfg, trace=s.trace)
    run_id = _save(
        "save the run", lambda ses: save_result(ses, cfg, result, tags=["batch", "dashboard"])
    )
    S.pl_batch = (cfg, result, run_id)


def market_of(s: Setup) -> tuple[list[str], list[float]]:
    """Model names and mean arrival rates (req/s) of the setup's market."""
    if s.trace is not None:
        t = s.trace
        counts = np.bincount(t.model, minlength=t.num_models) / max(t.duration_s, 1e-9)
        return list(t.model_names), counts.tolist()
    wl = s.config.workload
    return [f"m{i:02d}" for i in range(wl.num_models)], model_rates(wl).tolist()


def _start(s: Setup | None) -> None:
    """Start button callback: runs before the script, so the first frame needs one run."""
    if s is None:
        return
    if not s.live_ok:
        S.pl_refused = (
            f"Too large for a live view: about {s.requests:,} requests (the live view "
            f"animates at most {LIVE_MAX_REQUESTS:,}). Shorten the duration, lower the rate "
            "or the number of models — or use **Run in batch mode**."
        )
        return
    try:
        S.pl_live, S.pl_playing, S.pl_batch = start_live(s), True, None
    except PoolError as exc:
        S.pl_refused = str(exc)


def live_section(s: Setup | None) -> None:
    live = S.pl_live
    if live is None:
        st.markdown(
            "Start a run to watch every GPU load models, prefill and decode; the run is "
            "saved to the run store when it ends."
        )
        c = st.columns([1, 1, 2], vertical_alignment="center")
        c[0].button(
            "Start live run",
            type="primary",
            icon=":material/play_arrow:",
            disabled=s is None,
            key="pl_start",
            on_click=_start,
            args=(s,),
        )
        batch = c[1].button(
            "Run in batch mode",
            icon=":material/bolt:",
            disabled=s is None,
            key="pl_batch_btn",
            help="Simulate to the end at once, no animation.",
        )
        if s is not None:
            c[2].caption(f"≈ {s.requests:,} requests, ≈ {s.wall_s:.2f} s to simulate.")
        if S.pl_refused:
            st.error(S.pl_refused)
            S.pl_refused = None
        if s is not None:
            names, rates = market_of(s)
            st.plotly_chart(market_figure(names, rates), key="pl_market")
        if batch and s is not None:
            if s.wall_s > 300:
                st.error(
                    f"About {s.wall_s:,.0f} s of simulation is too long for a page; run it "
                    f"from a shell: `python -m core.pool run --preset {S.pl_preset} "
                    f"--policy {s.config.policy.value} --save`"
                )
            else:
                batch_run(s)
    else:
        c = st.columns([1, 1.2, 1.1, 2.2], vertical_alignment="bottom")
        done = live.sim.done
        c[0].button(
            "Pause" if S.pl_playing else "Play",
            on_click=_toggle_play,
            disabled=done,
            icon=":material/pause:" if S.pl_playing else ":material/play_arrow:",
            key="pl_play",
        )
        c[1].button(
            "Run to end",
            on_click=_run_to_end,
            disabled=done,
            key="pl_end",
            icon=":material/fast_forward:",
        )
        if c[2].button("New run", key="pl_new", icon=":material/restart_alt:"):
            S.pl_live, S.pl_playing = None, False
            st.rerun()
        c[3].select_slider("Speed (simulated seconds per second)", SPEEDS, key="pl_speed")
        if s is None or s.config != live.config:
            st.caption(
                "This run keeps the setup it started with; **New run** applies your changes."
            )
        st.fragment(live_fragment, run_every=FRAME_S if S.pl_playing else None)()
        if live.result is not None:
            result_view("Result of the live run", live.result, live.config, live.run_id)
    if S.pl_batch is not None and S.pl_live is None:
        cfg, result, run_id = S.pl_batch
        result_view("Batch result", result, cfg, run_id)


# ---------------------------------------------------------------- compare
@st.cache_data(show_spinner=False, max_entries=64)
def _cached_run(config_json: str) -> SimResult:
    """A synthetic run (same seed ⇒ same trace, so policies share the workload)."""
    return run(SimConfig.from_json(config_json))


def _processes(wall_s: float) -> int:
    return 1 if wall_s < 4.0 else max(1, min(2, os.cpu_count() or 1))


def compare_section(s: Setup | None) -> None:
    st.markdown("Run several policies on the **same seeded workload** and compare them.")
    c = st.columns([3, 1], vertical_alignment="bottom")
    c[0].multiselect(
        "Policies (2–4)",
        CHOICES["policy"],
        key="pl_cmp",
        max_selections=4,
        format_func=lambda p: p.replace("_", " "),
    )
    pols = list(S.pl_cmp)
    go_ = c[1].button(
        "Run comparison",
        type="primary",
        key="pl_cmp_btn",
        disabled=s is None,
        icon=":material/compare_arrows:",
    )
    if go_ and s is not None:
        if not 2 <= len(pols) <= 4:
            st.error(f"Pick two to four policies to compare (you picked {len(pols)}).")
        elif s.wall_s * len(pols) > SWEEP_MAX_WALL_S:
            st.error(
                f"This comparison would take about {s.wall_s * len(pols):,.0f} s; shorten "
                "the duration or lower the rate."
            )
        else:
            bar = st.progress(0.0, text="Simulating…")
            results: dict[str, SimResult] = {}
            for i, p in enumerate(pols):
                cfg = s.config.replace(policy=PolicyName(p), record_events=False)
                try:
                    results[p] = run(cfg, trace=s.trace) if s.trace else _cached_run(cfg.to_json())
                except PoolError as exc:
                    st.error(f"{p}: {exc}")
                    return
                bar.progress((i + 1) / len(pols), text=f"{p} done")
            ids = [
                _save(
                    f"save the {p} run",
                    lambda ses, p=p: save_result(
                        ses,
                        s.config.replace(policy=PolicyName(p)),
                        results[p],
                        tags=["compare", "dashboard"],
                    ),
                )
                for p in pols
            ]
            bar.empty()
            S.pl_compare = (s.config, results, ids)
    if S.pl_compare is None:
        return
    cfg, results, ids = S.pl_compare
    rows = [
        {
            "policy": p,
            "GPUs": r.gpus_used,
            "SLO attainment": r.attainment,
            "strict attainment": r.strict_attainment,
            "TTFT p90 (s)": r.ttft_p90_s,
            "TBT p90 (ms)": r.tbt_p90_s * 1e3,
            "switches": r.switches,
            "models per GPU": r.models_per_gpu,
            "idle share": r.idle_fraction,
            "run": ids[i],
        }
        for i, (p, r) in enumerate(results.items())
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        key="pl_cmp_table",
        column_config={
            "SLO attainment": st.column_config.NumberColumn(format="percent"),
            "strict attainment": st.column_config.NumberColumn(format="percent"),
            "idle share": st.column_config.NumberColumn(format="percent"),
            "TTFT p90 (s)": st.column_config.NumberColumn(format="%.2f"),
            "TBT p90 (ms)": st.column_config.NumberColumn(format="%.1f"),
            "models per GPU": st.column_config.NumberColumn(format="%.1f"),
        },
    )
    if any(i is not None for i in ids):
        link = ",".join(str(i) for i in ids if i is not None)
        st.caption(f"Saved as runs {link}: [compare them on Saved runs](runs?compare={link}).")
    if "dedicated" in results:
        st.caption("Dedicated ignores the pool size: it uses one GPU per model.")
    st.plotly_chart(attainment_time_figure(results), key="pl_cmp_att")
    st.plotly_chart(cdf_figure(results, (cfg.slo.ttft_s, cfg.slo.tpot_s)), key="pl_cmp_cdf")
    st.plotly_chart(gpu_split_figure(results), key="pl_cmp_split")
    st.plotly_chart(switches_figure(results), key="pl_cmp_sw")


# ---------------------------------------------------------------- sweep
AXES = {"rate": "arrival rate per model (req/s)", "models": "number of models"}


def _sweep_configs(base: SimConfig, axis: str, xs: list[float], pols: list[str]) -> list[SimConfig]:
    out = []
    for p in pols:
        for x in xs:
            cfg = base.replace(policy=PolicyName(p), record_events=False)
            if axis == "rate":
                cfg = cfg.with_rate(float(x))
            else:
                cfg = cfg.replace(workload=replace(cfg.workload, num_models=int(x)))
            out.append(cfg)
    return out


def _save_models_sweep(ses: Any, base: SimConfig, curves: dict, marks: dict) -> int:
    cfg = {"base": base.to_dict(), "axis": "num_models", "policies": list(curves)}
    run = create_run(
        ses,
        kind=RunKind.POOL_SWEEP,
        config=cfg,
        tags=["sweep", "dashboard"],
        name=f"sweep: {', '.join(curves)} over number of models",
    )
    for p, pts in curves.items():
        add_points(ses, run.id, f"attainment_{p}", _finite(pts))
    finish_run(
        ses,
        run.id,
        status=RunStatus.FINISHED,
        summary={f"max_models_at_90pct_{p}": float(g) for p, g in marks.items()},
    )
    return run.id


def sweep_section(s: Setup | None) -> None:
    if s is not None and s.trace is not None:
        st.info("Sweeps vary the synthetic workload: remove the uploaded trace to sweep.")
        return
    st.markdown(
        "Attainment against load for each policy, the paper's headline figure: the "
        "**goodput** is the highest load that keeps ≥ 90% SLO attainment."
    )
    c = st.columns(4)
    c[0].radio("x-axis", list(AXES), key="pl_sw_axis", format_func=AXES.get)
    models_axis = S.pl_sw_axis == "models"
    c[1].number_input("from", min_value=0.0, step=0.05 if not models_axis else 4.0, key="pl_sw_lo")
    c[2].number_input("to", min_value=0.0, step=0.05 if not models_axis else 4.0, key="pl_sw_hi")
    c[3].number_input("points", min_value=0, max_value=16, step=1, key="pl_sw_n")
    st.multiselect("Policies", CHOICES["policy"], key="pl_sw_pols", max_selections=4)
    if st.button(
        "Run sweep", type="primary", key="pl_sw_btn", disabled=s is None, icon=":material/insights:"
    ):
        _run_sweep(s)
    if S.pl_sweep is not None:
        axis, curves, marks, run_id = S.pl_sweep
        unit = "req/s per model" if axis == "rate" else "models"
        st.plotly_chart(sweep_figure(curves, marks, AXES[axis]), key="pl_sw_fig")
        st.markdown(" · ".join(f"**{p}** goodput {g:.3g} {unit}" for p, g in marks.items()))
        _saved_note(run_id)
    st.divider()
    st.markdown(
        "**GPUs needed** for a target total load (≥ 90% attainment), for each policy "
        "selected above."
    )
    c = st.columns([1, 1], vertical_alignment="bottom")
    default = s.config.workload.total_rate if s is not None else 4.0
    target = c[0].number_input(
        "Target total load (req/s)",
        min_value=0.0,
        value=float(default),
        step=0.5,
        key="pl_need_rate",
    )
    if c[1].button("Find GPUs needed", key="pl_need_btn", disabled=s is None):
        _run_needed(s, target)
    if S.pl_needed is not None:
        needed, text = S.pl_needed
        st.plotly_chart(gpus_needed_figure(needed, text), key="pl_need_fig")


def _run_sweep(s: Setup) -> None:
    lo, hi, n, pols = float(S.pl_sw_lo), float(S.pl_sw_hi), int(S.pl_sw_n), list(S.pl_sw_pols)
    axis = S.pl_sw_axis
    problems = []
    if not pols:
        problems.append("pick at least one policy")
    if not 0 < lo < hi:
        problems.append(f"the range needs 0 < from < to (got {lo:g} to {hi:g})")
    if not 2 <= n <= 16:
        problems.append(f"use 2 to 16 points (got {n})")
    if problems:
        st.error("Cannot sweep: " + "; ".join(problems) + ".")
        return
    xs = np.linspace(lo, hi, n).tolist()
    if axis == "models":
        xs = sorted({max(1, round(x)) for x in xs})
    try:
        configs = _sweep_configs(s.config, axis, xs, pols)
        wall = sum(estimate_cost(c).wall_s for c in configs)
    except PoolError as exc:
        st.error(f"Cannot sweep: {exc}")
        return
    if wall > SWEEP_MAX_WALL_S:
        st.error(
            f"This sweep would take about {wall:,.0f} s (limit {SWEEP_MAX_WALL_S:.0f} s): "
            "use fewer points, a shorter duration, or the command line "
            f"`python -m core.pool sweep --preset {S.pl_preset} --save`."
        )
        return
    bar = st.progress(0.0, text=f"0 of {len(configs)} points")

    def progress(done: int, total: int, point: Any) -> None:
        bar.progress(done / total, text=f"{done} of {total} points")

    points = run_many(configs, processes=_processes(wall), progress=progress)
    bar.empty()
    curves: dict[str, list[tuple[float, float]]] = {p: [] for p in pols}
    for cfg, pt in zip(configs, points, strict=True):
        x = cfg.workload.rate_per_model if axis == "rate" else cfg.workload.num_models
        curves[pt.policy.value].append((float(x), pt.result.attainment))
    marks = {p: crossing([x for x, _ in c], [y for _, y in c]) for p, c in curves.items()}
    if axis == "rate":
        run_id = _save(
            "save the sweep",
            lambda ses: save_sweep(ses, s.config, points, tags=["sweep", "dashboard"]),
        )
    else:
        run_id = _save(
            "save the sweep", lambda ses: _save_models_sweep(ses, s.config, curves, marks)
        )
    S.pl_sweep = (axis, curves, marks, run_id)


def _run_needed(s: Setup, target_rps: float) -> None:
    if target_rps <= 0:
        st.error("The target load must be a positive number of requests per second.")
        return
    pols = list(S.pl_sw_pols) or [s.config.policy.value]
    m = s.config.workload.num_models
    cap = max(4, 2 * m)
    needed: dict[str, int | None] = {}
    bar = st.progress(0.0, text="Bisecting the pool size…")
    for i, p in enumerate(pols):
        cfg = s.config.replace(policy=PolicyName(p), record_events=False).with_rate(target_rps / m)
        try:
            needed[p] = gpus_needed(cfg, max_gpus=cap, processes=1)
        except PoolError:
            needed[p] = None
        bar.progress((i + 1) / len(pols), text=f"{p} done")
    bar.empty()
    S.pl_needed = (needed, f"{target_rps:g} req/s over {m} models")


# ---------------------------------------------------------------- the page
with main_col:
    if S.pl_flash:
        st.warning(S.pl_flash)
        S.pl_flash = None
    if setup is None:
        st.error(f"This setup cannot run: {setup_error}")
    elif setup.trace is not None:
        t = setup.trace
        st.info(
            f"Using the uploaded trace: {len(t):,} requests to {t.num_models} models over "
            f"{t.duration_s:,.0f} s (the workload knobs are ignored)."
        )
    view = st.segmented_control("View", VIEWS, key="pl_view", required=True)
    if view == "Compare":
        compare_section(setup)
    elif view == "Sweep":
        sweep_section(setup)
    else:
        live_section(setup)
