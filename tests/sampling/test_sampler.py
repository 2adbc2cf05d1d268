"""The stepwise sampler on a tiny random GPT: reproducibility, cache identity, rewind, branch."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from core.sampling import (
    GenerationFinished,
    Sampler,
    SamplingConfig,
    SamplingError,
    StepRecord,
    compare_cache,
)
from core.tokenization import get_encoding
from tests.sampling.helpers import EOT_ID, eos_model, tiny_gpt

CONFIGS = {
    "plain": SamplingConfig(seed=1),
    "filters": SamplingConfig(temperature=0.8, top_k=50, top_p=0.9, min_p=0.02, seed=2),
    "penalties": SamplingConfig(temperature=1.3, repetition_penalty=1.3, presence_penalty=0.4),
    "greedy": SamplingConfig(temperature=0.0),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_same_seed_and_settings_give_the_same_tokens(model, enc, name):
    a = Sampler(model, enc, "Hello there", CONFIGS[name])
    b = Sampler(model, enc, "Hello there", CONFIGS[name])
    a.run(12)
    b.run(12)
    assert a.token_ids == b.token_ids
    assert len(a.token_ids) == 12


def test_another_seed_gives_other_tokens(model, enc):
    a = Sampler(model, enc, "Hello", SamplingConfig(seed=1))
    b = Sampler(model, enc, "Hello", SamplingConfig(seed=2))
    assert a.run(10) != b.run(10)
    assert a.token_ids != b.token_ids


@pytest.mark.parametrize("name", CONFIGS)
def test_cache_on_and_off_choose_identical_tokens(model, enc, name):
    # 30 steps from a 6-token prompt run past the context (24): the sliding window is covered
    on = Sampler(model, enc, "Hello!", CONFIGS[name], use_cache=True)
    off = Sampler(model, enc, "Hello!", CONFIGS[name], use_cache=False)
    on.run(30)
    off.run(30)
    assert on.token_ids == off.token_ids
    for r_on, r_off in zip(on.records, off.records, strict=True):
        assert r_on.raw_prob == pytest.approx(r_off.raw_prob, abs=1e-5)
    assert [r.new_tokens for r in on.records[:3]] == [6, 1, 1]
    assert [r.new_tokens for r in off.records[:3]] == [6, 7, 8]
    assert on.records[0].cached and not off.records[0].cached
    assert not on.records[-1].cached  # beyond the context every step recomputes the window
    assert any("longer than the model's context (24 tokens)" in n for n in on.notices)


def test_greedy_always_takes_rank_zero(model, enc):
    s = Sampler(model, enc, "abc", SamplingConfig(temperature=0))
    s.run(8)
    assert [r.rank for r in s.records] == [0] * 8
    assert all(r.draw is None and r.prob == 1.0 for r in s.records)
    assert "greedy" in s.notices[0]


def test_record_contents_are_consistent(model, enc):
    s = Sampler(model, enc, "The cat", SamplingConfig(temperature=0.7, top_k=5, seed=4), top_n=8)
    rec = s.step()
    assert [st.name for st in rec.stages] == ["raw", "temperature", "top_k"]
    assert rec.position == len(s.prompt_ids)
    assert rec.index == 0 and 0 <= rec.draw < 1
    ids = [c.token_id for c in rec.candidates]
    assert len(ids) >= 8 and rec.token_id in ids
    raw_logits = [c.logit for c in rec.candidates]
    assert raw_logits == sorted(raw_logits, reverse=True)
    final = rec.stages[-1]
    assert final.kept_count == 5 and final.removed_count == 257 - 5
    assert final.probs[rec.candidate_index(rec.token_id)] == pytest.approx(rec.prob)
    assert sum(final.probs) == pytest.approx(1.0)  # all 5 survivors are among the candidates
    assert rec.stage("raw").entropy == pytest.approx(rec.entropy)
    assert rec.rank < 5 and rec.logprob == pytest.approx(torch.tensor(rec.raw_prob).log().item())
    assert rec.latency_ms > 0 and rec.forward_ms > 0
    assert StepRecord.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec


def test_rewind_restores_the_generator_and_replays_the_same_tokens(model, enc):
    s = Sampler(model, enc, "Once upon", SamplingConfig(temperature=1.2, seed=9))
    s.run(10)
    before = list(s.token_ids)
    s.rewind(4)
    assert s.token_ids == before[:6]
    s.run(4)
    assert s.token_ids == before
    with pytest.raises(SamplingError, match="Cannot rewind 11 steps"):
        s.rewind(11)


def test_force_draws_no_random_number(model, enc):
    a = Sampler(model, enc, "x", SamplingConfig(seed=5))
    b = Sampler(model, enc, "x", SamplingConfig(seed=5))
    state = a.generator.get_state()
    rec = a.force(ord("Q"))
    assert torch.equal(a.generator.get_state(), state)
    assert rec.forced and rec.token_id == ord("Q") and rec.token_text == "Q" and rec.draw is None
    a.run(5)
    b.run(1)  # b's first draw is a's first draw after the forced step
    b.rewind(1)
    b.force(ord("Q"))
    b.run(5)
    assert a.token_ids == b.token_ids
    with pytest.raises(SamplingError, match="outside the vocabulary"):
        a.force(999)


def test_branch_is_independent_and_shares_the_prefix(model, enc):
    main = Sampler(model, enc, "Hi", SamplingConfig(seed=11))
    main.run(8)
    tokens = list(main.token_ids)
    twin = main.branch(at_step=3)
    assert twin.token_ids == tokens[:3] and main.token_ids == tokens
    twin.run(5)
    assert twin.token_ids == tokens  # same generator state at the fork => same continuation
    other = main.branch(at_step=3)
    other.force(ord("Z"))
    other.run(4)
    assert other.token_ids[:4] == tokens[:3] + [ord("Z")]
    assert main.token_ids == tokens and len(main.records) == 8


def test_empty_prompt_starts_from_endoftext(model, enc):
    s = Sampler(model, enc, "", SamplingConfig())
    assert s.prompt_ids == [EOT_ID]
    assert "The prompt is empty: starting from <|endoftext|>" in s.notices[0]
    assert len(s.run(3)) == 3


def test_long_prompt_is_cropped_to_the_context(model, enc):
    prompt = "abcdefghijklmnopqrstuvwxyz0123456789"  # 36 byte tokens, context 24
    s = Sampler(model, enc, prompt, SamplingConfig(seed=0))
    assert s.prompt_ids == list(prompt[-24:].encode())
    assert "The prompt has 36 tokens but the model reads at most 24" in s.notices[0]
    s.run(2)


def start_model():
    """The tiny GPT, declared to have been trained with <|endoftext|> first in every window."""
    model = tiny_gpt()
    model.config = dataclasses.replace(model.config, start_token=EOT_ID)
    return model


def test_a_model_with_a_start_token_reads_it_before_the_prompt(enc):
    s = Sampler(start_model(), enc, "Hi", SamplingConfig(seed=0))
    assert s.prompt_ids == [EOT_ID, ord("H"), ord("i")]
    assert s.prompt_text == "Hi" and s.start_token == EOT_ID and not s.notices
    assert s.run(2)[0].position == 3
    empty = Sampler(start_model(), enc, "", SamplingConfig())
    assert empty.prompt_ids == [EOT_ID] and "start token '<|endoftext|>' alone" in empty.notices[0]
    prompt = "abcdefghijklmnopqrstuvwxyz0123456789"  # 36 tokens: 23 fit behind the start
    long = Sampler(start_model(), enc, prompt, SamplingConfig())
    assert long.prompt_ids == [EOT_ID, *prompt[-23:].encode()]
    assert "reads at most 23 after its start token" in long.notices[0]


def test_start_token_stays_in_front_when_the_window_slides(enc):
    on = Sampler(start_model(), enc, "Hello!", SamplingConfig(seed=4), use_cache=True)
    off = Sampler(start_model(), enc, "Hello!", SamplingConfig(seed=4), use_cache=False)
    on.run(30)
    off.run(30)
    assert on.token_ids == off.token_ids
    assert any("last 23 tokens behind the start token" in n for n in on.notices)
    model, fed = start_model(), []
    real = model.forward
    model.forward = lambda idx, **kw: fed.append(idx) or real(idx, **kw)
    Sampler(model, enc, "Hello!", SamplingConfig(seed=4), use_cache=True).run(30)
    windows = [x[0].tolist() for x in fed if x.shape[1] == 24]
    assert windows and all(w[0] == EOT_ID for w in windows)
    assert windows[-1][1:] == on._tokens[-24:-1]


def test_model_emitting_end_of_text_finishes_the_trajectory(enc):
    s = Sampler(eos_model(), enc, "Bye", SamplingConfig(seed=0))
    assert len(s.run(5)) == 1
    assert s.records[0].eos and s.records[0].token_text == "<|endoftext|>" and s.finished
    with pytest.raises(GenerationFinished, match="ended the text with <\\|endoftext\\|> at step 1"):
        s.step()
    s.rewind(1)
    s.force(ord("!"))  # branching past the end is allowed
    assert not s.finished
    cont = Sampler(eos_model(), enc, "Bye", SamplingConfig(seed=0, stop_at_eos=False))
    assert len(cont.run(3)) == 3


def test_top_k_larger_than_vocab_and_padded_vocab(enc):
    model = tiny_gpt(vocab_size=300)  # embedding table larger than the tokenizer (257)
    s = Sampler(model, enc, "pad", SamplingConfig(top_k=1000, seed=0))
    assert s.vocab_size == 257 and "top-k 1000 is larger than the vocabulary" in s.notices[0]
    s.run(20)
    assert max(s.token_ids) < 257


def test_toggling_the_cache_mid_trajectory_keeps_the_tokens(model, enc):
    ref = Sampler(model, enc, "Toggle", SamplingConfig(seed=3))
    ref.run(10)
    s = Sampler(model, enc, "Toggle", SamplingConfig(seed=3), use_cache=False)
    s.run(4)
    s.set_use_cache(True)
    s.run(3)
    s.set_use_cache(False)
    s.run(3)
    assert s.token_ids == ref.token_ids
    assert [r.cached for r in s.records] == [False] * 4 + [True] * 3 + [False] * 3


def test_released_cache_is_rebuilt_with_the_same_tokens(model, enc):
    ref = Sampler(model, enc, "Release", SamplingConfig(seed=8))
    ref.run(8)
    s = Sampler(model, enc, "Release", SamplingConfig(seed=8))
    s.run(5)
    s.release_cache()
    assert s.use_cache and s._cache is None
    rebuilt = s.step()
    assert rebuilt.cached and rebuilt.new_tokens == len(s.prompt_ids) + 5  # prefill again
    s.run(2)
    assert s.token_ids == ref.token_ids


def test_compare_cache_reports_identical_tokens(model, enc):
    result = compare_cache(model, enc, "Speed", SamplingConfig(seed=1), n_steps=6)
    assert result.tokens_equal and len(result.cached_ms) == len(result.uncached_ms) == 6
    assert result.median_cached_ms > 0 and result.speedup > 0


def test_real_gpt2_encoding():
    enc = get_encoding("gpt2")
    model = tiny_gpt(vocab_size=enc.n_vocab, context_length=32)
    on = Sampler(model, enc, "Hello, do you like tea?", SamplingConfig(top_p=0.95, seed=0))
    off = Sampler(
        model, enc, "Hello, do you like tea?", SamplingConfig(top_p=0.95, seed=0), use_cache=False
    )
    on.run(6)
    off.run(6)
    assert on.prompt_ids == [15496, 11, 466, 345, 588, 8887, 30]
    assert on.token_ids == off.token_ids
    assert on.text == enc.decode(on.token_ids)


def test_run_within_stops_at_the_time_budget_and_continues_the_same_trajectory(model, enc):
    ticks = iter(range(1000))  # a fake clock: one second per call
    s = Sampler(model, enc, "Hi", SamplingConfig(seed=4))
    first = s.run_within(50, 2.5, clock=lambda: next(ticks))
    assert len(first) == 3  # start at t=0; after each step t=1, 2, 3 (≥ 2.5: stop)
    rest = s.run_within(50 - 3, 1e9)
    assert len(rest) == 47
    whole = Sampler(model, enc, "Hi", SamplingConfig(seed=4))
    assert [r.token_id for r in whole.run(50)] == s.token_ids[-50:]
    assert s.run_within(0, 1.0) == []


def test_run_within_stops_at_end_of_text(enc):
    s = Sampler(eos_model(), enc, "Bye", SamplingConfig(seed=0))
    assert len(s.run_within(10, 1e9)) == 1 and s.finished
    assert s.run_within(10, 1e9) == []
