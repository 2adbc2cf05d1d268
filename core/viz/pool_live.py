"""Live view of the GPU-pool dashboard (Aegaeon, SOSP'25 §3 and §6): state and figures.

``LiveHistory`` turns the simulator's snapshots and events into what the live figures draw
(per-GPU segments for a Gantt chart, series of queue length, tokens/s, attainment and
active models vs Theorem 3.1's E[m] = Σᵢ(1 − e^(−λᵢT)), a feed of notable events);
``LiveRun`` is one session's running simulation with its history and frame pacing.
``gantt_figure``, ``queue_figure`` and ``live_series_figure`` draw it, built from plain
dicts without plotly's per-element validation because they are rebuilt every frame.
Colours and phases come from ``core.viz.pool``. Like it, this module never imports
``core.pool``: it duck-types the simulation, its snapshots and events."""

from __future__ import annotations

import html
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import plotly.graph_objects as go

from core.viz.pool import IDLE_COLOUR, PHASES, TARGET_COLOUR, Tile, model_colour, pct

PHASE_LEGEND = MappingProxyType(
    {"prefill": "prefill (thin)", "decode": "decode (solid)"}
    | {"switching": "switching (faded)", "idle": "idle (grey)"}
)
# Phase is drawn by bar height and opacity (SVG hatch patterns halve the browser frame rate).
PHASE_STYLE = MappingProxyType(
    {"prefill": (0.45, 1.0), "decode": (0.8, 1.0), "switching": (0.8, 0.35), "idle": (0.8, 1.0)}
)
NOTABLE = frozenset({"switch_start", "preempt", "slo_miss", "reject", "timeout"})


@dataclass
class FeedItem:
    """One notable event for the live feed."""

    time: float  # simulated seconds
    kind: str  # switch_start, preempt, slo_miss, reject, timeout
    text: str  # what happened, in words


@dataclass
class LiveHistory:
    """What the live figures draw, fed with ``record(snapshot, events, tokens)`` per sample.

    GPU states are sampled: a segment ``[gpu, model, phase, start, end]`` covers the time
    between two samples in which the GPU was seen in that state; a switching GPU is drawn in
    the colour of the model it is loading (from the ``switch_start`` events).
    """

    keep_s: float = 120.0  # drop segments that ended longer ago than this
    max_feed: int = 200  # notable events kept
    segments: list[list] = field(default_factory=list)  # [gpu, model, phase, start, end]
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    feed: deque = field(default_factory=deque)
    loading: dict[int, str | None] = field(default_factory=dict)  # GPU -> model being loaded
    open_seg: dict[int, list] = field(default_factory=dict)  # GPU -> its current segment
    last_time: float = 0.0
    tokens: list[tuple[float, float]] = field(default_factory=list)  # (t, tokens so far)
    arrivals: dict[int, float] = field(default_factory=dict)  # request -> arrival (unfinished)
    sojourn_sum: float = 0.0
    sojourn_n: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # events by kind

    def record(self, snap, events: Sequence, tokens_total: float, rates: Sequence[float]) -> None:
        """Add one sample: a ``Snapshot``, the ``SimEvent``s since the last one, the tokens
        produced so far, and each model's mean arrival rate (req/s, for Theorem 3.1)."""
        for ev in events:
            self.counts[ev.kind] = self.counts.get(ev.kind, 0) + 1
            if ev.kind == "switch_start":
                self.loading[ev.gpu] = ev.model
            elif ev.kind == "arrival":
                self.arrivals[ev.request] = ev.time
            elif ev.kind == "finish" and ev.request in self.arrivals:
                self.sojourn_sum += ev.time - self.arrivals.pop(ev.request)
                self.sojourn_n += 1
            if ev.kind in NOTABLE:
                self.feed.append(FeedItem(ev.time, ev.kind, _describe(ev)))
        while len(self.feed) > self.max_feed:
            self.feed.popleft()
        t0, t = self.last_time, snap.time
        for g in snap.gpus:
            model = self.loading.get(g.index) if g.phase == "switching" else g.model
            cur = self.open_seg.get(g.index)
            if cur is not None and cur[1] == model and cur[2] == g.phase:
                cur[4] = t
            elif t > t0 or cur is None:
                seg = [g.index, model, g.phase, t0, t]
                self.segments.append(seg)
                self.open_seg[g.index] = seg
        self.segments = [s for s in self.segments if s[4] >= t - self.keep_s]
        self.last_time = t
        self._series(snap, tokens_total, rates)

    def follow(
        self,
        sim,
        seconds: float,
        rates: Sequence[float],
        tokens: Callable[[object], float],
        max_samples: int = 24,
        resolution_s: float = 0.1,
    ):
        """Advance ``sim`` (a ``core.pool.Simulation``) by ``seconds`` of simulated time in
        up to ``max_samples`` steps of at least ``resolution_s``, recording each; returns the
        last snapshot. ``tokens(sim)`` gives the tokens produced so far."""
        n = max(1, min(max_samples, math.ceil(seconds / resolution_s)))
        end = sim.now + seconds
        snap = None
        for k in range(1, n + 1):
            events, snap = sim.advance(until=sim.now + (end - sim.now) / (n - k + 1))
            self.record(snap, events, tokens(sim), rates)
            if snap.done:
                break
        return snap

    def _series(self, snap, tokens_total: float, rates: Sequence[float]) -> None:
        t = snap.time
        self.tokens.append((t, tokens_total))
        while len(self.tokens) > 2 and self.tokens[1][0] <= t - 5.0:
            self.tokens.pop(0)  # keep a 5 s window for the rolling rate
        (ta, ka) = self.tokens[0]
        tps = (tokens_total - ka) / (t - ta) if t > ta else 0.0
        mean_t = self.sojourn_sum / self.sojourn_n if self.sojourn_n else math.nan
        em = sum(1.0 - math.exp(-r * mean_t) for r in rates) if self.sojourn_n else math.nan
        for key, value in (
            ("queued", float(sum(m.queued for m in snap.models))),
            ("tokens_per_s", tps),
            ("slo_attainment", snap.attainment),
            ("active_models", float(snap.active_models)),
            ("expected_active_models", em),
        ):
            self.series.setdefault(key, []).append((t, value))


