"""Figures of the Embedding spaces page: projected tables, positions, paths through layers.

Pure functions: arrays in, ``go.Figure`` out. The token scatter is WebGL (``Scattergl`` in
2-D, ``Scatter3d`` in 3-D) and its numbers are numpy arrays (float32 coordinates, int32
ids), which plotly ≥ 6 sends as base64 typed arrays rather than decimal text: 50,000 points
with their hover texts make about 2 MB of JSON (bench/bench_embeddings.py). Token texts are
HTML-escaped once here (plotly renders a subset of HTML in hover labels and text).
Colours are the Okabe–Ito hues (colour-blind safe), the light ones darkened so that every
mark has at least 3:1 contrast on the light and the dark theme (WCAG's ratio for graphics).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from core.embeddings.contextual import Context
from core.embeddings.positional import LearnedPositions, RotaryPositions
from core.embeddings.procrustes import Comparison
from core.embeddings.view import PointGroup

ROLE_COLOURS = {
    "word start": "#0072B2",
    "subword": "#1D9AE0",
    "number": "#C28600",
    "punctuation": "#009E73",
    "whitespace": "#929292",
    "special": "#D55E00",
    "non-Latin script": "#CB77A5",
    "byte piece": "#9D930C",
    "unused row": "#9C7A54",  # muted brown: >= 3:1 on the light and the dark background
    "other": "rgba(140,140,140,0.35)",
    "match": "#D55E00",
    "selected": "#0072B2",
    "highlight": "#D62728",
}
OPAQUE_OTHER = "#8c8c8c"  # "other" in 3-D
LABELLED_HIGHLIGHTS = 40  # highlighted points that also get their text written on the plot


def hover_texts(texts: Sequence[str]) -> list[str]:
    """Token texts made safe for plotly's hover labels (HTML-escaped)."""
    return [html.escape(t, quote=False) for t in texts]


def _axis_titles(method: str, explained: Sequence[float], dims: int) -> list[str]:
    if method == "pca":
        return [
            f"PC{i + 1} ({explained[i]:.1%} of variance)" if i < len(explained) else f"PC{i + 1}"
            for i in range(dims)
        ]
    if method == "direct":
        return [f"dimension {i + 1}" for i in range(dims)]
    return [f"t-SNE {i + 1}" for i in range(dims)]


