"""Figures of the GPU-pool dashboard (Aegaeon, SOSP'25 §6 figures): pure functions to plotly.

Live view: ``LiveHistory`` turns the simulator's snapshots and events into what the live
figures draw (per-GPU segments for a Gantt chart, series of queue length, tokens/s,
attainment and active models vs Theorem 3.1's E[m], a feed of notable events);
``gantt_figure``, ``queue_figure`` and ``live_series_figure`` draw it, built from plain dicts
without plotly's per-element validation because they are rebuilt every frame. Before a run:
``market_figure`` (who calls which model). Results: ``attainment_time_figure``,
``cdf_figure``, ``gpu_split_figure``, ``per_gpu_figure``, ``switches_figure``. Sweeps:
``sweep_figure`` (attainment vs load with the 90% line and goodput marks, the paper's
headline figure; ``crossing`` finds the goodput) and ``gpus_needed_figure``. Colours are
mid-tone so they read on light and dark themes; every axis says its unit; every mark has
hover text. This module never imports ``core.pool`` (it duck-types snapshots and results)."""

from __future__ import annotations

import html
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import plotly.graph_objects as go
from plotly.subplots import make_subplots

PHASES = ("prefill", "decode", "switching", "idle")
PHASE_LEGEND = MappingProxyType(
    {
        "prefill": "prefill (thin)",
        "decode": "decode (solid)",
        "switching": "switching (faded)",
        "idle": "idle (grey)",
    }
)
# Phase is drawn by bar height and opacity (SVG hatch patterns halve the browser frame rate).
PHASE_STYLE = MappingProxyType(
    {
        "prefill": (0.45, 1.0),
        "decode": (0.8, 1.0),
        "switching": (0.8, 0.35),
        "idle": (0.8, 1.0),
    }
)
IDLE_COLOUR = "rgba(150, 150, 150, 0.35)"
TARGET_COLOUR = "#D55E00"  # the 90% line
# Okabe–Ito, colour-blind safe, one per policy in PolicyName order.
POLICY_COLOURS = MappingProxyType(
    {
        "aegaeon": "#0072B2",
        "request_fcfs": "#E69F00",
        "request_srtf": "#CC79A7",
        "static_multiplex": "#009E73",
        "dedicated": "#56B4E9",
    }
)
SPLIT_COLOURS = MappingProxyType(
    {
        "prefill": "#56B4E9",
        "decode": "#0072B2",
        "switching": "#E69F00",
        "idle": "#999999",
    }
)
NOTABLE = frozenset({"switch_start", "preempt", "slo_miss", "reject"})


def model_colour(index: int) -> str:
    """A distinct mid-lightness colour per model (golden-angle hues), readable on any theme."""
    hue = (index * 137.508) % 360
    return f"hsl({hue:.0f}, 65%, {48 + 8 * (index % 2)}%)"


def policy_colour(policy: str, index: int = 0) -> str:
    return POLICY_COLOURS.get(policy, model_colour(index))


def _layout(fig: go.Figure, height: int, **extra) -> go.Figure:
    layout = {
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 100},
        "legend": {"orientation": "h", "y": -0.3, "yanchor": "top", "traceorder": "normal"},
        "hovermode": "closest",
    }
    fig.update_layout(**{**layout, **extra})
    return fig


@dataclass
class FeedItem:
    """One notable event for the live feed."""

    time: float  # simulated seconds
    kind: str  # switch_start, preempt, slo_miss, reject
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
        data.append(  # legend entry in a neutral colour
            {
                "type": "bar",
                "orientation": "h",
                "name": PHASE_LEGEND[phase],
                "legendgroup": phase,
                "x": [None],
                "y": [None],
                "marker": {
                    "color": IDLE_COLOUR if phase == "idle" else "#777777",
                    "opacity": opacity,
                },
            }
        )
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


def market_figure(names: Sequence[str], rates: Sequence[float]) -> go.Figure:
    """Arrival rate per model, busiest first (log scale), with the cumulative share of
    requests: in a skewed market most models sit in the long, rarely-called tail."""
    order = sorted(range(len(rates)), key=lambda i: (-rates[i], i))
    total = float(sum(rates)) or 1.0
    cum, acc = [], 0.0
    for i in order:
        acc += rates[i]
        cum.append(acc / total)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(
            x=[html.escape(names[i]) for i in order],
            y=[rates[i] for i in order],
            name="requests/s",
            marker={"color": [model_colour(i) for i in order]},
            hovertemplate="%{x}: %{y:.3g} req/s<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[html.escape(names[i]) for i in order],
            y=cum,
            name="cumulative share of requests",
            mode="lines",
            line={"color": "#888888", "width": 2},
            hovertemplate="busiest models up to %{x}: %{y:.1%} of requests<extra></extra>",
        ),
        secondary_y=True,
    )
    fig.update_xaxes(title_text="model (busiest first)", type="category")
    fig.update_yaxes(title_text="arrival rate (req/s, log)", type="log", secondary_y=False)
    fig.update_yaxes(
        title_text="cumulative share",
        tickformat=".0%",
        tickvals=[0, 0.25, 0.5, 0.75, 1.0],
        range=[0, 1.02],
        secondary_y=True,
    )
    return _layout(fig, 320, title={"text": "Who calls which model: the market's popularity"})


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
        {
            "type": "bar",
            "x": [None],
            "y": [None],
            "name": "queued (solid)",
            "legendgroup": "q",
            "marker": {"color": "#777777"},
        },
        {
            "type": "bar",
            "x": [None],
            "y": [None],
            "name": "being served (faded)",
            "legendgroup": "s",
            "marker": {"color": "#777777", "opacity": 0.45},
        },
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