def _describe(ev) -> str:
    if ev.kind == "switch_start":
        return f"GPU {ev.gpu} starts loading {ev.model}"
    if ev.kind == "preempt":
        return f"GPU {ev.gpu}: {ev.model}'s quota expired, KV cache swapped out"
    if ev.kind == "slo_miss":
        return f"request #{ev.request} ({ev.model}) missed a token deadline"
    if ev.kind == "timeout":
        return f"request #{ev.request} ({ev.model}) got no first token before its timeout: dropped"
    return f"request #{ev.request} ({ev.model}) rejected: the model is placed on no GPU"


def _fast(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain dicts without plotly's per-element validation (≈ 20× faster to
    build; the live view rebuilds its figures every frame). Specs here are tested instead."""
    base = {
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": -0.3, "yanchor": "top"},
    }
    return go.Figure({"data": data, "layout": {**base, **layout}}, _validate=False)


def _legend_entry(
    name: str, group: str, opacity: float, colour: str = "#777777", **extra: str
) -> dict:
    """An empty bar trace that only shows a legend entry in a neutral colour."""
    marker = {"color": colour, "opacity": opacity}
    return {"type": "bar", "name": name, "legendgroup": group, "x": [None], "y": [None]} | {
        "marker": marker,
        **extra,
    }


def gantt_figure(
    segments: Sequence[Sequence],
    gpu_labels: Sequence[str],
    model_index: Mapping[str, int],
    now: float,
    window_s: float = 60.0,
) -> go.Figure:
    """Per-GPU timeline of the last ``window_s`` seconds: colour = model; phase = bar shape
    (prefill thin, decode full, switching faded in the colour of the model being loaded)."""
    start = max(0.0, now - window_s)
    data = []
    for phase in PHASES:
        rows = [s for s in segments if s[2] == phase and s[4] > start and s[4] > s[3]]
        width, opacity = PHASE_STYLE[phase]
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": phase,
                "legendgroup": phase,
                "showlegend": False,
                "x": [min(s[4], now) - max(s[3], start) for s in rows],
                "base": [max(s[3], start) for s in rows],
                "y": [gpu_labels[s[0]] for s in rows],
                "width": width,
                "marker": {
                    "color": [
                        IDLE_COLOUR
                        if phase == "idle" or s[1] is None
                        else model_colour(model_index.get(s[1], 0))
                        for s in rows
                    ],
                    "opacity": opacity,
                    "line": {"width": 0},
                },
                "customdata": [[html.escape(s[1] or "—"), s[3], s[4]] for s in rows],
                "hovertemplate": f"%{{y}}<br>{phase} %{{customdata[0]}}<br>"
                "%{customdata[1]:.2f}–%{customdata[2]:.2f} s<extra></extra>",
            }
        )
        grey = IDLE_COLOUR if phase == "idle" else "#777777"
        data.append(_legend_entry(PHASE_LEGEND[phase], phase, opacity, grey, orientation="h"))
    height = 120 + 22 * max(1, len(gpu_labels))
    layout = {
        "height": min(height, 900),
        "barmode": "overlay",
        "bargap": 0.15,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "legend": {
            "orientation": "h",
            "y": 1.0,
            "yanchor": "bottom",
            "x": 0,
            "title": {"text": "colour = model;"},
        },
        "xaxis": {
            "title": {"text": "simulated time (s)"},
            "range": [start, max(now, start + 1e-3)],
        },
        "yaxis": {
            "title": {"text": "GPU"},
            "categoryorder": "array",
            "categoryarray": list(gpu_labels)[::-1],
        },
    }
    return _fast(data, layout)


def queue_figure(models: Sequence, max_models: int = 60) -> go.Figure:
    """Requests per model now: waiting (queued) and being served, busiest models first."""
    busy = sorted(models, key=lambda m: (-m.in_system, m.index))[:max_models]
    busy = sorted(busy, key=lambda m: m.index)
    names = [html.escape(m.name) for m in busy]  # market names may come from an uploaded CSV
    colours = [model_colour(m.index) for m in busy]
    data = [
        {
            "type": "bar",
            "x": names,
            "y": [m.queued for m in busy],
            "name": "queued",
            "marker": {"color": colours},
            "showlegend": False,
            "legendgroup": "q",
            "hovertemplate": "%{x}: %{y} queued<extra></extra>",
        },
        {
            "type": "bar",
            "x": names,
            "y": [max(0, m.in_system - m.queued) for m in busy],
            "name": "being served",
            "marker": {"color": colours, "opacity": 0.45},
            "showlegend": False,
            "legendgroup": "s",
            "hovertemplate": "%{x}: %{y} in a batch<extra></extra>",
        },
        _legend_entry("queued (solid)", "q", 1.0),
        _legend_entry("being served (faded)", "s", 0.45),
    ]
    layout = {
        "height": 280,
        "barmode": "stack",
        "margin": {"l": 60, "r": 20, "t": 40, "b": 60},
        "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
        "xaxis": {"title": {"text": "model"}, "type": "category"},
        "yaxis": {"title": {"text": "requests"}, "rangemode": "tozero"},
    }
    return _fast(data, layout)


def live_series_figure(
    series: Mapping[str, Sequence[tuple[float, float]]], target: float = 0.9
) -> go.Figure:
    """Three panels over simulated time: tokens/s, SLO attainment so far, active models vs E[m]."""
    titles = ("tokens/s (5 s window)", "attainment so far", "active models vs E[m] (dotted)")
    domains = ((0.0, 0.26), (0.37, 0.63), (0.74, 1.0))
    panels = (
        (1, "tokens_per_s", "tokens/s", "#0072B2", "tokens/s"),
        (2, "slo_attainment", "attainment", "#009E73", "fraction"),
        (3, "active_models", "active models", "#CC79A7", "models"),
        (3, "expected_active_models", "E[m]", "#E69F00", "models"),
    )
    data = []
    layout: dict = {"height": 300, "showlegend": False, "annotations": [], "shapes": []}
    for col, key, name, colour, unit in panels:
        pts = [p for p in series.get(key, ()) if p[1] is not None and math.isfinite(p[1])]
        suffix = "" if col == 1 else str(col)
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": name,
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
                "x": [p[0] for p in pts],
                "y": [p[1] for p in pts],
                "line": {
                    "color": colour,
                    "width": 2,
                    "dash": "dot" if key.startswith("exp") else "solid",
                },
                "hovertemplate": f"t %{{x:.1f}} s<br>{name} %{{y:.3g}} {unit}<extra></extra>",
            }
        )
        layout[f"xaxis{suffix}"] = {
            "domain": domains[col - 1],
            "anchor": f"y{suffix}",
            "title": {"text": "simulated time (s)"},
        }
        layout[f"yaxis{suffix}"] = {
            "anchor": f"x{suffix}",
            "title": {"text": unit},
            "rangemode": "tozero",
        }
    layout["yaxis2"]["range"] = [0, 1.05]
    for col, title in enumerate(titles):
        lo, hi = domains[col]
        layout["annotations"].append(
            {
                "text": title,
                "x": (lo + hi) / 2,
                "y": 1.0,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 14},
            }
        )
    layout["shapes"].append(
        {
            "type": "line",
            "xref": "x2 domain",
            "x0": 0,
            "x1": 1,
            "yref": "y2",
            "y0": target,
            "y1": target,
            "line": {"color": TARGET_COLOUR, "dash": "dash", "width": 1},
        }
    )
    return _fast(data, layout)


def live_tiles(snap: Any, series: Mapping[str, Sequence[tuple[float, float]]]) -> list[Tile]:
    """The live view's metric tiles for a ``Snapshot`` and the ``LiveHistory.series``."""
    em = series.get("expected_active_models", [(0.0, math.nan)])[-1][1]
    t = snap.time
    return [
        ("Sim time", f"{t:.1f} s" if t < 100 else f"{t:.0f} s", "Simulated seconds."),
        ("Done", snap.finished, f"Requests finished; {snap.arrived} arrived so far."),
        ("In system", snap.in_system, "Requests arrived and not finished."),
        ("Switches", snap.switches, "Model loads so far, all GPUs."),
        (
            "Attainment",
            pct(snap.attainment),
            "Mean share of service time on schedule, over finished requests.",
        ),
        (
            "Active / E[m]",
            f"{snap.active_models} / {'—' if math.isnan(em) else f'{em:.0f}'}",
            "Active models (with a request in the system) vs Theorem 3.1's "
            "E[m] = Σ(1 − e^(−λᵢT)) with T the mean time in system so far.",
        ),
    ]


