"""Attention figures: the model view as one image, one head's heatmap, differences, steps.

Pure functions: numpy arrays and labels in, a ``go.Figure`` out. Token labels are passed
through ``html.escape`` here (plotly renders a subset of HTML in ticks and hover text).

The **model view** draws every head of a page of layers as thumbnails in *one* PNG image
(``go.Image``), not one chart per head, so a 30 x 9 model (SmolLM2) or a 48 x 25 one stays
one figure of a few hundred kilobytes; a thumbnail larger than ``THUMB_MAX`` pixels is
max-pooled (a one-token-wide diagonal stays visible). An invisible marker at the centre of
each thumbnail carries the hover text (the head's label and statistics) and makes the head
clickable. Weights are shown on one absolute 0..1 scale (heads compare), or each map
scaled to its own maximum (``contrast``). Colours: Viridis for weights (reads in light and
dark themes), a red-blue diverging scale centred at 0 for differences.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.colors import sample_colorscale

THUMB_MAX = 48  # pixels per thumbnail side, at most
GAP = 2  # pixels between thumbnails
WEIGHT_SCALE = "Viridis"
DIFF_SCALE = "RdBu_r"  # red = more attention in the second text, blue = less
HIGHLIGHT_INDUCTION = "#ff4b4b"
HIGHLIGHT_SELECTED = "#ffffff"
BACKGROUND = (40, 40, 48)  # gaps between thumbnails


def _lut(scale: str = WEIGHT_SCALE) -> np.ndarray:
    """(256, 3) uint8 colours of a plotly colour scale."""
    colours = sample_colorscale(scale, np.linspace(0, 1, 256).tolist(), colortype="tuple")
    return (np.asarray(colours) * 255).round().astype(np.uint8)


def pool_map(weights: np.ndarray, size: int) -> np.ndarray:
    """(size, size) max-pooled copy of a (T, T) map with T > size; T <= size: unchanged."""
    T = weights.shape[0]
    if size >= T:
        return weights
    edges = np.linspace(0, T, size + 1).round().astype(int)[:-1]
    rows = np.maximum.reduceat(weights, edges, axis=0)
    return np.maximum.reduceat(rows, edges, axis=1)


def grid_image(
    attn: np.ndarray, layers: Sequence[int], *, contrast: bool = False, thumb: int = THUMB_MAX
) -> tuple[np.ndarray, int]:
    """(RGB image, thumbnail side): rows = the given layers, columns = heads."""
    L, H, T, _ = attn.shape
    side = min(T, thumb)
    lut = _lut()
    step = side + GAP
    img = np.empty((len(layers) * step - GAP, H * step - GAP, 3), dtype=np.uint8)
    img[:] = BACKGROUND
    for r, layer in enumerate(layers):
        for h in range(H):
            m = pool_map(attn[layer, h], side)
            if contrast:
                m = m / max(float(m.max()), 1e-9)
            idx = np.clip(m * 255, 0, 255).round().astype(np.uint8)
            img[r * step : r * step + side, h * step : h * step + side] = lut[idx]
    return img, side


def png_data_uri(img: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=1)  # level 9: 5x slower, 1% smaller
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def model_view_figure(
    attn: np.ndarray,
    layers: Sequence[int],
    *,
    hover: dict[tuple[int, int], str] | None = None,
    highlight: Sequence[tuple[int, int]] = (),
    selected: tuple[int, int] | None = None,
    contrast: bool = False,
    kv_heads: Sequence[int] | None = None,
) -> go.Figure:
    """All heads of ``layers`` as one image; click a head's marker to select it.

    ``kv_heads`` (grouped-query attention): the key/value head each query head reads,
    shown under the head numbers (``h4 · kv1``) so heads that share one are seen together.

    ``hover`` maps (layer, head) to plain hover text, lines split by ``\n`` (escaped here); ``highlight`` heads
    get a red frame (induction heads), ``selected`` a white one.
    """
    L, H, T, _ = attn.shape
    img, side = grid_image(attn, layers, contrast=contrast)
    step = side + GAP
    fig = go.Figure(go.Image(source=png_data_uri(img), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"))
    xs, ys, texts, keys = [], [], [], []
    for r, layer in enumerate(layers):
        for h in range(H):
            xs.append(h * step + side / 2 - 0.5)
            ys.append(r * step + side / 2 - 0.5)
            text = (hover or {}).get((layer, h), "")
            lines = [f"layer {layer}, head {h}", *(text.split("\n") if text else [])]
            texts.append("<br>".join(html.escape(line) for line in lines))
            keys.append([layer, h])
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            marker={"size": max(8, min(40, side)), "symbol": "square", "opacity": 0.01},
            customdata=keys,
            hovertext=texts,
            hoverinfo="text",
            showlegend=False,
            name="heads",
        )
    )
    shapes = []
    for (layer, h), colour in [(k, HIGHLIGHT_INDUCTION) for k in highlight] + (
        [(selected, HIGHLIGHT_SELECTED)] if selected else []
    ):
        if layer not in layers:
            continue
        r = list(layers).index(layer)
        shapes.append(
            {
                "type": "rect",
                "x0": h * step - 1.5,
                "x1": h * step + side + 0.5,
                "y0": r * step - 1.5,
                "y1": r * step + side + 0.5,
                "line": {"color": colour, "width": 2},
            }
        )
    # Head and layer names as text in data coordinates: they stay next to the image
    # whatever its displayed size (axis ticks would stay at the edges of the plot area).
    top = side * (0.9 if kv_heads is None else 1.4)  # room above the image for head names
    left = side * 1.0  # room on the left for layer names
    fig.add_trace(
        go.Scatter(
            x=[h * step + side / 2 - 0.5 for h in range(H)],
            y=[-top / 2 - 0.5] * H,
            mode="text",
            text=[f"h{h}" if kv_heads is None else f"h{h}<br>kv{kv_heads[h]}" for h in range(H)],
            textfont={"size": 11},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[-left / 2 - 0.5] * len(layers),
            y=[r * step + side / 2 - 0.5 for r in range(len(layers))],
            mode="text",
            text=[f"L{layer}" for layer in layers],
            textfont={"size": 11},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    px_per_cell = max(28, min(100, 800 // max(H, 1)))
    fig.update_layout(
        shapes=shapes,
        height=int((len(layers) * step + top) * px_per_cell / step) + 20,
        margin={"l": 0, "r": 0, "t": 10, "b": 10},
        xaxis={
            "visible": False,
            "range": [-left - 0.5, img.shape[1] - 0.5],
            "constrain": "domain",
        },
        yaxis={
            "visible": False,
            "range": [img.shape[0] - 0.5, -top - 0.5],  # reversed: layer 0 on top
            "scaleanchor": "x",
            "constrain": "domain",
            "constraintoward": "top",
        },
        dragmode=False,
        hoverlabel={"align": "left"},
    )
    return fig


def _axis_labels(tokens: Sequence[str]) -> list[str]:
    """Unique category labels ``"3 ·the"`` (a category axis merges repeated names)."""
    return [html.escape(f"{i} {t}") for i, t in enumerate(tokens)]


def head_heatmap_figure(
    weights: np.ndarray, tokens: Sequence[str], *, title: str = "", queries: Sequence[int] = ()
) -> go.Figure:
    """One head: rows = query tokens, columns = key tokens, weight on hover; masked cells blank."""
    T = weights.shape[0]
    labels = _axis_labels(tokens)
    z = np.round(weights.astype(np.float64), 4)
    z[np.triu_indices(T, 1)] = np.nan  # the causal mask: nothing to show
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            colorscale=WEIGHT_SCALE,
            zmin=0,
            zmax=1,
            colorbar={"title": {"text": "weight"}},
            hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.4f}<extra></extra>",
            hoverongaps=False,
        )
    )
    for q in queries:
        if 0 <= q < T:
            fig.add_shape(
                type="rect", x0=-0.5, x1=q + 0.5, y0=q - 0.5, y1=q + 0.5,
                line={"color": HIGHLIGHT_INDUCTION, "width": 2},
            )  # fmt: skip
    _square(fig, T, html.escape(title), "key (attended to)", "query (attending)")
    return fig


def _square(fig: go.Figure, T: int, title: str, xtitle: str, ytitle: str) -> None:
    size = max(360, min(760, 22 * T + 160))
    fig.update_layout(
        title={"text": title},
        height=size,
        margin={"l": 10, "r": 10, "t": 50 if title else 20, "b": 10},
        xaxis={
            "title": {"text": xtitle},
            "tickangle": -60,
            "type": "category",
            "constrain": "domain",
        },
        yaxis={
            "title": {"text": ytitle},
            "autorange": "reversed",
            "type": "category",
            "scaleanchor": "x",  # square cells: a map reads the same both ways
            "constrain": "domain",
        },
    )


def combined_figure(values: np.ndarray, tokens: Sequence[str], queries: Sequence[int]) -> go.Figure:
    """Mean attention of the selected query tokens over every key token (bars sum to 1)."""
    labels = _axis_labels(tokens)
    shown = ", ".join(html.escape(tokens[q]) for q in queries[:6]) + (
        " …" if len(queries) > 6 else ""
    )
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=np.round(values.astype(np.float64), 4),
            marker_color="#1f77b4",
            hovertemplate="key %{x}<br>mean weight %{y:.4f}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": f"Combined attention of {len(queries)} query token(s): {shown}"},
        height=360,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"title": {"text": "key token"}, "tickangle": -60, "type": "category"},
        yaxis={"title": {"text": "mean weight"}, "rangemode": "tozero"},
    )
    return fig


def difference_figure(values: np.ndarray, tokens: Sequence[str], *, title: str = "") -> go.Figure:
    """Second text minus first for one head, diverging colours centred at 0."""
    T = values.shape[0]
    labels = _axis_labels(tokens)
    z = np.round(values.astype(np.float64), 4)
    z[np.triu_indices(T, 1)] = np.nan
    bound = max(float(np.nanmax(np.abs(z))) if T else 0.0, 1e-6)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            colorscale=DIFF_SCALE,
            zmid=0,
            zmin=-bound,
            zmax=bound,
            colorbar={"title": {"text": "Δ weight"}},
            hovertemplate="query %{y}<br>key %{x}<br>difference %{z:+.4f}<extra></extra>",
            hoverongaps=False,
        )
    )
    _square(fig, T, html.escape(title), "key (attended to)", "query (attending)")
    return fig


def scores_figure(
    scores: np.ndarray,
    *,
    title: str,
    highlight_at: float | None = None,
    zmax: float | None = 1.0,
) -> go.Figure:
    """A (layers, heads) table of scores as a heatmap (e.g. the induction probe); ``zmax``
    None scales the colours to the largest score."""
    L, H = scores.shape
    fig = go.Figure(
        go.Heatmap(
            z=np.round(scores.astype(np.float64), 3),
            x=[f"h{h}" for h in range(H)],
            y=[f"L{layer}" for layer in range(L)],
            colorscale=WEIGHT_SCALE,
            zmin=0,
            zmax=zmax if zmax is not None else max(float(scores.max()), 1e-9),
            colorbar={"title": {"text": "score"}},
            hovertemplate="%{y} %{x}<br>score %{z:.3f}<extra></extra>",
            texttemplate="%{z:.2f}" if L * H <= 200 else None,
        )
    )
    if highlight_at is not None:
        for layer, h in zip(*np.nonzero(scores >= highlight_at), strict=True):
            fig.add_shape(
                type="rect", x0=h - 0.5, x1=h + 0.5, y0=layer - 0.5, y1=layer + 0.5,
                line={"color": HIGHLIGHT_INDUCTION, "width": 2},
            )  # fmt: skip
    fig.update_layout(
        title={"text": html.escape(title)},
        height=max(260, 22 * L + 110),
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"title": {"text": "head"}, "side": "bottom"},
        yaxis={"title": {"text": "layer"}, "autorange": "reversed"},
    )
    return fig


def matrix_figure(
    m: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str] | None = None,
    *,
    title: str,
    xtitle: str = "",
    diverging: bool = True,
    numbers: bool | None = None,
) -> go.Figure:
    """A small matrix of one step (Q, K, scores, ...) with its numbers on hover (and shown
    in the cells when it is small). ``-inf`` cells (the mask) are drawn blank, marked −∞."""
    z = m.astype(np.float64)
    rows, cols = z.shape
    masked = np.isneginf(z)
    finite = np.where(np.isfinite(z), z, np.nan)
    bound = max(float(np.nanmax(np.abs(finite))) if np.isfinite(finite).any() else 0.0, 1e-9)
    cells = np.where(masked, "−∞", np.char.mod("%.3g", np.nan_to_num(finite)))
    numbered = col_labels is None  # plain feature columns: "7", not "7 7"
    col_labels = [] if numbered else list(col_labels)
    if numbers is None:
        numbers = rows * cols <= 260
    fig = go.Figure(
        go.Heatmap(
            z=np.round(finite, 5),
            x=[str(j) for j in range(cols)]
            if numbered
            else [html.escape(f"{j} {c}") for j, c in enumerate(col_labels)],
            y=[html.escape(f"{i} {r}") for i, r in enumerate(row_labels)],
            text=cells,
            texttemplate="%{text}" if numbers else None,
            colorscale=DIFF_SCALE if diverging else WEIGHT_SCALE,
            zmid=0 if diverging else None,
            zmin=-bound if diverging else 0,
            zmax=bound if diverging else max(bound, 1e-9),
            hovertemplate="%{y} · %{x}<br>%{text}<extra></extra>",
            hoverongaps=True,
            showscale=False,
        )
    )
    fig.update_layout(
        title={"text": html.escape(title)},
        height=max(200, min(620, 26 * rows + 120)),
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        xaxis={"title": {"text": xtitle}, "type": "category", "tickangle": -60},
        yaxis={"autorange": "reversed", "type": "category"},
    )
    return fig


LINE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
LINE_BUCKETS = (0.02, 0.1, 0.25, 0.5, 0.75, 1.0001)  # weight bands, one trace each
MAX_LINES = 3000


def lines_figure(
    heads: dict[int, np.ndarray],
    tokens: Sequence[str],
    *,
    queries: Sequence[int] = (),
    min_weight: float = LINE_BUCKETS[0],
) -> go.Figure:
    """BertViz's head view: query tokens left, key tokens right, one line per weight.

    ``heads`` maps a head number to its (T, T) weights (one colour each); a line's opacity
    and width grow with its weight; weights below ``min_weight`` are not drawn, and at most
    ``MAX_LINES`` of the largest are. With ``queries``, only those tokens' lines are drawn.
    Click a token on the left to keep only its lines (the page reads the selection).
    """
    T = len(tokens)
    rows = list(queries) if queries else list(range(T))
    fig = go.Figure()
    found = []
    for colour_index, (head, w) in enumerate(heads.items()):
        for i in rows:
            for j in range(i + 1):
                if w[i, j] >= min_weight:
                    found.append((float(w[i, j]), colour_index, head, i, j))
    found.sort(reverse=True)
    found = found[:MAX_LINES]
    in_legend: set[int] = set()
    for colour_index, head in enumerate(heads):
        colour = LINE_COLOURS[colour_index % len(LINE_COLOURS)]
        for lo, hi in zip(LINE_BUCKETS, LINE_BUCKETS[1:], strict=False):
            xs: list[float | None] = []
            ys: list[float | None] = []
            for weight, c, _, i, j in found:
                if c == colour_index and lo <= weight < hi:
                    xs += [0.0, 1.0, None]
                    ys += [float(i), float(j), None]
            if xs:
                mid = min(1.0, (lo + hi) / 2)
                fig.add_trace(
                    go.Scatter(
                        x=xs,
                        y=ys,
                        mode="lines",
                        line={"color": colour, "width": 0.5 + 3 * mid},
                        opacity=0.15 + 0.85 * mid,
                        hoverinfo="skip",
                        showlegend=lo == LINE_BUCKETS[0]
                        or not any(tr.name == f"head {head}" for tr in fig.data),
                        name=f"head {head}",
                        legendgroup=f"head {head}",
                    )
                )
                in_legend.add(head)
    labels = [html.escape(t) for t in tokens]
    fig.add_trace(
        go.Scatter(
            x=[0.0] * T,
            y=list(range(T)),
            mode="markers+text",
            text=labels,
            textposition="middle left",
            marker={"size": 7, "color": ["#d62728" if i in queries else "#888" for i in range(T)]},
            customdata=list(range(T)),
            hovertemplate="query %{y}: %{text}<extra></extra>",
            showlegend=False,
            name="queries",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[1.0] * T,
            y=list(range(T)),
            mode="markers+text",
            text=labels,
            textposition="middle right",
            marker={"size": 7, "color": "#888"},
            hovertemplate="key %{y}: %{text}<extra></extra>",
            showlegend=False,
            name="keys",
        )
    )
    fig.update_layout(
        height=max(260, 19 * T + 80),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"visible": False, "range": [-0.7, 1.7], "fixedrange": True},
        yaxis={"visible": False, "autorange": "reversed", "fixedrange": True},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
        dragmode=False,
    )
    return fig
