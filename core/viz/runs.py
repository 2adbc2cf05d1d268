"""Figures for comparing saved runs: time-series curves of several runs overlaid.

Each series (``train_loss``, ``slo_attainment``...) gets its own row, sharing the x axis;
each run keeps one colour across rows, so a reader follows a run down the figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Colour-blind-safe qualitative palette (Okabe–Ito) that reads on light and dark themes.
RUN_COLOURS = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
    "#999999",
    "#882255",
)


def run_colour(index: int) -> str:
    return RUN_COLOURS[index % len(RUN_COLOURS)]


def series_overlay(
    runs: Sequence[tuple[str, Mapping[str, Sequence[tuple[float, float | None]]]]],
    series: Sequence[str],
    *,
    x_title: str = "step",
) -> go.Figure:
    """Overlay the given series of several runs.

    ``runs`` is ``[(label, {series_name: [(x, y), ...]}), ...]``; a run lacking a series is
    simply absent from that row. Missing y values (NaN loss) break the line.
    """
    series = list(series)
    rows = max(1, len(series))
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08 if rows > 1 else 0.0,
        subplot_titles=series or ["no series selected"],
    )
    for run_index, (label, points) in enumerate(runs):
        for row, name in enumerate(series, start=1):
            pts = points.get(name) or []
            if not pts:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in pts],
                    y=[p[1] for p in pts],
                    mode="lines+markers" if len(pts) < 40 else "lines",
                    name=label,
                    legendgroup=label,
                    showlegend=row == 1 or not any(points.get(s) for s in series[: row - 1]),
                    line={"color": run_colour(run_index), "width": 2},
                    hovertemplate=f"{label}<br>{name}<br>{x_title} %{{x}}<br>value %{{y:.5g}}"
                    "<extra></extra>",
                ),
                row=row,
                col=1,
            )
    for row in range(1, rows + 1):
        fig.update_yaxes(title_text="value", row=row, col=1)
    fig.update_xaxes(title_text=x_title, row=rows, col=1)
    fig.update_layout(
        height=260 * rows + 80,
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
        legend={"orientation": "h", "y": -0.12 if rows == 1 else -0.05},
        hovermode="closest",
    )
    return fig
