"""Attention figures: the model view image, heatmaps, differences, the steps' matrices."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
from PIL import Image

from core.viz.attention import (
    GAP,
    _lut,
    combined_figure,
    difference_figure,
    grid_image,
    head_heatmap_figure,
    lines_figure,
    matrix_figure,
    model_view_figure,
    pool_map,
    scores_figure,
)


def random_attention(L: int, H: int, T: int, seed: int = 0) -> np.ndarray:
    """Causal softmax of random scores: the hardest case for PNG compression."""
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(L, H, T, T)) * 3
    s[..., np.triu_indices(T, 1)[0], np.triu_indices(T, 1)[1]] = -np.inf
    e = np.exp(s - s.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def test_pool_map_keeps_the_maximum_of_each_block():
    w = np.arange(16, dtype=float).reshape(4, 4)
    np.testing.assert_array_equal(pool_map(w, 2), [[5, 7], [13, 15]])
    assert pool_map(w, 8) is w


def test_grid_image_places_every_head():
    attn = np.zeros((3, 2, 4, 4))
    attn[2, 1] = 1.0  # the last layer's second head all 1
    img, side = grid_image(attn, [1, 2])
    assert side == 4 and img.shape == (2 * 4 + GAP, 2 * 4 + GAP, 3)
    lut = _lut()
    assert (img[4 + GAP :, 4 + GAP :] == lut[255]).all()  # row 1 (layer 2), column 1
    assert (img[:4, :4] == lut[0]).all()
    assert (img[4, :] == (40, 40, 48)).all()  # the gap


def test_model_view_is_one_image_with_clickable_heads():
    attn = random_attention(2, 3, 5)
    fig = model_view_figure(
        attn, [0, 1], hover={(1, 2): "<b>x</b>\nline two"}, highlight=[(1, 0)], selected=(0, 1)
    )
    image, markers, head_names, layer_names = fig.data
    assert list(head_names.text) == ["h0", "h1", "h2"] and list(layer_names.text) == ["L0", "L1"]
    assert image.type == "image" and image.source.startswith("data:image/png;base64,")
    png = Image.open(io.BytesIO(base64.b64decode(image.source.split(",", 1)[1])))
    assert png.size == (3 * 5 + 2 * GAP, 2 * 5 + GAP)
    assert [list(c) for c in markers.customdata] == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    assert markers.hovertext[5] == "layer 1, head 2<br>&lt;b&gt;x&lt;/b&gt;<br>line two"
    assert len(fig.layout.shapes) == 2  # the induction head and the selected head


def test_smollm2_shaped_model_view_fits_the_payload_budget():
    """30 layers x 9 heads x 128 tokens of random weights, every layer on one page."""
    attn = random_attention(30, 9, 128)
    payload = len(model_view_figure(attn, list(range(30))).to_json())
    assert payload < 2_000_000


def test_head_heatmap_masks_the_future_and_escapes_tokens():
    w = np.array([[1.0, 0.0], [0.3, 0.7]])
    fig = head_heatmap_figure(w, ["<b>", "a"], title="t <i>", queries=[1])
    hm = fig.data[0]
    assert np.isnan(hm.z[0][1]) and hm.z[1][0] == 0.3
    assert list(hm.x) == ["0 &lt;b&gt;", "1 a"]
    assert fig.layout.title.text == "t &lt;i&gt;"
    assert len(fig.layout.shapes) == 1


def test_difference_is_diverging_and_centred():
    d = np.array([[0.0, 0.0], [-0.2, 0.1]])
    hm = difference_figure(d, ["a", "b"]).data[0]
    assert hm.zmid == 0 and hm.zmin == -0.2 and hm.zmax == 0.2


def test_combined_and_matrix_figures():
    bars = combined_figure(np.array([0.25, 0.75]), ["a", "b"], [1]).data[0]
    assert list(bars.y) == [0.25, 0.75]
    m = np.array([[1.5, -np.inf], [0.25, -2.0]])
    hm = matrix_figure(m, ["a", "b"], title="scores").data[0]
    assert hm.text[0][1] == "−∞" and np.isnan(hm.z[0][1]) and hm.zmax == 2.0
    json.loads(matrix_figure(m, ["a", "b"], title="x").to_json())  # serialisable
    assert list(hm.x) == ["0", "1"]  # numbered columns, each number once
    assert list(matrix_figure(m, ["a", "b"], ["<q>", "k"], title="").data[0].x) == [
        "0 &lt;q&gt;",
        "1 k",
    ]


def test_lines_figure_draws_one_line_per_weight_above_the_floor():
    w = np.array([[1.0, 0.0, 0.0], [0.6, 0.4, 0.0], [0.01, 0.29, 0.7]])
    fig = lines_figure({2: w}, ["a", "<b>", "c"])
    lines = [t for t in fig.data if t.mode == "lines"]
    drawn = sorted((y0, y1) for t in lines for y0, y1 in zip(t.y[0::3], t.y[1::3], strict=True))
    assert drawn == [(0, 0), (1, 0), (1, 1), (2, 1), (2, 2)]  # 0.01 is below the floor
    assert {t.name for t in lines} == {"head 2"} and sum(t.showlegend for t in lines) == 1
    queries = fig.data[-2]
    assert list(queries.customdata) == [0, 1, 2] and queries.text[1] == "&lt;b&gt;"
    only = lines_figure({2: w, 5: w}, ["a", "b", "c"], queries=[2])
    ys = {y for t in only.data if t.mode == "lines" for y in t.y[0::3]}
    assert ys == {2.0}
    assert {t.name for t in only.data if t.mode == "lines"} == {"head 2", "head 5"}


def test_gpt2_xl_shape_pages_stay_small_and_name_kv_heads():
    """48 layers x 25 heads (GPT-2 XL's shape), 128 tokens: 16 layers a page."""
    attn = random_attention(16, 25, 128, seed=1)
    fig = model_view_figure(attn, list(range(16)))
    assert len(fig.data) == 4 and len(fig.data[1].x) == 16 * 25
    assert len(fig.to_json()) < 2_000_000
    gqa = model_view_figure(random_attention(1, 6, 4), [0], kv_heads=[0, 0, 0, 1, 1, 1])
    assert list(gqa.data[2].text)[3] == "h3<br>kv1"


def test_scores_figure_scales_to_one_or_to_the_largest():
    scores = np.array([[0.1, 0.5], [0.2, 0.05]])
    fixed = scores_figure(scores, title="induction", highlight_at=0.4)
    assert fixed.data[0].zmax == 1.0 and len(fixed.layout.shapes) == 1
    assert scores_figure(scores, title="change", zmax=None).data[0].zmax == 0.5