def token_scatter(
    coords: np.ndarray,
    ids: np.ndarray,
    texts: Sequence[str],
    groups: Sequence[PointGroup],
    *,
    method: str,
    explained: Sequence[float] = (),
    highlight: np.ndarray | None = None,
    highlight_name: str = "highlighted",
    title: str = "",
) -> go.Figure:
    """Every projected token as a point, one trace per group, highlights on top.

    ``coords`` (n, 2 or 3), ``ids`` (n,) token ids, ``texts`` (n,) escaped hover texts
    (:func:`hover_texts`), ``highlight``: rows drawn large and labelled (neighbours).
    """
    dims = 3 if coords.shape[1] >= 3 else 2
    if coords.shape[1] == 1:  # a width-1 table: spread it along x
        coords = np.column_stack([coords[:, 0], np.zeros(len(coords), dtype=np.float32)])
    coords = np.ascontiguousarray(coords, dtype=np.float32)
    ids32 = np.asarray(ids, dtype=np.int32)
    texts_arr = np.asarray(texts, dtype=object)
    hover = "%{text}<br>id %{customdata}<extra>%{fullData.name}</extra>"
    fig = go.Figure()

    def trace(rows: np.ndarray, name: str, colour: str, size: float, labelled: bool = False):
        pts = coords[rows]
        common = {
            "name": name,
            "text": texts_arr[rows],  # an object array: validated 400x faster than a list
            "customdata": ids32[rows],
            "hovertemplate": hover,
            "mode": "markers+text" if labelled else "markers",
            "marker": {"color": colour, "size": size},
        }
        if dims == 3:  # WebGL 3-D draws translucent points as white discs: opaque, no outline
            opaque = OPAQUE_OTHER if colour == ROLE_COLOURS["other"] else colour
            common["marker"] = {"color": opaque, "size": size, "line": {"width": 0}}
        if labelled:
            common["textposition"] = "top center"
            common["textfont"] = {"color": colour, "size": 12}
        if dims == 3:
            return go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], **common)
        return go.Scattergl(x=pts[:, 0], y=pts[:, 1], **common)

    small = 3 if len(coords) > 5_000 else 5
    if dims == 3:
        small = max(1.5, small - 1.5)
    for group in groups:
        if len(group.rows):
            colour = ROLE_COLOURS.get(group.role, "#888888")
            fig.add_trace(trace(group.rows, f"{group.name} ({len(group.rows):,})", colour, small))
    if highlight is not None and len(highlight):
        labelled = len(highlight) <= LABELLED_HIGHLIGHTS
        fig.add_trace(
            trace(
                highlight,
                html.escape(highlight_name, quote=False),
                ROLE_COLOURS["highlight"],
                small + 6,
                labelled,
            )
        )
    titles = _axis_titles(method, explained, dims)
    layout: dict = {
        "title": {"text": title},
        "height": 620,
        "margin": {"l": 10, "r": 10, "t": 60, "b": 10},
        "legend": {
            "itemsizing": "constant",
            "orientation": "h",  # above the plot: the points keep the full width
            "yanchor": "bottom",
            "y": 1.0,
            "x": 0,
            "title": {"text": "click to hide:"},
        },
        "hoverlabel": {"namelength": 30},
        "uirevision": "embeddings",  # keep zoom while highlights change
    }
    if dims == 3:
        layout["scene"] = {
            "xaxis": {"title": {"text": titles[0]}},
            "yaxis": {"title": {"text": titles[1]}},
            "zaxis": {"title": {"text": titles[2]}},
        }
    else:
        layout["xaxis"] = {"title": {"text": titles[0]}, "zeroline": False}
        layout["yaxis"] = {"title": {"text": titles[1]}, "zeroline": False}
    fig.update_layout(**layout)
    return fig


def payload_bytes(fig: go.Figure) -> int:
    """Bytes of the figure's JSON as the browser receives it (what ``st.plotly_chart`` sends)."""
    return len(pio.to_json(fig, validate=False).encode())


