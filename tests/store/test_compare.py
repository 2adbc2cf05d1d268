"""Config diff and metric comparison used by the Runs page."""

from __future__ import annotations

import pytest

from core.store import config_diff, flatten, key_metrics, metric_direction, metrics_table


def test_flatten_nested():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == {
        "a.b": 1,
        "a.c.d": [1, 2],
        "e": {},
    }


def test_config_diff_only_different_by_default():
    a = {"model": {"n_layer": 4, "n_head": 4}, "lr": 1e-3}
    b = {"model": {"n_layer": 6, "n_head": 4}, "lr": 1e-3, "extra": True}
    rows = config_diff([a, b])
    assert [(r.key, r.values) for r in rows] == [
        ("extra", [None, True]),
        ("model.n_layer", [4, 6]),
    ]
    everything = config_diff([a, b], only_different=False)
    assert [r.key for r in everything] == ["extra", "lr", "model.n_head", "model.n_layer"]
    assert [r.differs for r in everything] == [True, False, False, True]


@pytest.mark.parametrize(
    "name, direction",
    [
        ("val_loss", "min"),
        ("slo_attainment", "max"),
        ("goodput_req_s", "max"),
        ("tokens_per_s", "max"),
        ("ttft_p90_s", "min"),
        ("wall_time_s", "min"),
        ("switches", "min"),
        ("n_layer", None),
    ],
)
def test_metric_direction(name, direction):
    assert metric_direction(name) == direction


def test_metrics_table_marks_best_and_ties():
    rows = metrics_table(
        [
            {"val_loss": 2.0, "slo_attainment": 0.9, "note": "x", "steps": 10},
            {"val_loss": 1.5, "slo_attainment": 0.9, "steps": 10},
            {"val_loss": 1.5, "slo_attainment": 0.7},
        ]
    )
    by_name = {r.name: r for r in rows}
    assert set(by_name) == {"val_loss", "slo_attainment", "steps"}
    assert by_name["val_loss"].best == [1, 2]
    assert by_name["slo_attainment"].best == [0, 1]
    assert by_name["steps"].best == []  # direction unknown
    assert by_name["steps"].values == [10.0, 10.0, None]


def test_key_metrics_text():
    assert key_metrics({"b": 2, "a": 1.23456, "c": "x", "d": 4, "e": 5}) == "a=1.235 · b=2 · d=4"


def test_best_only_where_the_kind_declares_a_direction():
    summaries = [{"perplexity": 3.0, "forced_steps": 0.0}, {"perplexity": 5.0, "forced_steps": 2.0}]
    guessed = {r.name: r for r in metrics_table(summaries)}
    assert guessed["perplexity"].best == [0]  # without kinds: guessed from the name
    sampling = {r.name: r for r in metrics_table(summaries, ["sampling", "sampling"])}
    assert sampling["perplexity"].best == [] and sampling["perplexity"].direction is None
    assert sampling["forced_steps"].best == []
    losses = [{"val_loss": 2.0}, {"val_loss": 1.0}]
    assert metrics_table(losses, ["training", "training"])[0].best == [1]
    assert metrics_table(losses, ["training", "pool"])[0].best == []  # different kinds
