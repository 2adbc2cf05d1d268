"""Figures of the Embedding spaces page: traces, escaping, compact payloads, 3-D."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from core.embeddings import learned_positions, rotary_positions
from core.embeddings.contextual import Context
from core.embeddings.view import PointGroup
from core.viz.embeddings import (
    context_paths,
    divergence_figure,
    hover_texts,
    payload_bytes,
    position_components,
    position_similarity,
    rotary_cosines,
    rotary_wavelengths,
    token_scatter,
)


def scatter(n: int, dims: int = 2, highlight=None) -> go.Figure:
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(n, dims)).astype(np.float32)
    groups = [PointGroup("word start", "word start", np.arange(0, n, 2)),
              PointGroup("subword", "subword", np.arange(1, n, 2))]  # fmt: skip
    texts = hover_texts([f"·t{i}" for i in range(n)])
    return token_scatter(coords, np.arange(n), texts, groups, method="pca",
                         explained=(0.25, 0.125, 0.0625), highlight=highlight)  # fmt: skip


def test_two_d_scatter_is_webgl_with_ids_and_axis_titles():
    fig = scatter(10, highlight=np.array([3]))
    assert [type(t).__name__ for t in fig.data] == ["Scattergl"] * 3
    assert fig.data[0].name == "word start (5)" and list(fig.data[0].customdata) == [0, 2, 4, 6, 8]
    assert fig.data[2].name == "highlighted" and list(fig.data[2].text) == ["·t3"]
    assert fig.data[2].mode == "markers+text"
    assert fig.layout.xaxis.title.text == "PC1 (25.0% of variance)"
    assert "id %{customdata}" in fig.data[0].hovertemplate


def test_three_d_scatter():
    fig = scatter(10, dims=3)
    assert {type(t).__name__ for t in fig.data} == {"Scatter3d"}
    assert fig.layout.scene.zaxis.title.text == "PC3 (6.2% of variance)"


def test_token_text_is_escaped_for_hover_labels():
    assert hover_texts(["<b>x</b>", "a&b"]) == ["&lt;b&gt;x&lt;/b&gt;", "a&amp;b"]


def test_fifty_thousand_points_stay_compact():
    size = payload_bytes(scatter(50_000))
    # coordinates and ids travel as base64 typed arrays; the texts dominate
    assert 1_000_000 < size < 2_500_000
    assert '"bdata"' in go.Figure(scatter(20)).to_json()


def test_position_and_rotary_figures():
    view = learned_positions(torch.randn(12, 6, generator=torch.Generator().manual_seed(0)))
    assert position_similarity(view).data[0].z.shape == (12, 12)
    assert len(position_components(view).data) == 3
    rot = rotary_positions(10_000.0, 8, positions=20)
    assert rotary_cosines(rot).data[0].z.shape == (4, 20)
    assert rotary_wavelengths(rot).layout.yaxis.type == "log"


def test_context_paths_one_line_per_token_followed_bold():
    states = np.random.default_rng(0).normal(size=(3, 4, 8)).astype(np.float32)
    ctx = Context("abcd", (1, 2, 3, 4), ("a", "<b>", "c", "d"), states)
    paths = [np.zeros((3, 4, 2), np.float32), np.ones((3, 4, 2), np.float32)]
    fig = context_paths([ctx, ctx], paths, (0.5, 0.25), followed=(1, None), word="")
    assert len(fig.data) == 8
    assert fig.data[1].line.width == 5 and fig.data[1].showlegend
    assert fig.data[1].name == "text A: “&lt;b&gt;”"
    assert divergence_figure(np.array([1.0, 0.5, 0.2]), " bank").data[0].y.tolist() == [
        1.0,
        0.5,
        0.2,
    ]


def test_comparison_joins_the_most_moved_tokens():
    from core.embeddings import compare_tables
    from core.viz.embeddings import comparison_figure

    g = torch.Generator().manual_seed(0)
    b = torch.randn(30, 6, generator=g)
    cmp = compare_tables(b + 0.1 * torch.randn(30, 6, generator=g), b)
    fig = comparison_figure(cmp, hover_texts([str(i) for i in range(30)]), ("A: <x>", "B"),
                            np.array([2, 5]))  # fmt: skip
    assert [t.name for t in fig.data] == ["A: &lt;x&gt;", "B", "most moved (A → B)"]
    assert len(fig.data[2].x) == 6 and np.isnan(fig.data[2].x[2])
