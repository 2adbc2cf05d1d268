"""Figures of the Training page: the live loss curves and the numbers beside them.

The loss figure follows the book's ch. 5.1 plot (training and validation loss against
steps, with tokens seen on a second scale in the hover): the training loss of every step
as a thin line with an exponential moving average over it, the validation loss of each
evaluation as markers. Colours are from the Okabe–Ito palette used by the Saved runs
page, readable on light and dark themes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from core.training.page import Estimate, LiveView, format_duration

TRAIN_COLOUR, VAL_COLOUR = "#0072B2", "#D55E00"
# The raw per-step line is faint beside the smoothed one, yet 2:1 against both themes' page
# backgrounds (at 0.35 it vanished on the dark one: 1.4:1).
RAW_OPACITY = 0.65
Points = Sequence[tuple[float, float | None]]


def smoothed(points: Points, weight: float = 0.9) -> list[tuple[float, float | None]]:
    """Exponential moving average (TensorBoard's, debiased); gaps (None) pass through.

    ``smoothed([(1, 4.0), (2, 2.0)], 0.5) -> [(1, 4.0), (2, 2.666...)]``
    """
    out: list[tuple[float, float | None]] = []
    avg, n = 0.0, 0
    for x, y in points:
        if y is None or not math.isfinite(y):
            out.append((x, None))
            continue
        avg, n = weight * avg + (1 - weight) * y, n + 1
        out.append((x, avg / (1 - weight**n)))
    return out


def loss_figure(train: Points, val: Points, *, height: int = 360) -> go.Figure:
    """Training loss per step (raw and smoothed) and validation loss per evaluation."""
    fig = go.Figure()
    if train:
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in train],
                y=[p[1] for p in train],
                mode="lines",
                name="train (each step)",
                line={"color": TRAIN_COLOUR, "width": 1},
                opacity=RAW_OPACITY,
                hovertemplate="step %{x}<br>train loss %{y:.3f}<extra></extra>",
            )
        )
        smooth = smoothed(train)
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in smooth],
                y=[p[1] for p in smooth],
                mode="lines",
                name="train (smoothed)",
                line={"color": TRAIN_COLOUR, "width": 2.5},
                hovertemplate="step %{x}<br>smoothed train loss %{y:.3f}<extra></extra>",
            )
        )
    if val:
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in val],
                y=[p[1] for p in val],
                mode="lines+markers",
                name="validation",
                line={"color": VAL_COLOUR, "width": 2, "dash": "dot"},
                marker={"size": 7},
                hovertemplate="step %{x}<br>validation loss %{y:.3f}<extra></extra>",
            )
        )
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        xaxis_title="step",
        yaxis_title="cross-entropy loss (nats per token)",
        hovermode="x unified",
    )
    if not train and not val:
        fig.add_annotation(
            text="waiting for the first steps…", showarrow=False, x=0.5, y=0.5, xref="paper",
            yref="paper",
        )  # fmt: skip
    return fig


def progress_tiles(view: LiveView) -> list[tuple[str, str]]:
    """(label, value) pairs shown as metrics above the curve."""
    last_val = next((y for _, y in reversed(view.val_loss) if y is not None), None)
    rate = f"{view.tokens_per_s:,.0f}" if view.tokens_per_s else "–"
    return [
        (f"step of {view.steps:,}", f"{view.step:,}"),
        ("validation loss", f"{last_val:.3f}" if last_val is not None else "–"),
        ("tokens/s", rate),
        ("time left", format_duration(view.eta_s) if view.status == "running" else "–"),
    ]


def estimate_tiles(est: Estimate) -> list[tuple[str, str]]:
    """The cost estimate before a job starts, as (label, value) pairs."""
    return [
        ("parameters", _si(est.parameters)),
        ("training FLOPs", f"{est.flops:.2g}"),
        ("memory", f"{est.memory_bytes / 2**20:,.0f} MiB"),
        ("time here (rough)", format_duration(est.seconds)),
    ]


def _si(n: float) -> str:
    """``1234 -> "1.2k"``, ``4_300_000 -> "4.3M"``."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"
