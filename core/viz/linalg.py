"""Plotly figures for the LLM math page (pure functions: numbers in, figures out).

- `contribution_grid_figure`: x·W as the grid of products x_i·W_ij, rows = what input i
  adds, column sums = the outputs; terms not reached by the stepper are blank;
- `row_combination_figure`: each output as stacked contributions of W's rows;
- `outer_products_figure`: A·B as the sum of rank-1 outer products;
- `unit_figure`: one hidden unit's rank-1 contribution beside the change its removal makes;
- `units_figure`: the largest units of a feed-forward layer at the last position;
- `tensor_parallel_figure`: per-device partial outputs, all-reduced, against the unsplit layer;
- `bytes_figure`: bytes each simulated device holds and sends;
- `histogram_figure`: a matrix's weights before and after quantization;
- `q4_block_figure`: one GGUF block's 4-bit codes mapped to weights (w = d·q + m);
- `topk_figure`: next-token probabilities before and after quantizing one matrix;
- `parts_figure`: parameters per part; `roofline_figure`: steps against a GPU's roofline;
- `switch_figure`: model-switch time over PCIe vs one read from HBM, per GPU.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

# Diverging scale (blue negative, red positive) that reads on light and dark backgrounds.
DIVERGING = "RdBu_r"
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d"]
BEFORE, AFTER = "#4c78a8", "#f58518"
# Neutral marks (sums, references, guide lines): a mid grey, at least 3:1 against both the
# light and the dark theme's background (a dark grey vanished on the dark one).
NEUTRAL = "#888888"


def _layout(fig: go.Figure, title: str, height: int = 320) -> go.Figure:
    # legend under the x-axis title, so that neither covers the other on a narrow page
    fig.update_layout(
        title=title,
        height=height + 40,
        margin=dict(l=50, r=20, t=50, b=85),
        legend=dict(orientation="h", yanchor="top", y=-0.22, x=0),
    )
    return fig


def contribution_grid_figure(
    x: Sequence[float], w: Sequence[Sequence[float]], done: Sequence[Sequence[bool]]
) -> go.Figure:
    """Heatmap of x_i·W_ij (rows: inputs, columns: outputs), blank where not yet counted."""
    n, m = len(w), len(w[0])
    z = [[x[i] * w[i][j] if done[i][j] else None for j in range(m)] for i in range(n)]
    text = [
        [f"{x[i]:g}·{w[i][j]:g}<br>= {x[i] * w[i][j]:g}" if done[i][j] else "" for j in range(m)]
        for i in range(n)
    ]
    vmax = max((abs(v) for row in z for v in row if v is not None), default=1.0) or 1.0
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"y{j + 1}" for j in range(m)],
            y=[f"x{i + 1} = {x[i]:g}" for i in range(n)],
            text=text,
            texttemplate="%{text}",
            colorscale=DIVERGING,
            zmin=-vmax,
            zmax=vmax,
            colorbar=dict(title="x·w"),
            hovertemplate="%{y}, %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title="input i")
    fig.update_xaxes(title="output (column j of W)")
    return _layout(fig, "Every product x_i·W_ij: a row is what input i adds", 300)


def row_combination_figure(contributions: Sequence[Sequence[float]], y: Sequence[float]):
    """Each output as stacked x_i·W[i, :] (one colour per input), the total marked."""
    m = len(y)
    outs = [f"y{j + 1}" for j in range(m)]
    fig = go.Figure()
    for i, row in enumerate(contributions):
        fig.add_bar(x=outs, y=list(row), name=f"x{i + 1}·W[{i + 1}, :]",
                    marker_color=PALETTE[i % len(PALETTE)])  # fmt: skip
    fig.add_scatter(x=outs, y=list(y), mode="markers+text", name="y = sum",
                    text=[f"{v:g}" for v in y], textposition="top center",
                    marker=dict(symbol="diamond", size=12, color=NEUTRAL))  # fmt: skip
    fig.update_layout(barmode="relative")
    fig.update_yaxes(title="value")
    return _layout(fig, "y as a weighted combination of W's rows", 300)


def outer_products_figure(outer: Sequence[np.ndarray], total: np.ndarray) -> go.Figure:
    """The k rank-1 matrices A[:, t]⊗B[t, :] side by side, then their sum C."""
    from plotly.subplots import make_subplots

    mats = [np.asarray(o) for o in outer] + [np.asarray(total)]
    titles = [f"A[:, {t + 1}] ⊗ B[{t + 1}, :]" for t in range(len(outer))] + ["= C"]
    fig = make_subplots(rows=1, cols=len(mats), subplot_titles=titles, horizontal_spacing=0.02)
    vmax = float(max(np.abs(mm).max() for mm in mats)) or 1.0
    for c, mm in enumerate(mats, start=1):
        fig.add_trace(
            go.Heatmap(z=mm, text=np.round(mm, 2), texttemplate="%{text}", colorscale=DIVERGING,
                       zmin=-vmax, zmax=vmax, showscale=c == len(mats),
                       hovertemplate="row %{y}, col %{x}: %{z}<extra></extra>"),
            row=1, col=c,
        )  # fmt: skip
        fig.update_yaxes(autorange="reversed", showticklabels=c == 1, row=1, col=c)
    return _layout(fig, "A·B as a sum of outer products (each of rank 1)", 280)


def unit_figure(contribution: Sequence[float], change: Sequence[float], unit: int) -> go.Figure:
    """Across the output's dimensions: h_i·W_down[i] and full − (unit removed)."""
    dims = list(range(len(contribution)))
    fig = go.Figure()
    fig.add_bar(x=dims, y=list(contribution), name=f"h_{unit} · W_down[{unit}, :]",
                marker_color=BEFORE)  # fmt: skip
    fig.add_scatter(x=dims, y=list(change), mode="markers", name="output − output without unit",
                    marker=dict(color=AFTER, size=5))  # fmt: skip
    fig.update_xaxes(title="output dimension")
    fig.update_yaxes(title="value")
    return _layout(fig, f"Removing unit {unit} subtracts exactly its rank-1 contribution")