def attainment_time_figure(results: Mapping[str, object], target: float = 0.9) -> go.Figure:
    """Mean SLO attainment of the requests arriving in each time bin, one line per run."""
    fig = go.Figure()
    for i, (label, res) in enumerate(results.items()):
        pts = res.attainment_over_time
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in pts],
                y=[p[1] for p in pts],
                mode="lines+markers",
                name=label,
                line={"color": policy_colour(res.policy, i), "width": 2},
                marker={"size": 4},
                hovertemplate=f"{label}<br>arrivals around %{{x:.0f}} s<br>"
                "attainment %{y:.3f}<extra></extra>",
            )
        )
    fig.add_hline(
        y=target,
        line={"color": TARGET_COLOUR, "dash": "dash", "width": 1},
        annotation_text=f"{target:.0%} target",
    )
    fig.update_xaxes(title_text="arrival time (s)")
    fig.update_yaxes(title_text="SLO attainment (time fraction)", range=[0, 1.05])
    return _layout(fig, 340, title={"text": "SLO attainment of the requests arriving over time"})


def cdf_figure(results: Mapping[str, object], slo: tuple[float, float] | None = None):
    """TTFT and TBT cumulative distributions side by side (log time axis), SLOs as lines."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("time to first token", "time between tokens")
    )
    for i, (label, res) in enumerate(results.items()):
        for col, (cdf, what) in enumerate(((res.ttft_cdf, "TTFT"), (res.tbt_cdf, "TBT")), start=1):
            pts = [p for p in cdf if p[0] > 0 and math.isfinite(p[0])]
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in pts],
                    y=[p[1] for p in pts],
                    mode="lines",
                    name=label,
                    legendgroup=label,
                    showlegend=col == 1,
                    line={"color": policy_colour(res.policy, i), "width": 2},
                    hovertemplate=f"{label}<br>{what} ≤ %{{x:.3g}} s: %{{y:.0%}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
    for col in (1, 2):
        fig.update_xaxes(title_text="seconds (log scale)", type="log", row=1, col=col)
        fig.update_yaxes(title_text="fraction ≤ x", range=[0, 1.02], row=1, col=col)
    if slo is not None:
        for col, value in enumerate(slo, start=1):
            fig.add_vline(
                x=value, line={"color": TARGET_COLOUR, "dash": "dash", "width": 1}, row=1, col=col
            )
    return _layout(fig, 340)


def gpu_split_figure(results: Mapping[str, object]) -> go.Figure:
    """Share of GPU time in prefill, decode, switching and idle, one bar per run."""
    labels = list(results)
    fig = go.Figure()
    for phase in PHASES:
        vals = [getattr(results[k], f"{phase}_fraction") for k in labels]
        fig.add_trace(
            go.Bar(
                y=labels,
                x=vals,
                orientation="h",
                name=phase,
                marker={"color": SPLIT_COLOURS[phase]},
                text=[f"{v:.0%}" for v in vals],
                textposition="inside",
                hovertemplate=f"%{{y}}<br>{phase}: %{{x:.1%}} of GPU time<extra></extra>",
            )
        )
    fig.update_xaxes(title_text="share of GPU time", tickformat=".0%", range=[0, 1])
    fig.update_yaxes(title_text="policy", autorange="reversed")
    return _layout(
        fig,
        150 + 45 * len(labels),
        barmode="stack",
        title={"text": "Share of GPU time"},
        legend={
            "orientation": "h",
            "y": 1.0,
            "yanchor": "bottom",
            "x": 1,
            "xanchor": "right",
            "traceorder": "normal",
        },
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
    )


def switches_figure(results: Mapping[str, object]) -> go.Figure:
    """Model switches and models served per GPU (mean and max), one bar per run."""
    labels = list(results)
    colours = [policy_colour(results[k].policy, i) for i, k in enumerate(labels)]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("model switches", "models per GPU"))
    fig.add_trace(
        go.Bar(
            x=labels,
            y=[results[k].switches for k in labels],
            marker={"color": colours},
            showlegend=False,
            hovertemplate="%{x}: %{y} switches<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=labels,
            y=[results[k].models_per_gpu for k in labels],
            name="mean",
            marker={"color": colours},
            hovertemplate="%{x}: %{y:.2f} models per GPU on average<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Scatter(
            x=labels,
            y=[results[k].max_models_per_gpu for k in labels],
            mode="markers",
            name="max",
            marker={"symbol": "line-ew-open", "size": 28, "color": "#888888", "line": {"width": 3}},
            hovertemplate="%{x}: at most %{y} models on one GPU<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.update_yaxes(title_text="switches (model loads)", row=1, col=1, rangemode="tozero")
    fig.update_yaxes(title_text="distinct models served", row=1, col=2, rangemode="tozero")
    fig.update_xaxes(title_text="policy", row=1, col=1)
    fig.update_xaxes(title_text="policy", row=1, col=2)
    return _layout(
        fig,
        360,
        legend={"orientation": "h", "y": 1.08, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        margin={"l": 60, "r": 20, "t": 70, "b": 60},
    )


def per_gpu_figure(per_gpu: Sequence[Mapping[str, float]]) -> go.Figure:
    """Seconds each GPU spent per phase over a run (stacked), labelled with its role."""
    labels = [f"GPU {g['index']} · {g['role']}" for g in per_gpu]
    fig = go.Figure()
    for phase in PHASES:
        fig.add_trace(
            go.Bar(
                y=labels,
                x=[g[f"{phase}_s"] for g in per_gpu],
                orientation="h",
                name=phase,
                marker={"color": SPLIT_COLOURS[phase]},
                hovertemplate=f"%{{y}}<br>{phase}: %{{x:.1f}} s<extra></extra>",
            )
        )
    fig.update_xaxes(title_text="simulated seconds")
    fig.update_yaxes(title_text="GPU", autorange="reversed")
    return _layout(
        fig,
        min(900, 140 + 20 * len(labels)),
        barmode="stack",
        title={"text": "Where each GPU's time went"},
        legend={
            "orientation": "h",
            "y": 1.0,
            "yanchor": "bottom",
            "x": 1,
            "xanchor": "right",
            "traceorder": "normal",
        },
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
    )


def crossing(xs: Sequence[float], ys: Sequence[float], target: float = 0.9) -> float:
    """Highest x with y ≥ target (every lower x passing too), interpolated to the crossing
    with the next point; 0 if the first point fails. ``[1,2,3],[1,.95,.85]`` -> 2.5."""
    pts = sorted(zip(xs, ys, strict=True))
    best = 0.0
    for i, (x, y) in enumerate(pts):
        if not y >= target:
            if i > 0:
                (xa, ya) = pts[i - 1]
                best = xa + (x - xa) * (ya - target) / (ya - y)
            return best
        best = x
    return best


def sweep_figure(
    curves: Mapping[str, Sequence[tuple[float, float]]],
    marks: Mapping[str, float],
    x_title: str,
    target: float = 0.9,
) -> go.Figure:
    """Attainment vs load, one line per policy, the target line and each policy's goodput."""
    fig = go.Figure()
    for i, (pol, pts) in enumerate(curves.items()):
        pts = sorted(pts)
        colour = policy_colour(pol, i)
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in pts],
                y=[p[1] for p in pts],
                mode="lines+markers",
                name=pol,
                line={"color": colour, "width": 2},
                hovertemplate=f"{pol}<br>{x_title}: %{{x:.3g}}<br>"
                "attainment %{y:.3f}<extra></extra>",
            )
        )
        g = marks.get(pol)
        if g is not None and g > 0:
            fig.add_trace(
                go.Scatter(
                    x=[g],
                    y=[target],
                    mode="markers",
                    name=f"{pol} goodput",
                    marker={
                        "symbol": "diamond",
                        "size": 13,
                        "color": colour,
                        "line": {"width": 1.5, "color": "#444"},
                    },
                    hovertemplate=f"{pol} goodput<br>{x_title}: %{{x:.3g}}<extra></extra>",
                )
            )
            fig.add_vline(x=g, line={"color": colour, "dash": "dot", "width": 1})
    fig.add_hline(
        y=target,
        line={"color": TARGET_COLOUR, "dash": "dash", "width": 1},
        annotation_text=f"{target:.0%} SLO attainment",
    )
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text="SLO attainment", range=[0, 1.05])
    return _layout(fig, 400)


def gpus_needed_figure(needed: Mapping[str, int | None], load_text: str) -> go.Figure:
    """GPUs each policy needs to keep ≥ 90% attainment at one load (None: more than tried)."""
    pols = list(needed)
    vals = [needed[p] or 0 for p in pols]
    fig = go.Figure(
        go.Bar(
            x=pols,
            y=vals,
            marker={"color": [policy_colour(p, i) for i, p in enumerate(pols)]},
            text=[str(needed[p]) if needed[p] else "too many" for p in pols],
            textposition="outside",
            hovertemplate=f"%{{x}}<br>%{{y}} GPUs for {load_text}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="policy")
    fig.update_yaxes(title_text=f"GPUs needed ({load_text})", rangemode="tozero")
    return _layout(fig, 320)
