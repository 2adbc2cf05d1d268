"""Per-head statistics and labels on attention patterns whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.attention import AttentionInputError, Thresholds, head_labels, head_statistics

T = 6


def previous_pattern(T: int = T) -> np.ndarray:
    """Every row on the previous token (row 0 on itself)."""
    a = np.zeros((T, T))
    a[0, 0] = 1.0
    a[np.arange(1, T), np.arange(T - 1)] = 1.0
    return a


def uniform_pattern(T: int = T) -> np.ndarray:
    return np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]


def sink_pattern(T: int = T) -> np.ndarray:
    a = np.zeros((T, T))
    a[:, 0] = 1.0
    return a


def self_pattern(T: int = T) -> np.ndarray:
    return np.eye(T)


def stack(*patterns: np.ndarray) -> np.ndarray:
    return np.stack(patterns)[None]  # (1, H, T, T)


def test_statistics_of_known_patterns():
    ids = [7, 1, 2, 1, 3, 1]  # token 1 repeats at positions 3 and 5
    prev, uni, sink, own = head_statistics(
        stack(previous_pattern(), uniform_pattern(), sink_pattern(), self_pattern()), ids
    )
    q = np.arange(1, T)
    assert (prev.layer, prev.head, uni.head) == (0, 0, 1)
    assert prev.previous == 1.0 and prev.entropy == 0.0 and prev.mean_distance == 1.0
    assert prev.sink == pytest.approx(1 / 5)  # only row 1's previous token is position 0
    assert prev.same == 0.0
    # rows 3 and 5 have an earlier 1: row 3 looks at 2 (token 2), row 5 at 4 (token 3)
    assert prev.duplicate == 0.0
    assert uni.entropy == pytest.approx(np.mean(np.log2(q + 1)))
    assert uni.norm_entropy == pytest.approx(1.0)
    assert uni.mean_distance == pytest.approx(np.mean(q / 2))
    assert uni.sink == pytest.approx(np.mean(1 / (q + 1)))
    assert uni.previous == pytest.approx(np.mean(1 / (q + 1)))
    # row 3 sees one earlier 1 of 4 keys, row 5 two of 6
    assert uni.duplicate == pytest.approx((1 / 4 + 2 / 6) / 2)
    assert sink.sink == 1.0 and sink.mean_distance == pytest.approx(np.mean(q))
    assert sink.previous == pytest.approx(1 / 5) and sink.entropy == 0.0
    assert own.same == 1.0 and own.mean_distance == 0.0 and own.previous == 0.0


def test_duplicate_is_none_without_a_repeat():
    (s,) = head_statistics(stack(uniform_pattern()), [1, 2, 3, 4, 5, 6])
    assert s.duplicate is None


def test_labels_and_thresholds():
    ids = list(range(T))
    prev, uni, sink, own = head_statistics(
        stack(previous_pattern(), uniform_pattern(), sink_pattern(), self_pattern()), ids
    )
    assert head_labels(prev) == ("previous-token", "local")
    assert head_labels(uni) == ("broad",)
    assert head_labels(sink) == ("first-token/sink",)
    assert head_labels(own) == ("local",)
    assert head_labels(uni, induction=0.9) == ("induction", "broad")
    assert head_labels(uni, induction=0.39) == ("broad",)
    strict = Thresholds(broad_entropy=1.01, local_distance=-1.0)
    assert head_labels(uni, thresholds=strict) == ("mixed",)
    assert head_labels(own, thresholds=strict) == ("mixed",)
    assert "0.4" in Thresholds().describe()["induction"]


def test_mixture_of_previous_and_sink():
    a = 0.7 * previous_pattern() + 0.3 * sink_pattern()
    (s,) = head_statistics(stack(a), list(range(T)))
    # row 1: previous = sink = position 0 -> 1.0 there; rows 2..5: 0.7 and 0.3
    assert s.previous == pytest.approx((1.0 + 4 * 0.7) / 5)
    assert s.sink == pytest.approx((1.0 + 4 * 0.3) / 5)
    h = -(0.7 * math.log2(0.7) + 0.3 * math.log2(0.3))
    assert s.entropy == pytest.approx(4 * h / 5)


@pytest.mark.parametrize(
    ("attn", "ids", "message"),
    [
        (np.ones((1, 1, 1, 1)), [3], "at least two tokens"),
        (np.ones((2, 3, 3)), [1, 2, 3], "layers, heads"),
        (np.full((1, 1, 2, 2), np.nan), [1, 2], "NaN"),
        (stack(uniform_pattern()), [1, 2], "6 attended positions"),
    ],
)
def test_bad_weights_are_refused(attn, ids, message):
    with pytest.raises(AttentionInputError, match=message):
        head_statistics(attn, ids)