def measured_rates(trace: Any) -> list[float]:
    """Each model's arrival rate in a ``Trace`` (req/s over its duration), for E[m]."""
    window = max(trace.duration_s, 1e-9)
    return (np.bincount(trace.model, minlength=trace.num_models) / window).tolist()


def tokens_done(sim: Any) -> float:
    """Tokens produced so far (counted when a decode segment completes).
    TODO(core.pool): a ``Snapshot.tokens`` field would avoid reading the ledger."""
    return float(sum(sim.ledger.done))


@dataclass
class LiveRun:
    """One session's live simulation (kept in ``st.session_state``, never shared)."""

    sim: Any  # a core.pool.Simulation, advanced frame by frame
    config: Any  # the SimConfig it started with
    history: LiveHistory
    rates: list[float]  # measured arrival rate per model (req/s), for E[m]
    gpu_labels: list[str]  # "GPU 0 · prefill", one per GPU row of the timeline
    model_index: dict[str, int]  # model name -> colour index
    snap: Any = None  # latest Snapshot
    result: Any = None  # the SimResult once the run is done
    run_id: int | None = None  # its id in the run store, once saved
    frames: int = 0  # frames stepped so far
    last_wall: float | None = None  # monotonic time of the previous frame while playing

    @classmethod
    def start(cls, sim: Any, config: Any) -> LiveRun:
        """Wrap a fresh simulation and record its state at t = 0."""
        events, snap = sim.advance(until=0.0)
        rates = measured_rates(sim.trace)
        live = cls(
            sim,
            config,
            LiveHistory(),
            rates,
            [f"GPU {g.index} · {g.role}" for g in snap.gpus],
            {n: i for i, n in enumerate(sim.trace.model_names)},
        )
        live.history.record(snap, events, 0.0, rates)
        live.snap = snap
        return live

    def step(self, sim_seconds: float, max_samples: int = 24) -> None:
        """Advance ``sim_seconds`` of simulated time, sampled up to ``max_samples`` times."""
        self.snap = self.history.follow(self.sim, sim_seconds, self.rates, tokens_done, max_samples)
        self.frames += 1

    def play_frame(self, speed: float, now: float, frame_s: float) -> None:
        """Advance by ``speed`` × the wall seconds since the last frame (at most two frames'
        worth), so a slow browser sees fewer frames, not a slower simulation."""
        last, self.last_wall = self.last_wall, now
        wall = frame_s if last is None else min(max(now - last, 0.0), 2 * frame_s)
        self.step(speed * wall)

    def run_to_end(self) -> None:
        """Simulate the rest of the run (arrivals and the drain) in one go."""
        end = self.sim.trace.duration_s + self.config.drain_s
        self.step(end - self.sim.now + 1.0, max_samples=200)
