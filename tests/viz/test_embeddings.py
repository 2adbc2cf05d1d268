"""Figures of the Embedding spaces page: traces, escaping, compact payloads, 3-D."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from core.embeddings import learned_positions, rotary_positions
from core.embeddings.contextual import Context
from core.embeddings.view import PointGroup
from core.viz.embeddings import (
    ROLE_COLOURS,
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


# Page backgrounds: Streamlit's light theme, its dark theme (#0E1117), and the dark
# background measured in Chromium (the LLM math figure tests).
BACKGROUNDS = {"light": (255, 255, 255), "dark": (14, 17, 23), "dark, measured": (23, 22, 20)}


def _luminance(rgb: tuple[int, ...]) -> float:
    """WCAG 2 relative luminance."""
    lin = [
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in rgb)
    ]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(colour: str, background: tuple[int, int, int]) -> float:
    rgb = tuple(int(colour.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    hi, lo = sorted((_luminance(rgb), _luminance(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_reference_values():
    assert round(_contrast("#000000", BACKGROUNDS["light"]), 2) == 21.0
    assert round(_contrast("#444444", BACKGROUNDS["light"]), 2) == 9.74
    assert round(_contrast("#444444", BACKGROUNDS["dark"]), 2) == 1.94  # the old colour


def test_unused_rows_read_on_the_light_and_the_dark_theme():
    """WCAG's 3:1 for graphics on both backgrounds (#444444 was 1.9:1 on the dark theme),
    and a colour no other role uses."""
    colour = ROLE_COLOURS["unused row"]
    for theme, background in BACKGROUNDS.items():
        assert _contrast(colour, background) >= 3.0, (colour, theme)
    others = [c for role, c in ROLE_COLOURS.items() if role != "unused row"]
    assert colour.upper() not in [c.upper() for c in others]


def test_every_role_colour_reads_on_the_light_and_the_dark_theme():
    """Okabe-Ito hues, darkened where the light theme needed it (sky blue, orange, yellow and
    grey were 1.3-2.9:1 on white); "other" is the faint backdrop and is exempt."""
    for role, colour in ROLE_COLOURS.items():
        if role == "other":
            continue
        for theme, background in BACKGROUNDS.items():
            assert _contrast(colour, background) >= 3.0, (role, colour, theme)
    roles = [c.upper() for r, c in ROLE_COLOURS.items() if r not in ("other", "match", "selected")]
    assert len(set(roles)) == len(roles)  # one colour a token kind
