"""The closed-form segment accounting equals a token-by-token evaluation of the metric."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
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
    """The artifact's ``compute_slo`` (plots/plot_e2e.py), token by token, and the strict flag.

    Written with absolute times instead of the artifact's running sums (same arithmetic up to
    round-off): a run starts at ``start``; token j is on time if it comes by start + TTFT +
    j·TPOT; a late token credits the run up to its last on-time deadline offset (``accum``)
    and starts a new run; the final run is credited in full.
    """
    qos, start, accum = 0.0, arrival, 0.0
    strict = True
    for j, t in enumerate(times):
        target = slo.ttft_s + j * slo.tpot_s
        if t - start <= target + 1e-9:
            accum = target
        else:
            qos += accum
            start = t
            accum = 0.0
        if t > arrival + slo.ttft_s + j * slo.tpot_s + 1e-9:
            strict = False
    qos += times[-1] - start
    span = times[-1] - arrival
    return (qos / span if span > 0 else 1.0), strict


def replay(
    arrival: float, slo: SLOConfig, segments: list[tuple[float, float, int]]
) -> tuple[Ledger, list[float]]:
    """Emit ``(gap, period, tokens)`` segments back to back; return the ledger and token times."""
    led = one_request(arrival, sum(n for _, _, n in segments), slo)
    times: list[float] = []
    t = arrival
    for gap, period, n in segments:
        t1 = t + gap
        led.emit(0, t1, period, n)
        times.extend(t1 + k * period for k in range(n))
        t = times[-1]
    return led, times


def test_worked_example_scores_five_eighths() -> None:
    slo = SLOConfig(ttft_s=3.0, tpot_s=2.0)
    led = one_request(0.0, 4, slo)
    assert not led.emit(0, 3.0, 0.0, 1)
    assert led.emit(0, 6.0, 1.0, 3)
    assert led.attainment(0, 8.0) == pytest.approx(5 / 8)
    assert led.strict_ok[0] is False
    assert led.finish[0] == 8.0
    assert [k for _, k, *_ in led.log] == ["first_token", "slo_miss", "finish"]


def test_schedule_restarts_with_a_fresh_ttft_after_a_miss() -> None:
    """The artifact's metric: after the late token at 6 s the schedule restarts from it with
    the index kept, so token 2 is due at 6 + TTFT + 2·TPOT = 13 s and 12 s is on time
    (a restart of only the TPOT spacing would make it due at 8 s and score 3/12)."""
    slo = SLOConfig(ttft_s=3.0, tpot_s=2.0)
    led = one_request(0.0, 4, slo)
    led.emit(0, 3.0, 0.0, 1)
    led.emit(0, 6.0, 0.0, 1)  # due at 5: late, run (0, 6) credits 3
    assert led.deadline[0] == 13.0
    assert led.attainment(0, 12.0, final=False) == pytest.approx(9 / 12)  # still on schedule
    # token 2 overdue at 14 s: the run opened by the late token has no on-time token yet
    assert led.attainment(0, 14.0, final=False) == pytest.approx(3 / 14)
    led.emit(0, 12.0, 1.0, 2)  # tokens at 12 (due 13) and 13 (due 15): on time
    assert led.attainment(0, 13.0) == pytest.approx((3 + 7) / 13)
    assert led.strict_ok[0] is False and led.finished == 1


def test_request_without_tokens_scores_zero() -> None:
    led = one_request(1.0, 5, SLOConfig())
    assert led.attainment(0, 100.0) == 0.0


def test_a_dropped_request_leaves_with_zero() -> None:
    """``fail`` (ServerlessLLM's first-token timeout): out of the system, score 0, once."""
    led = one_request(1.0, 5, SLOConfig())
    led.fail(0, 16.0, gpu=2)
    assert led.in_system == 0 and led.active_models == 0 and led.failed == 1
    assert led.finished == 0 and led.failed_at[0] == 16.0 and math.isnan(led.finish[0])
    assert led.attainment(0, 100.0) == 0.0 and led.area_in_system == pytest.approx(15.0)
    assert led.log == [(16.0, "timeout", 2, 0, 0)]
    with pytest.raises(ValueError, match="cannot fail"):
        led.fail(0, 17.0)


def grid_or(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Any float in [lo, hi], or a multiple of 1/24 there: simple fractions such as 1/3, 3/8
    and 1/4 make tokens land *exactly* on their deadlines, up to float round-off."""
    grid = st.integers(math.ceil(lo * 24), math.floor(hi * 24)).map(lambda k: k / 24)
    return st.one_of(grid, st.floats(lo, hi))


segment = st.tuples(
    grid_or(0.0, 3.0),  # gap before the segment's first token
    grid_or(0.001, 0.4),  # period
    st.integers(1, 40),  # tokens
)


# derandomize: the same 400 cases on every run (CI must not turn red by chance); the grid
# values above keep exact ties, the cases most likely to break the closed form, in them.
@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(
    arrival=grid_or(0.0, 50.0),
    ttft=grid_or(0.05, 5.0),
    tpot=grid_or(0.01, 0.3),
    segments=st.lists(segment, min_size=1, max_size=6),
)
# A tie: the 4th token of the second segment is due at 8.75 s and comes at 8.75 s; flooring
# −e/δ without tolerance counted it late (0.086 instead of 0.129).
@example(
    arrival=1.0,
    ttft=1.0,
    tpot=0.25,
    segments=[(3.0, 0.375, 11), (0.0, 0.3333333333333333, 4)],
)
@example(arrival=0.0, ttft=0.3, tpot=0.3, segments=[(0.0, 0.375, 6)])
@example(arrival=0.0, ttft=1.0, tpot=0.25, segments=[(0.0, 0.25, 1)])
def test_closed_form_matches_token_by_token(arrival, ttft, tpot, segments) -> None:
    slo = SLOConfig(ttft, tpot)
    led, times = replay(arrival, slo, segments)
    t = times[-1]
    total = len(times)
    expected, strict = brute_force(arrival, times, slo)
    got = led.attainment(0, t)
    if times[-1] > arrival:
        assert got == pytest.approx(expected, abs=1e-6)
    assert led.strict_ok[0] is strict
    assert led.done[0] == total and led.finished == 1
    # TBT samples: one per consecutive pair of tokens, weights summing to tokens - 1.
    assert sum(led.tbt_weights) == total - 1
    assert math.isclose(led.first[0], arrival + segments[0][0])


def test_closed_form_on_a_grid_of_exact_ties() -> None:
    """Every pair of segments on a grid of simple fractions (42,336 cases, deterministic).

    Gaps, periods and SLOs that are multiples of 1/24 put many tokens exactly on their
    deadlines, up to round-off; the first closed form (which floored −e/δ without tolerance)
    disagreed with the token-by-token count on 620 of these cases.
    """
    gaps = (0.0, 1 / 8, 1 / 4, 1 / 3, 3 / 8, 1 / 2, 1.0)
    seg = list(itertools.product(gaps, (1 / 8, 1 / 4, 1 / 3, 3 / 8), (1, 4, 11)))
    wrong = []
    for ttft, tpot in itertools.product((1 / 4, 1.0), (1 / 8, 1 / 4, 1 / 3)):
        slo = SLOConfig(ttft, tpot)
        for first, second in itertools.product(seg, repeat=2):
            led, times = replay(0.0, slo, [first, second])
            expected, strict = brute_force(0.0, times, slo)
            if abs(led.attainment(0, times[-1]) - expected) > 1e-9 or led.strict_ok[0] != strict:
                wrong.append((ttft, tpot, first, second))
    assert wrong == []