def position_similarity(view: LearnedPositions) -> go.Figure:
    """Heatmap: cosine similarity of every pair of learned position rows."""
    fig = go.Figure(
        go.Heatmap(
            z=view.similarity,
            colorscale="RdBu",
            zmid=0,
            zmin=-1,
            zmax=1,
            colorbar={"title": {"text": "cosine"}},
            hovertemplate="positions %{y} and %{x}<br>cosine %{z:.3f}<extra></extra>",
        )
    )
    shown = f" (first {view.shown} of {view.total})" if view.shown < view.total else ""
    fig.update_layout(
        title={"text": f"Cosine similarity of position embeddings{shown}"},
        xaxis={"title": {"text": "position"}, "constrain": "domain"},
        yaxis={
            "title": {"text": "position"},
            "autorange": "reversed",
            "scaleanchor": "x",
            "constrain": "domain",
        },
        height=520,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig


def position_components(view: LearnedPositions) -> go.Figure:
    """Line chart: the first principal components of the position rows against position."""
    fig = go.Figure()
    positions = np.arange(view.components.shape[0])
    for i in range(view.components.shape[1]):
        label = f"PC{i + 1} ({view.explained[i]:.1%})"
        fig.add_trace(
            go.Scatter(
                x=positions,
                y=view.components[:, i],
                mode="lines",
                name=label,
                hovertemplate=f"position %{{x}}<br>{label}: %{{y:.3f}}<extra></extra>",
            )
        )
    fig.update_layout(
        title={"text": "Principal components of the position table, against position"},
        xaxis={"title": {"text": "position"}},
        yaxis={"title": {"text": "component value"}},
        height=420,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig


def rotary_cosines(view: RotaryPositions) -> go.Figure:
    """Heatmap: cos(position × frequency) for every rotary pair (fast pairs at the top)."""
    fig = go.Figure(
        go.Heatmap(
            z=view.cosines.T,
            colorscale="RdBu",
            zmid=0,
            zmin=-1,
            zmax=1,
            colorbar={"title": {"text": "cos"}},
            customdata=np.repeat(view.wavelengths[:, None], view.cosines.shape[0], 1),
            hovertemplate="pair %{y}, position %{x}<br>cos %{z:.3f}<br>"
            "one turn every %{customdata:.4g} positions<extra></extra>",
        )
    )
    fig.update_layout(
        title={
            "text": f"Rotary angles: cos(position × θ^(−2i/{view.head_dim})), θ = {view.theta:g}"
        },
        xaxis={"title": {"text": "position"}},
        yaxis={"title": {"text": "dimension pair i"}, "autorange": "reversed"},
        height=460,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig


def rotary_wavelengths(view: RotaryPositions) -> go.Figure:
    """Bar chart (log scale): positions per full turn of each rotary pair."""
    fig = go.Figure(
        go.Bar(
            x=np.arange(len(view.wavelengths)),
            y=view.wavelengths,
            marker={"color": "#0072B2"},
            hovertemplate="pair %{x}: one turn every %{y:.4g} positions<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": "Wavelength of each rotary pair"},
        xaxis={"title": {"text": "dimension pair i"}},
        yaxis={"title": {"text": "positions per turn (log)"}, "type": "log"},
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig


def context_paths(
    contexts: Sequence[Context],
    paths: Sequence[np.ndarray],
    explained: Sequence[float],
    followed: Sequence[int | None] = (),
    word: str = "",
) -> go.Figure:
    """Each token's path through the layers (one line per token, layer 0 to the last).

    ``paths[c]`` is (L+1, T, dims) for context ``c``; ``followed[c]`` the token whose path
    is drawn bold (the word followed in both texts), or None.
    """
    dims = paths[0].shape[2] if paths else 2
    dashes = ("solid", "dot")
    colours = ("#0072B2", "#D55E00")
    fig = go.Figure()
    for c, (context, path) in enumerate(zip(contexts, paths, strict=True)):
        layers = np.arange(path.shape[0])
        bold = followed[c] if c < len(followed) else None
        for t, token in enumerate(context.tokens):
            strong = t == bold
            label = html.escape(token, quote=False)
            common = {
                "mode": "lines+markers",
                "name": f"text {'AB'[c]}: “{html.escape(word, quote=False) or label}”",
                "legendgroup": f"text{c}",
                "showlegend": strong,
                "line": {
                    "color": colours[c % 2] if strong else "rgba(140,140,140,0.3)",
                    "width": 5 if strong else 1,
                    "dash": dashes[c % 2],
                },
                "marker": {"size": 3 if not strong else 6, "color": colours[c % 2]},
                "customdata": layers,
                "hovertemplate": f"text {'AB'[c]} · token {t}: {label}<br>"
                "after layer %{customdata}<extra></extra>",
            }
            if dims == 3:
                fig.add_trace(
                    go.Scatter3d(x=path[:, t, 0], y=path[:, t, 1], z=path[:, t, 2], **common)
                )
            else:
                fig.add_trace(go.Scatter(x=path[:, t, 0], y=path[:, t, 1], **common))
    axes = [
        f"PC{i + 1} ({explained[i]:.1%})" if i < len(explained) else f"PC{i + 1}"
        for i in range(dims)
    ]
    layout: dict = {
        "title": {"text": "Each token's path through the layers (one PCA for all states)"},
        "height": 560,
        "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
    }
    if dims == 3:
        layout["scene"] = {
            k: {"title": {"text": a}}
            for k, a in zip(("xaxis", "yaxis", "zaxis"), axes, strict=True)
        }
    else:
        layout["xaxis"] = {"title": {"text": axes[0]}}
        layout["yaxis"] = {"title": {"text": axes[1]}}
    fig.update_layout(**layout)
    return fig


def divergence_figure(cosines: np.ndarray, word: str) -> go.Figure:
    """Line chart: cosine similarity of one word's two states, layer by layer."""
    label = html.escape(word, quote=False)
    fig = go.Figure(
        go.Scatter(
            x=np.arange(len(cosines)),
            y=cosines,
            mode="lines+markers",
            line={"color": "#D55E00"},
            hovertemplate="after layer %{x}<br>cosine %{y:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": f"“{label}” in text A vs text B: cosine similarity per layer"},
        xaxis={
            "title": {"text": "layer (0 = input embedding)"},
            "dtick": 1 if len(cosines) <= 16 else None,
        },
        yaxis={
            "title": {"text": "cosine similarity"},
            "range": [min(-0.05, float(np.min(cosines)) - 0.05), 1.05],
        },
        height=360,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig


def comparison_figure(
    comparison: Comparison,
    texts: Sequence[str],
    labels: tuple[str, str],
    moved_rows: np.ndarray,
) -> go.Figure:
    """Both models' tokens in one picture after Procrustes; the most moved ones joined.

    ``texts`` are the escaped hover texts of ``comparison.ids``; ``moved_rows`` index the
    drawn points whose two positions are joined by a line.
    """
    dims = comparison.coords_a.shape[1]
    ids32 = np.asarray(comparison.ids, dtype=np.int32)
    texts_arr = np.asarray(texts, dtype=object)
    fig = go.Figure()
    for coords, label, colour in (
        (comparison.coords_a, labels[0], "#0072B2"),
        (comparison.coords_b, labels[1], "#E69F00"),
    ):
        name = html.escape(label, quote=False)
        common = {
            "name": name,
            "mode": "markers",
            "text": texts_arr,
            "customdata": ids32,
            "marker": {"color": colour, "size": 3 if dims == 2 else 2, "opacity": 0.7},
            "hovertemplate": f"%{{text}}<br>id %{{customdata}}<extra>{name}</extra>",
        }
        if dims == 3:
            fig.add_trace(go.Scatter3d(x=coords[:, 0], y=coords[:, 1], z=coords[:, 2], **common))
        else:
            fig.add_trace(go.Scattergl(x=coords[:, 0], y=coords[:, 1], **common))
    if len(moved_rows):
        a, b = comparison.coords_a[moved_rows], comparison.coords_b[moved_rows]
        gap = np.full((len(moved_rows), dims), np.nan, dtype=np.float32)
        path = np.stack([a, b, gap], 1).reshape(-1, dims)  # a, b, break, …
        common = {
            "name": "most moved (A → B)",
            "mode": "lines",
            "line": {"color": "#D62728", "width": 2},
            "hoverinfo": "skip",
        }
        if dims == 3:
            fig.add_trace(go.Scatter3d(x=path[:, 0], y=path[:, 1], z=path[:, 2], **common))
        else:
            fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], **common))
    axes = [f"PC{i + 1} ({comparison.explained[i]:.1%})" for i in range(dims)]
    layout: dict = {
        "title": {"text": "Both tables after an orthogonal Procrustes rotation, one PCA"},
        "height": 600,
        "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
        "legend": {"itemsizing": "constant"},
    }
    if dims == 3:
        layout["scene"] = {
            k: {"title": {"text": t}}
            for k, t in zip(("xaxis", "yaxis", "zaxis"), axes, strict=True)
        }
    else:
        layout["xaxis"] = {"title": {"text": axes[0]}}
        layout["yaxis"] = {"title": {"text": axes[1]}}
    fig.update_layout(**layout)
    return fig
