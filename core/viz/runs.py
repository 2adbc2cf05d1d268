"""Figures for comparing saved runs: time-series curves of several runs overlaid.

Each series (``train_loss``, ``tbt_cdf``...) gets its own row with its own x axis and units
(a training step, a fraction of requests...); each run keeps one colour across rows, so a
reader follows a run down the figure.
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


# (x axis, y axis) of each series a page saves; the first matching rule decides. Series
# differ in what x means (a training step, a generated token, a fraction of requests, a
# rate), so every row of the figure gets its own x axis.
_SERIES_AXES: tuple[tuple[str, str, str], ...] = (
    ("eval_train_loss", "training step", "loss (nats/token)"),
    ("train_loss", "training step", "loss (nats/token)"),
    ("val_loss", "training step", "loss (nats/token)"),
    ("lr", "training step", "learning rate"),
    ("grad_norm", "training step", "gradient norm"),
    ("entropy", "generated token", "entropy (nats)"),
    ("cum_logprob", "generated token", "cumulative log-prob (nats)"),
    ("step_latency_ms", "generated token", "latency (ms)"),
    ("ttft_cdf", "fraction of requests", "TTFT (s)"),
    ("tbt_cdf", "fraction of tokens", "time between tokens (s)"),
    ("attainment_over_time", "simulated time (s)", "SLO attainment"),
    ("active_models_over_time", "simulated time (s)", "active models"),
    ("strict_attainment_", "rate per model (req/s)", "strict SLO attainment"),
    ("attainment_", "rate per model (req/s)", "SLO attainment"),
    ("chars_per_token", "vocabulary size", "characters per token"),
)


ROW_PX = 290  # height of one series' row
TOP_PX, BOTTOM_PX = 40, 100  # margins: the first title above, the legend below
GAP_PX = 90  # between rows: an x-axis title, then the next row's title
LEGEND_GAP_PX = 55  # from the last axis down to the legend (below its x-axis title)


def series_axes(name: str, x_title: str = "step") -> tuple[str, str]:
    """The (x, y) axis titles of a saved series; unknown series: ``x_title`` and "value"."""
    for prefix, x, y in _SERIES_AXES:
        if name == prefix or (prefix.endswith("_") and name.startswith(prefix)):
            return x, y
    return x_title, "value"


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
    height = ROW_PX * rows + TOP_PX + BOTTOM_PX
    plot_px = height - TOP_PX - BOTTOM_PX
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=False,
        # room between rows for one row's x-axis title and the next row's title
        vertical_spacing=GAP_PX / plot_px if rows > 1 else 0.0,
        subplot_titles=series or ["no series selected"],
    )
    axes = {name: series_axes(name, x_title) for name in series}
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
                    hovertemplate=f"{label}<br>{name}<br>{axes[name][0]} %{{x}}<br>"
                    f"{axes[name][1]} %{{y:.5g}}<extra></extra>",
                ),
                row=row,
                col=1,
            )
    for row, name in enumerate(series, start=1):
        fig.update_xaxes(title_text=axes[name][0], row=row, col=1)
        fig.update_yaxes(title_text=axes[name][1], row=row, col=1)
    fig.update_layout(
        height=height,
        margin={"l": 60, "r": 20, "t": TOP_PX, "b": BOTTOM_PX},
        # below the last x-axis title, never over it (it wraps to more lines when narrow)
        legend={"orientation": "h", "yanchor": "top", "y": -LEGEND_GAP_PX / plot_px},
        hovermode="closest",
    )
    return fig
