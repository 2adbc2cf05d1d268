"""The closed-form segment accounting equals a token-by-token evaluation of the metric."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.pool.config import SLOConfig
from core.pool.ledger import Ledger
from core.pool.workload import Trace


def one_request(arrival: float, output: int, slo: SLOConfig) -> Ledger:
    trace = Trace(
        np.array([arrival]),
        np.array([0]),
        np.array([10]),
        np.array([output]),
        ("m",),
        ("qwen2.5-7b",),
    )
    led = Ledger(trace, slo, [])
    led.arrive(0, arrival)
    return led


def brute_force(arrival: float, times: list[float], slo: SLOConfig) -> tuple[float, bool]:
    """Per-token lenient attainment (REFERENCE §6) and the strict all-deadlines flag."""
    on, prev, deadline = 0.0, arrival, arrival + slo.ttft_s
    strict = True
    for j, t in enumerate(times):
        if t <= deadline + 1e-9:
            on += t - prev
            deadline += slo.tpot_s
        else:
            deadline = t + slo.tpot_s
        if t > arrival + slo.ttft_s + j * slo.tpot_s + 1e-9:
            strict = False
        prev = t
    span = times[-1] - arrival
    return (on / span if span > 0 else 1.0), strict


def test_worked_example_scores_five_eighths() -> None:
    slo = SLOConfig(ttft_s=3.0, tpot_s=2.0)
    led = one_request(0.0, 4, slo)
    assert not led.emit(0, 3.0, 0.0, 1)
    assert led.emit(0, 6.0, 1.0, 3)
    assert led.attainment(0, 8.0) == pytest.approx(5 / 8)
    assert led.strict_ok[0] is False
    assert led.finish[0] == 8.0
    assert [k for _, k, *_ in led.log] == ["first_token", "slo_miss", "finish"]


def test_request_without_tokens_scores_zero() -> None:
    led = one_request(1.0, 5, SLOConfig())
    assert led.attainment(0, 100.0) == 0.0


segment = st.tuples(
    st.floats(0.0, 3.0),  # gap before the segment's first token
    st.floats(0.001, 0.4),  # period
    st.integers(1, 40),  # tokens
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    arrival=st.floats(0.0, 50.0),
    ttft=st.floats(0.05, 5.0),
    tpot=st.floats(0.01, 0.3),
    segments=st.lists(segment, min_size=1, max_size=6),
)
def test_closed_form_matches_token_by_token(arrival, ttft, tpot, segments) -> None:
    slo = SLOConfig(ttft, tpot)
    total = sum(n for _, _, n in segments)
    led = one_request(arrival, total, slo)
    times: list[float] = []
    t = arrival
    for gap, period, n in segments:
        t1 = t + gap
        led.emit(0, t1, period, n)
        times.extend(t1 + k * period for k in range(n))
        t = times[-1]
    expected, strict = brute_force(arrival, times, slo)
    got = led.attainment(0, t)
    if times[-1] > arrival:
        assert got == pytest.approx(expected, abs=1e-6)
    assert led.strict_ok[0] is strict
    assert led.done[0] == total and led.finished == 1
    # TBT samples: one per consecutive pair of tokens, weights summing to tokens - 1.
    assert sum(led.tbt_weights) == total - 1
    assert math.isclose(led.first[0], arrival + segments[0][0])
