"""Saved runs' curves: each series on its own x axis, titled with its own units."""

from __future__ import annotations

from core.viz.runs import series_axes, series_overlay


def test_each_series_has_its_own_x_axis_and_units():
    runs = [
        ("#8", {"train_loss": [(1, 3.0), (2, 2.5)], "tbt_cdf": [(0.5, 0.02), (0.99, 0.09)]}),
        ("#9", {"train_loss": [(1, 3.1), (2, 2.4)], "tbt_cdf": [(0.5, 0.03), (0.99, 0.2)]}),
    ]
    fig = series_overlay(runs, ["train_loss", "tbt_cdf"])
    layout = fig.layout
    assert layout.xaxis.title.text == "training step"
    assert layout.yaxis.title.text == "loss (nats/token)"
    assert layout.xaxis2.title.text == "fraction of tokens"
    assert layout.yaxis2.title.text == "time between tokens (s)"
    assert layout.xaxis2.matches is None  # not tied to the training steps' range
    assert {t.name for t in fig.data} == {"#8", "#9"} and len(fig.data) == 4


def test_series_axes_by_name_and_prefix():
    assert series_axes("attainment_fcfs") == ("rate per model (req/s)", "SLO attainment")
    assert series_axes("strict_attainment_fcfs")[1] == "strict SLO attainment"
    assert series_axes("attainment_over_time") == ("simulated time (s)", "SLO attainment")
    assert series_axes("step_latency_ms") == ("generated token", "latency (ms)")
    assert series_axes("custom", "epoch") == ("epoch", "value")
