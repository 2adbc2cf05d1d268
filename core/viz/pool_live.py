"""Figures of the live GPU-pool view (Aegaeon, SOSP'25 §3 and §6).

``gantt_figure``, ``queue_figure`` and ``live_series_figure`` draw what
``core.pool.live.LiveHistory`` collected; ``live_tiles`` gives the metric tiles of a
snapshot. Built from plain dicts without plotly's per-element validation because they are
rebuilt every frame. Colours and phases come from ``core.viz.pool``."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import plotly.graph_objects as go

from core.pool.engine import ModelView, Snapshot
from core.viz.pool import IDLE_COLOUR, PHASES, TARGET_COLOUR, Tile, model_colour, pct

PHASE_LEGEND = MappingProxyType(
    {"prefill": "prefill (thin, lighter)", "decode": "decode (solid)"}
    | {"switching": "switching (outlined)", "idle": "idle (grey line)"}
)
# Phase is drawn by bar height and explicit colours, never by opacity alone (a faded bar and
# a grey one looked the same on the dark theme; SVG hatch patterns halve the frame rate):
# (bar height, lightness added to the model's colour, fill alpha, outline width in px).
PHASE_STYLE = MappingProxyType(
    {
        "prefill": (0.45, 10, 1.0, 0),
        "decode": (0.8, 0, 1.0, 0),
        "switching": (0.8, 0, 0.2, 2),  # a box outlined in the colour of the model loading
        "idle": (0.2, 0, 1.0, 0),  # a thin grey line
    }
)
LEGEND_MODEL = 4  # the model whose colour the legends' swatches show (a mid cyan-blue)


def _fast(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain dicts without plotly's per-element validation (≈ 20× faster to
    build; the live view rebuilds its figures every frame). Specs here are tested instead."""
    base = {
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": -0.3, "yanchor": "top"},
    }
    return go.Figure({"data": data, "layout": {**base, **layout}}, _validate=False)


def _legend_entry(name: str, group: str, marker: dict, **extra: str) -> dict:
    """An empty bar trace that only shows a legend entry with ``marker``'s colours."""
    return {"type": "bar", "name": name, "legendgroup": group, "x": [None], "y": [None]} | {
        "marker": marker,
        **extra,
    }


def phase_marker(phase: str, model: int | None) -> dict:
    """The fill and outline of a ``phase`` bar of model index ``model`` (None: no model)."""
    _, lighten, alpha, line = PHASE_STYLE[phase]
    if phase == "idle" or model is None:
        return {"color": IDLE_COLOUR, "line": {"width": 0}}
    return {
        "color": model_colour(model, lighten=lighten, alpha=alpha),
        "line": {"width": line, "color": model_colour(model)},
    }


def gantt_figure(
    segments: Sequence[Sequence],
    gpu_labels: Sequence[str],
    model_index: Mapping[str, int],
    now: float,
    window_s: float = 60.0,
) -> go.Figure:
    """Per-GPU timeline of the last ``window_s`` seconds: colour = model; phase = bar shape
    (prefill thin and lighter, decode full, switching outlined in the colour of the model
    being loaded, idle a thin grey line); explicit colours that read on light and dark themes."""
    start = max(0.0, now - window_s)
    data = []
    for phase in PHASES:
        rows = [s for s in segments if s[2] == phase and s[4] > start and s[4] > s[3]]
        markers = [phase_marker(phase, None if s[1] is None else model_index.get(s[1], 0))
                   for s in rows]  # fmt: skip
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
                "width": PHASE_STYLE[phase][0],
                "marker": {
                    "color": [m["color"] for m in markers],
                    "line": {
                        "width": [m["line"]["width"] for m in markers],
                        "color": [m["line"].get("color", IDLE_COLOUR) for m in markers],
                    },
                },
                "customdata": [[html.escape(s[1] or "—"), s[3], s[4]] for s in rows],
                "hovertemplate": f"%{{y}}<br>{phase} %{{customdata[0]}}<br>"
                "%{customdata[1]:.2f}–%{customdata[2]:.2f} s<extra></extra>",
            }
        )
        legend = phase_marker(phase, LEGEND_MODEL)
        data.append(_legend_entry(PHASE_LEGEND[phase], phase, legend, orientation="h"))
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


def queue_figure(models: Sequence[ModelView], max_models: int = 60) -> go.Figure:
    """Requests per model now: waiting (queued) and being served, busiest models first."""
    busy = sorted(models, key=lambda m: (-m.in_system, m.index))[:max_models]
    busy = sorted(busy, key=lambda m: m.index)
    names = [html.escape(m.name) for m in busy]  # market names may come from an uploaded CSV
    colours = [model_colour(m.index) for m in busy]
    served = [phase_marker("switching", m.index) for m in busy]  # outlined, as on the Gantt
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
            "marker": {
                "color": [m["color"] for m in served],
                "line": {"width": 2, "color": colours},
            },
            "showlegend": False,
            "legendgroup": "s",
            "hovertemplate": "%{x}: %{y} in a batch<extra></extra>",
        },
        _legend_entry("queued (solid)", "q", phase_marker("decode", LEGEND_MODEL)),
        _legend_entry("being served (outlined)", "s", phase_marker("switching", LEGEND_MODEL)),
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


def live_tiles(snap: Snapshot, series: Mapping[str, Sequence[tuple[float, float]]]) -> list[Tile]:
    """The live view's metric tiles for a snapshot and ``core.pool.live.LiveHistory.series``."""
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