def pair_figure(up_column: Sequence[float], down_row: Sequence[float], unit: int) -> go.Figure:
    """Column ``unit`` of W_up (what the unit reads) beside row ``unit`` of W_down (what it
    writes), both over the d dimensions of the residual stream."""
    from plotly.subplots import make_subplots

    titles = (f"column {unit} of W_up: what unit {unit} reads",
              f"row {unit} of W_down: what it writes")  # fmt: skip
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.08)
    dims = list(range(len(up_column)))
    fig.add_bar(x=dims, y=list(up_column), marker_color=BEFORE, name="W_up column", row=1, col=1)
    fig.add_bar(x=dims, y=list(down_row), marker_color=AFTER, name="W_down row", row=1, col=2)
    fig.update_xaxes(title="dimension of x")
    fig.update_layout(showlegend=False)
    return _layout(fig, f"Hidden unit {unit}: a pair of vectors", 260)


def units_figure(units: Sequence[tuple[int, float]]) -> go.Figure:
    """The largest units' contributions (L2 norm) at the last position."""
    fig = go.Figure(
        go.Bar(x=[f"unit {i}" for i, _ in units], y=[v for _, v in units],
               marker_color=BEFORE, hovertemplate="%{x}: ‖h·W_down‖ = %{y:.4f}<extra></extra>")
    )  # fmt: skip
    fig.update_yaxes(title="‖h_i · W_down[i, :]‖")
    return _layout(fig, "Hidden units that write most into the output (last token)", 280)


