"""The LLM math page's figures: the numbers they are given end up in their traces."""

from __future__ import annotations

import numpy as np

from core.linalg.products import as_matrix, outer_products, row_contributions, step_view
from core.viz import linalg as fig

X = as_matrix([[1, 2, 3]], 1, 3, "x")
W = as_matrix([[1, 0], [0, 1], [1, -1]], 3, 2, "W")


def test_contribution_grid_blanks_terms_not_reached():
    f = fig.contribution_grid_figure(X[0], W, step_view(X, W, 4)["done"])
    z = f.data[0].z
    assert z[0][0] == 1 and z[2][0] == 3 and z[0][1] == 0 and z[1][1] is None
    assert f.layout.xaxis.title.text == "output (column j of W)"


def test_row_combination_stacks_to_y():
    f = fig.row_combination_figure(row_contributions(X, W), [4.0, -1.0])
    bars = [t for t in f.data if t.type == "bar"]
    assert len(bars) == 3 and f.layout.barmode == "relative"
    assert np.allclose(np.sum([b.y for b in bars], axis=0), [4.0, -1.0])


def test_outer_products_panels():
    a = as_matrix([[1, 2], [3, 4]], 2, 2, "A")
    outer = outer_products(a, a)
    f = fig.outer_products_figure(outer, np.array(a) @ np.array(a))
    assert len(f.data) == 3 and np.array_equal(f.data[-1].z, [[7, 10], [15, 22]])


def test_roofline_and_switch():
    f = fig.roofline_figure("H100", 989e12, 3.35e12, [("decode ×1", 1.0, 3.35e12)])
    roof = f.data[0]
    assert max(roof.y) == 989 and f.layout.xaxis.type == "log"
    assert f.data[2].name.startswith("ridge 295")
    s = fig.switch_figure([("H100", 0.24, 0.0045)])
    assert s.data[0].y == (0.24,) and s.layout.yaxis.type == "log"


def test_tokens_in_the_topk_figure_are_escaped():
    f = fig.topk_figure([("<b>x</b>", 0.5)], [("<b>x</b>", 0.4), ("y", 0.1)])
    assert list(f.data[0].x) == ["&lt;b&gt;x&lt;/b&gt;", "y"]
    assert list(f.data[1].y) == [0.4, 0.1]


def test_other_figures_carry_their_numbers():
    assert fig.units_figure([(3, 1.5)]).data[0].y == (1.5,)
    pair = fig.pair_figure([0.1, -0.2], [0.3, 0.4], 9)
    assert pair.data[0].y == (0.1, -0.2) and pair.data[1].y == (0.3, 0.4)
    assert "column 9 of W_up" in pair.layout.annotations[0].text
    u = fig.unit_figure([0.1, 0.2], [0.1, 0.2], 7)
    assert "unit 7" in u.layout.title.text
    tp = fig.tensor_parallel_figure([[1.0], [2.0]], [3.0], [3.0])
    assert [t.name for t in tp.data] == ["device 0", "device 1", "all-reduced sum", "unsplit layer"]
    b = fig.bytes_figure([10, 10], [4, 4])
    assert b.data[0].y == (10, 10)
    h = fig.histogram_figure([1, 2], [0, 3], [0.0, 0.5, 1.0], "t")
    assert h.data[0].x == (0.25, 0.75)
    q = fig.q4_block_figure([0, 15], [-0.5, 1.0], 0.1, -0.5)
    assert q.data[0].y[0] == -0.5 and len(q.data[0].x) == 16
    p = fig.parts_figure([("m", {"embeddings": 1, "attention": 1, "MLP": 2, "norms": 0})])
    assert [t.x[0] for t in p.data] == [0.25, 0.25, 0.5, 0.0]


# The two themes' page backgrounds (Streamlit 1.67, measured in Chromium).
BACKGROUNDS = {"light": (255, 255, 255), "dark": (23, 22, 20)}


def _luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance."""
    lin = [
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in rgb)
    ]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _rgb(colour: str) -> tuple[int, int, int]:
    h = colour.lstrip("#")
    h = "".join(c * 2 for c in h) if len(h) == 3 else h
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def test_neutral_marks_read_on_the_light_and_the_dark_theme():
    """Grey marks (the sum, the unsplit layer, guide lines) keep WCAG's 3:1 for graphics
    against both backgrounds: a dark grey (#333) was invisible on the dark theme."""
    figures = [
        fig.row_combination_figure(row_contributions(X, W), [4.0, -1.0]),
        fig.tensor_parallel_figure([[1.0], [2.0]], [3.0], [3.0]),
        fig.q4_block_figure([0, 15], [-0.5, 1.0], 0.1, -0.5),
        fig.roofline_figure("H100", 989e12, 3.35e12, [("decode ×1", 1.0, 3.35e12)]),
    ]
    greys = set()
    for f in figures:
        for t in f.data:
            for colour in (getattr(getattr(t, "marker", None), "color", None),
                           getattr(getattr(t, "line", None), "color", None)):  # fmt: skip
                if isinstance(colour, str) and colour.startswith("#"):
                    r, g, b = _rgb(colour)
                    if r == g == b:
                        greys.add(colour)
    assert greys  # the figures do draw grey marks
    for colour in greys:
        for theme, background in BACKGROUNDS.items():
            assert _contrast(_rgb(colour), background) >= 3.0, (colour, theme)
