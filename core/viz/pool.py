"""Figures of the GPU-pool dashboard (Aegaeon, SOSP'25 §6 figures): pure functions to plotly.

The palette every pool figure shares (a colour per model and per policy, the 90% target
line, phase colours). Before a run: ``market_figure`` (who calls which model). Results:
``attainment_time_figure``, ``cdf_figure``, ``gpu_split_figure``, ``per_gpu_figure``,
``switches_figure``. Sweeps: ``sweep_figure`` (attainment vs load with the 90% line and
goodput marks, the paper's headline figure; ``core.pool.crossing`` finds the goodput)
and ``gpus_needed_figure``. The live view's state and figures are in ``core.viz.pool_live``.
Colours are mid-tone so they read on light and dark themes; every axis says its unit; every
mark has hover text."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import plotly.graph_objects as go
from plotly.subplots import make_subplots

PHASES = ("prefill", "decode", "switching", "idle")
# Opaque mid grey: reads on Streamlit's light (#FFFFFF) and dark (#0E1117) backgrounds alike
# (a translucent grey vanished on dark, next to the switching bars).
IDLE_COLOUR = "#8C8C8C"
TARGET_COLOUR = "#D55E00"  # the 90% line
# Okabe–Ito, colour-blind safe, one per policy in PolicyName order.
POLICY_COLOURS = MappingProxyType(
    {
        "aegaeon": "#0072B2",
        "request_fcfs": "#E69F00",
        "request_srtf": "#CC79A7",
        "serverlessllm": "#D55E00",
        "static_multiplex": "#009E73",
        "dedicated": "#56B4E9",
    }
)
SPLIT_COLOURS = MappingProxyType(
    {"prefill": "#56B4E9", "decode": "#0072B2", "switching": "#E69F00", "idle": "#999999"}
)


# A horizontal legend above the plot's top-right corner (stacked time-split bars).
_TOP_RIGHT_LEGEND = MappingProxyType(
    {
        "orientation": "h",
        "y": 1.0,
        "yanchor": "bottom",
        "x": 1,
        "xanchor": "right",
        "traceorder": "normal",
    }
)


def model_colour(index: int, *, lighten: int = 0, alpha: float = 1.0) -> str:
    """A distinct mid-lightness colour per model (golden-angle hues), readable on any theme;
    ``lighten`` adds to its lightness (%), ``alpha`` < 1 makes it translucent."""
    hue = (index * 137.508) % 360
    light = 48 + 8 * (index % 2) + lighten
    if alpha < 1.0:
        return f"hsla({hue:.0f}, 65%, {light}%, {alpha:g})"
    return f"hsl({hue:.0f}, 65%, {light}%)"


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


Tile = tuple[str, object, str | None]  # a metric tile: (label, value, help text)


def pct(x: float) -> str:
    """A share for a metric tile: 99.4%, but 100% rather than 100.0%, and — for NaN."""
    return "—" if math.isnan(x) else "100%" if x >= 0.9995 else f"{x:.1%}"


def result_tiles(result) -> list[Tile]:
    """The metric tiles of one finished run (a ``SimResult``)."""
    strict = f"{result.strict_attainment:.1%}"
    return [
        (
            "Attainment",
            pct(result.attainment),
            "Mean share of service time on schedule. "
            f"Strict (every token on its original deadline): {strict}",
        ),
        ("TTFT p90", f"{result.ttft_p90_s:.2f} s", "90th percentile time to first token."),
        ("TBT p90", f"{result.tbt_p90_s * 1e3:.0f} ms", "90th percentile time between tokens."),
        ("Switches", result.switches, "Model loads over the run, all GPUs."),
        ("Models / GPU", f"{result.models_per_gpu:.1f}", f"max {result.max_models_per_gpu}"),
        (
            "Active / E[m]",
            f"{result.mean_active_models:.0f} / {result.expected_active_models:.0f}",
            "Time-average active models vs Theorem 3.1's E[m] = Σ(1 − e^(−λᵢT)).",
        ),
    ]


def compare_rows(results: Mapping[str, object], ids: Sequence[int | None]) -> list[dict]:
    """One table row per compared policy: its headline numbers and its run id."""
    return [
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
        legend=dict(_TOP_RIGHT_LEGEND),
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
        legend=dict(_TOP_RIGHT_LEGEND),
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
    )


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