def tensor_parallel_figure(
    partials: Sequence[Sequence[float]], reduced: Sequence[float], reference: Sequence[float]
) -> go.Figure:
    """The first output dimensions: each device's partial (stacked), the all-reduced sum,
    and the unsplit layer's output on top of it."""
    dims = [str(d) for d in range(len(reduced))]
    fig = go.Figure()
    for r, p in enumerate(partials):
        fig.add_bar(x=dims, y=list(p), name=f"device {r}", marker_color=PALETTE[r % len(PALETTE)])
    fig.add_scatter(x=dims, y=list(reduced), mode="markers", name="all-reduced sum",
                    marker=dict(symbol="line-ew-open", size=18, line=dict(width=3)))  # fmt: skip
    fig.add_scatter(x=dims, y=list(reference), mode="markers", name="unsplit layer",
                    marker=dict(symbol="circle-open", size=10, color=NEUTRAL))  # fmt: skip
    fig.update_layout(barmode="relative")
    fig.update_xaxes(title="output dimension (first ones)")
    fig.update_yaxes(title="value")
    return _layout(fig, "Partial sums per device, all-reduced = the unsplit layer", 340)


def bytes_figure(held: Sequence[int], sent: Sequence[int]) -> go.Figure:
    """Bytes each simulated device holds (weights) and sends (all-reduce)."""
    devs = [f"device {r}" for r in range(len(held))]
    fig = go.Figure()
    fig.add_bar(x=devs, y=list(held), name="weights held", marker_color=BEFORE)
    fig.add_bar(x=devs, y=list(sent), name="sent in the all-reduce", marker_color=AFTER)
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="bytes")
    return _layout(fig, "What each device holds and sends", 280)


def histogram_figure(
    counts_before: Sequence[int], counts_after: Sequence[int], edges: Sequence[float], title: str
) -> go.Figure:
    """Weights before and after quantization over the same bins."""
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    fig = go.Figure()
    fig.add_bar(x=centres, y=list(counts_before), name="original", marker_color=BEFORE,
                opacity=0.6)  # fmt: skip
    fig.add_bar(x=centres, y=list(counts_after), name="quantized", marker_color=AFTER,
                opacity=0.6)  # fmt: skip
    fig.update_layout(barmode="overlay", bargap=0)
    fig.update_xaxes(title="weight value")
    fig.update_yaxes(title="count", type="log")
    return _layout(fig, title, 320)


def q4_block_figure(codes: Sequence[int], values: Sequence[float], scale: float,
                    minimum: float | None) -> go.Figure:  # fmt: skip
    """The block's 32 weights: code q on x, weight on y, on the line w = d·q + m."""
    m = minimum or 0.0
    grid = list(range(16)) if minimum is not None else [min(codes), max(codes)]
    fig = go.Figure()
    fig.add_scatter(
        x=grid,
        y=[scale * q + m for q in grid],
        mode="lines",
        name=f"w = {scale:.4g}·q + {m:.4g}",
        line=dict(color=NEUTRAL, dash="dot"),
    )
    fig.add_scatter(x=list(codes), y=list(values), mode="markers", name="the 32 weights",
                    marker=dict(color=BEFORE, size=8),
                    hovertemplate="code %{x} → %{y:.5f}<extra></extra>")  # fmt: skip
    fig.update_xaxes(title="stored code q")
    fig.update_yaxes(title="weight")
    return _layout(fig, "One block: codes → weights", 300)


def topk_figure(
    before: Sequence[tuple[str, float]], after: Sequence[tuple[str, float]]
) -> go.Figure:
    """Next-token probabilities of the top tokens before and after quantizing (labels are
    token texts, escaped here because plotly reads tags)."""
    labels = list(dict.fromkeys([t for t, _ in before] + [t for t, _ in after]))
    pb, pa = dict(before), dict(after)
    shown = [html.escape(t, quote=False) for t in labels]
    fig = go.Figure()
    fig.add_bar(x=shown, y=[pb.get(t, 0.0) for t in labels], name="original",
                marker_color=BEFORE)  # fmt: skip
    fig.add_bar(x=shown, y=[pa.get(t, 0.0) for t in labels], name="quantized",
                marker_color=AFTER)  # fmt: skip
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="probability", tickformat=".0%")
    return _layout(fig, "Next-token probabilities (top tokens of either)", 320)


