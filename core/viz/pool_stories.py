"""Figures of the GPU-pool page's guided stories (``core.pool.stories``): one per chart kind.

``story_figure(result)`` draws a ``StoryResult``: the market's popularity (``market``),
attainment curves with the 90% line and each policy's crossing (``curves``), attainment
bars per policy and switch cost (``bars``), or active models over time against Theorem
3.1's E[m] (``active``). Pure functions to plotly, in the pool figures' palette."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go

from core.pool.stories import TARGET, StoryResult
from core.viz.pool import (
    TARGET_COLOUR,
    _layout,
    market_figure,
    policy_colour,
    sweep_figure,
)


def bars_figure(bars: Mapping[str, Mapping[str, float]]) -> go.Figure:
    """SLO attainment per policy (groups) and variant (bars), with the 90% line."""
    fig = go.Figure()
    variants = list(dict.fromkeys(v for per in bars.values() for v in per))
    for j, variant in enumerate(variants):
        pols = [p for p in bars if variant in bars[p]]
        fig.add_trace(
            go.Bar(
                x=pols,
                y=[bars[p][variant] for p in pols],
                name=f"{variant} switch",
                marker={
                    "color": [policy_colour(p) for p in pols],
                    "pattern": {"shape": "" if j == 0 else "/"},
                },
                text=[f"{bars[p][variant]:.1%}" for p in pols],
                textposition="outside",
                hovertemplate=f"%{{x}}, {variant} switch: %{{y:.1%}}<extra></extra>",
            )
        )
    fig.add_hline(
        y=TARGET,
        line={"color": TARGET_COLOUR, "dash": "dash", "width": 1},
        annotation_text=f"{TARGET:.0%} SLO attainment",
    )
    fig.update_yaxes(title_text="SLO attainment", range=[0, 1.15], tickformat=".0%")
    fig.update_xaxes(title_text="policy")
    return _layout(fig, 380, barmode="group")


def active_figure(series: list[tuple[float, float]], expected: float) -> go.Figure:
    """Time-average active models per bin, and Theorem 3.1's E[m] as a line."""
    fig = go.Figure(
        go.Scatter(
            x=[t for t, _ in series],
            y=[m for _, m in series],
            mode="lines",
            name="active models (measured)",
            line={"color": policy_colour("dedicated"), "width": 2},
            hovertemplate="t = %{x:.0f} s: %{y:.1f} active<extra></extra>",
        )
    )
    fig.add_hline(
        y=expected,
        line={"color": TARGET_COLOUR, "dash": "dash", "width": 2},
        annotation_text=f"E[m] = {expected:.2f}",
    )
    fig.update_xaxes(title_text="simulated time (s)")
    fig.update_yaxes(title_text="models with a request in the system", rangemode="tozero")
    return _layout(fig, 360)


def story_figure(result: StoryResult) -> go.Figure:
    """The chart of a story's result."""
    d = result.data
    if result.chart == "market":
        return market_figure(d["names"], d["rates"])
    if result.chart == "curves":
        fig = sweep_figure(d["curves"], d["marks"], d["x_title"], TARGET)
        for trace in fig.data:  # curves measured on the artifact's traces: dotted, thinner
            if "artifact" in (trace.name or ""):
                trace.line.dash, trace.line.width = "dot", 1.5
        return fig
    if result.chart == "bars":
        return bars_figure(d["bars"])
    if result.chart == "active":
        return active_figure(d["series"], d["expected"])
    raise ValueError(f"unknown story chart {result.chart!r}")
