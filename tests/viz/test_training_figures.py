"""Figures of the Training page: smoothing, the loss figure's traces, the tiles."""

from __future__ import annotations

import pytest

from core.training.page import Estimate, LiveView
from core.viz.training import estimate_tiles, loss_figure, progress_tiles, smoothed
from tests.viz.test_linalg import BACKGROUNDS, _contrast, _rgb


def test_smoothing_is_a_debiased_moving_average_with_gaps():
    out = smoothed([(1, 4.0), (2, 2.0), (3, None), (4, 2.0)], weight=0.5)
    assert [x for x, _ in out] == [1, 2, 3, 4]
    assert out[0][1] == pytest.approx(4.0)
    assert out[1][1] == pytest.approx((0.5 * 0.5 * 4 + 0.5 * 2) / (1 - 0.25))
    assert out[2][1] is None
    assert out[3][1] == pytest.approx((0.5 * (0.25 * 4 + 0.5 * 2) + 0.5 * 2) / (1 - 0.125))


def test_loss_figure_draws_train_raw_smoothed_and_validation():
    fig = loss_figure([(1, 5.0), (2, 4.0)], [(2, 4.5)])
    assert [t.name for t in fig.data] == ["train (each step)", "train (smoothed)", "validation"]
    assert list(fig.data[2].x) == [2] and list(fig.data[2].y) == [4.5]
    assert fig.layout.xaxis.title.text == "step"
    assert "loss" in fig.layout.yaxis.title.text
    empty = loss_figure([], [])
    assert len(empty.data) == 0 and "waiting" in empty.layout.annotations[0].text


def _view(**kw) -> LiveView:
    base = dict(run_id=1, name="r", status="running", step=50, steps=200, tokens_per_s=1234.5,
                eta_s=75.0, train_loss=[], val_loss=[(10, 3.0), (20, None)], samples=[],
                message="", resumable=False)  # fmt: skip
    return LiveView(**(base | kw))


def test_progress_tiles():
    assert progress_tiles(_view()) == [
        ("step of 200", "50"),
        ("validation loss", "3.000"),
        ("tokens/s", "1,234"),
        ("time left", "1 min 15 s"),
    ]
    done = progress_tiles(_view(status="finished", tokens_per_s=None, val_loss=[]))
    assert done[1:] == [("validation loss", "–"), ("tokens/s", "–"), ("time left", "–")]


def test_estimate_tiles():
    est = Estimate(parameters=365_952, flops=2.3e11, memory_bytes=28 * 2**20, seconds=49,
                   tokens=102_400)  # fmt: skip
    assert estimate_tiles(est) == [
        ("parameters", "366.0k"),
        ("training FLOPs", "2.3e+11"),
        ("memory", "28 MiB"),
        ("time here (rough)", "49 s"),
    ]


def test_every_loss_line_reads_on_the_light_and_the_dark_theme():
    """Each line's colour, blended at its opacity over the page, keeps 3:1 against the light
    and the dark background (2:1 for the deliberately faint per-step line)."""
    fig = loss_figure([(1, 3.0), (2, 2.5)], [(2, 2.6)])
    for trace in fig.data:
        rgb = _rgb(trace.line.color)
        alpha = 1.0 if trace.opacity is None else trace.opacity
        need = 2.0 if trace.name == "train (each step)" else 3.0
        for theme, bg in BACKGROUNDS.items():
            seen = tuple(round(alpha * c + (1 - alpha) * b) for c, b in zip(rgb, bg, strict=True))
            assert _contrast(seen, bg) >= need, (trace.name, theme, seen)
