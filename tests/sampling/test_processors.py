"""Processor maths against hand-computed distributions."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.sampling import SamplingConfig, build_pipeline, choose_token, entropy, run_pipeline
from core.sampling.processors import (
    MinP,
    PresencePenalty,
    RepetitionPenalty,
    Temperature,
    TopK,
    TopP,
)

PROBS = [0.5, 0.3, 0.15, 0.05]
NO_HISTORY = torch.tensor([], dtype=torch.long)


def logits_of(probs: list[float]) -> torch.Tensor:
    return torch.log(torch.tensor(probs, dtype=torch.float32))


def probs_after(proc, probs=PROBS, history=NO_HISTORY) -> list[float]:
    return torch.softmax(proc(logits_of(probs), history).double(), -1).tolist()


def test_temperature_two_takes_square_roots():
    # p_i^(1/2) / sum: sqrt(.5)=.70711, sqrt(.3)=.54772, sqrt(.15)=.38730, sqrt(.05)=.22361
    assert probs_after(Temperature(2.0)) == pytest.approx(
        [0.378996, 0.293569, 0.207585, 0.119849], abs=1e-6
    )


def test_temperature_half_squares():
    # p^2 / sum(p^2) = [.25, .09, .0225, .0025] / .365
    assert probs_after(Temperature(0.5)) == pytest.approx(
        [0.684932, 0.246575, 0.061644, 0.006849], abs=1e-6
    )


def test_top_k_keeps_k_and_renormalises():
    assert probs_after(TopK(2)) == pytest.approx([0.625, 0.375, 0.0, 0.0])
    assert probs_after(TopK(1)) == pytest.approx([1.0, 0.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.4, [1.0, 0.0, 0.0, 0.0]),  # mass before token 1 is 0.5 >= 0.4
        (0.7, [0.625, 0.375, 0.0, 0.0]),  # before token 2: 0.8 >= 0.7
        (0.9, [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0.0]),  # before token 3: 0.95 >= 0.9
        (1.0, PROBS),
    ],
)
def test_top_p_nucleus(p, expected):
    assert probs_after(TopP(p)) == pytest.approx(expected, abs=1e-6)


def test_top_p_is_order_independent_of_token_ids():
    shuffled = [0.15, 0.05, 0.5, 0.3]
    assert probs_after(TopP(0.7), shuffled) == pytest.approx([0, 0, 0.625, 0.375], abs=1e-6)


def full_sort_top_p(p: float, logits: torch.Tensor) -> torch.Tensor:
    """Top-p by sorting the whole vocabulary (stable), the definition TopP must match."""
    probs = torch.softmax(logits.double(), dim=-1)
    order = torch.sort(logits.float(), descending=True, stable=True).indices
    mass_before = torch.cumsum(probs[order], dim=-1) - probs[order]
    drop = torch.zeros_like(logits, dtype=torch.bool)
    drop[order] = mass_before >= p
    return logits.masked_fill(drop, float("-inf"))


@pytest.mark.parametrize("vocab", [49_152, 3_000, 7])
@pytest.mark.parametrize("scale", [0.3, 3.0, 12.0])  # flat (full sort) to peaked (candidates)
def test_top_p_equals_a_full_sort_with_ties_and_removed_tokens(vocab, scale):
    g = torch.Generator().manual_seed(vocab + int(scale * 10))
    for variant in range(3):
        logits = torch.randn(vocab, generator=g) * scale
        if variant == 1:
            logits = torch.round(logits * 2) / 2  # many exact ties, at the cut too
        if variant == 2:
            logits[torch.rand(vocab, generator=g) < 0.5] = float("-inf")  # an earlier filter
        for p in (0.05, 0.5, 0.9, 0.95, 0.999, 0.999999):
            assert torch.equal(TopP(p)(logits, NO_HISTORY), full_sort_top_p(p, logits)), (
                p,
                variant,
            )


def test_min_p_threshold_is_relative_to_the_top_token():
    assert probs_after(MinP(0.4)) == pytest.approx([0.625, 0.375, 0, 0], abs=1e-6)  # >= 0.2
    assert probs_after(MinP(0.25)) == pytest.approx([0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0])


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = torch.tensor([2.0, -1.0, 0.5, 0.0])
    out = RepetitionPenalty(2.0)(logits, torch.tensor([0, 1, 1]))
    assert out.tolist() == [1.0, -2.0, 0.5, 0.0]
    assert logits.tolist() == [2.0, -1.0, 0.5, 0.0]  # input untouched


def test_presence_penalty_subtracts_once_per_seen_token():
    out = PresencePenalty(1.5)(torch.tensor([2.0, -1.0, 0.5, 0.0]), torch.tensor([2, 2]))
    assert out.tolist() == [2.0, -1.0, -1.0, 0.0]


def test_order_matters_temperature_then_top_p_vs_top_p_then_temperature():
    cfg_a = SamplingConfig(temperature=2.0, top_p=0.7, order=("temperature", "top_p"))
    cfg_b = SamplingConfig(temperature=2.0, top_p=0.7, order=("top_p", "temperature"))
    a = run_pipeline(logits_of(PROBS), NO_HISTORY, build_pipeline(cfg_a))
    b = run_pipeline(logits_of(PROBS), NO_HISTORY, build_pipeline(cfg_b))
    # temperature first flattens to [.379, .294, .208, .120]: top-p 0.7 then keeps 3 tokens
    assert a.final.probs.tolist() == pytest.approx([0.430604, 0.333544, 0.235852, 0], abs=1e-6)
    # top-p first keeps [.625, .375]; temperature 2 then gives sqrt-renormalised values
    assert b.final.probs.tolist() == pytest.approx([0.563508, 0.436492, 0, 0], abs=1e-6)
    assert [s.name for s in a.stages] == ["raw", "temperature", "top_p"]
    assert a.stages[2].removed.tolist() == [False, False, False, True]
    assert b.stages[1].removed.tolist() == [False, False, True, True]


def test_neutral_settings_add_no_stage_and_greedy_is_last():
    cfg = SamplingConfig(temperature=1.0, top_p=1.0, min_p=0.0, greedy=True)
    assert [p.name for p in build_pipeline(cfg)] == ["greedy"]
    out = run_pipeline(logits_of(PROBS), NO_HISTORY, build_pipeline(cfg))
    assert out.final.probs.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert int(out.final.removed.sum()) == 3


def test_a_stage_that_leaves_nothing_usable_is_skipped_with_a_notice():
    # logits / 1e-45 overflow to +inf -> softmax NaN: the stage is undone, sampling goes on
    cfg = SamplingConfig(temperature=1e-45, top_k=2)
    out = run_pipeline(torch.tensor([1000.0, 0.0, -5.0]), NO_HISTORY, build_pipeline(cfg))
    assert out.stages[1].skipped
    assert "temperature left no usable candidate" in out.notices[0]
    assert out.final.probs.tolist() == pytest.approx([1.0, math.exp(-1000), 0.0], abs=1e-12)
    assert out.final.probs[2] == 0.0


def test_invalid_model_logits_raise():
    with pytest.raises(FloatingPointError, match="invalid logits"):
        run_pipeline(torch.tensor([float("nan"), 0.0]), NO_HISTORY, [])


def test_entropy_in_nats():
    assert entropy(torch.full((4,), 0.25)) == pytest.approx(math.log(4))
    assert entropy(torch.tensor([1.0, 0.0])) == 0.0


def test_choose_token_inverse_cdf_with_one_draw():
    probs = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    for seed in range(20):
        gen = torch.Generator().manual_seed(seed)
        token, u = choose_token(probs, gen, greedy=False)
        expected_u = float(
            torch.rand((), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        )
        assert u == expected_u
        assert token == (0 if u < 0.2 else 1 if u < 0.7 else 2)
    assert choose_token(probs, None, greedy=True) == (1, None)


def test_choose_token_never_picks_a_removed_token():
    probs = torch.tensor([0.0, 0.6, 0.0, 0.4, 0.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    picks = {choose_token(probs, gen, greedy=False)[0] for _ in range(200)}
    assert picks == {1, 3}


def test_top_p_keeps_the_larger_of_two_logits_equal_in_probability():
    # found by Hypothesis: softmax gives both exactly 0.5; the larger logit must survive
    raw = torch.tensor([0.0, 1.84124071400797e-32])
    out = run_pipeline(raw, NO_HISTORY, build_pipeline(SamplingConfig(top_p=0.5)))
    assert out.final.probs.tolist() == [0.0, 1.0]


@settings(max_examples=60, deadline=None)
@given(
    logits=st.lists(st.floats(-20, 20), min_size=2, max_size=40),
    temperature=st.floats(0.05, 5.0),
    top_k=st.none() | st.integers(1, 50),
    top_p=st.none() | st.floats(0.01, 1.0),
    min_p=st.none() | st.floats(0.0, 1.0),
    order=st.permutations(["temperature", "top_k", "top_p", "min_p"]),
)
def test_any_pipeline_yields_a_distribution_keeping_the_top_token(
    logits, temperature, top_k, top_p, min_p, order
):
    cfg = SamplingConfig(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                         order=tuple(order))  # fmt: skip
    raw = torch.tensor(logits)
    out = run_pipeline(raw, NO_HISTORY, build_pipeline(cfg))
    final = out.final.probs
    assert float(final.sum()) == pytest.approx(1.0)
    assert float(final[raw == raw.max()].sum()) > 0  # every filter keeps a most likely token
    if top_k is not None:
        assert int((final > 0).sum()) <= top_k
    kept = final > 0
    for stage in out.stages[1:]:
        assert not (stage.removed & kept).any()  # a removed token never comes back
    assert out.notices == []