def parts_figure(rows: Sequence[tuple[str, dict[str, int]]]) -> go.Figure:
    """Parameters per part, one horizontal bar per model (share of its total)."""
    fig = go.Figure()
    names = [name for name, _ in rows]
    keys = list(rows[0][1]) if rows else []
    for k, key in enumerate(keys):
        totals = [sum(p.values()) for _, p in rows]
        fig.add_bar(
            y=names, x=[p[key] / t for (_, p), t in zip(rows, totals, strict=True)], name=key,
            orientation="h", marker_color=PALETTE[k],
            customdata=[p[key] for _, p in rows],
            hovertemplate=f"{key}: %{{customdata:,}} (%{{x:.1%}})<extra></extra>",
        )  # fmt: skip
    fig.update_layout(barmode="stack")
    fig.update_xaxes(tickformat=".0%", range=[0, 1], dtick=0.25)  # share of the parameters
    return _layout(fig, "Where the parameters are (share of each model's total)",
                   200 + 40 * len(rows))  # fmt: skip


def roofline_figure(
    gpu_name: str,
    peak_flops: float,
    bandwidth: float,
    points: Sequence[tuple[str, float, float]],
) -> go.Figure:
    """log-log roofline: attainable FLOP/s = min(peak, intensity × bandwidth), and points
    (label, intensity FLOP/byte, achieved FLOP/s)."""
    labelled = {0, len(points) // 2, len(points) - 2, len(points) - 1}  # the rest: hover
    lo = min([0.1] + [p[1] / 2 for p in points])
    hi = max([10 * peak_flops / bandwidth] + [p[1] * 2 for p in points])
    xs = list(np.geomspace(lo, hi, 200))
    fig = go.Figure()
    fig.add_scatter(x=xs, y=[min(peak_flops, x * bandwidth) / 1e12 for x in xs], mode="lines",
                    name=f"{gpu_name} roofline", line=dict(color=NEUTRAL))  # fmt: skip
    fig.add_scatter(
        x=[p[1] for p in points], y=[p[2] / 1e12 for p in points], mode="markers+text",
        text=[p[0] if i in labelled else "" for i, p in enumerate(points)],
        hovertext=[p[0] for p in points], textposition="top left", name="steps",
        marker=dict(color=AFTER, size=9),
        hovertemplate="%{hovertext}: %{x:.3g} FLOP/byte, %{y:.3g} TFLOP/s<extra></extra>",
    )  # fmt: skip
    ridge = peak_flops / bandwidth  # a trace, not add_vline: shapes take log10 on log axes
    fig.add_scatter(x=[ridge, ridge], y=[ridge * bandwidth / 1e12 / 1e4, peak_flops / 1e12],
                    mode="lines", name=f"ridge {ridge:.0f} FLOP/byte",
                    line=dict(color=NEUTRAL, dash="dot"))  # fmt: skip
    fig.update_xaxes(
        type="log", dtick=1, title="arithmetic intensity (FLOP per byte of HBM traffic)"
    )
    fig.update_yaxes(type="log", dtick=1, title="attainable TFLOP/s")
    return _layout(fig, f"Roofline of the {gpu_name}: decode is memory-bound until batched", 380)


def switch_figure(rows: Sequence[tuple[str, float, float]]) -> go.Figure:
    """Per GPU: seconds to load the weights over PCIe and to read them once from HBM."""
    names = [r[0] for r in rows]
    fig = go.Figure()
    fig.add_bar(x=names, y=[r[1] for r in rows], name="load over PCIe (switch)",
                marker_color=AFTER)  # fmt: skip
    fig.add_bar(x=names, y=[r[2] for r in rows], name="read once from HBM (decode step floor)",
                marker_color=BEFORE)  # fmt: skip
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="seconds (log scale)", type="log", dtick=1, tickformat="~g")
    return _layout(fig, "Model-switch time = weight bytes / PCIe bandwidth", 320)
