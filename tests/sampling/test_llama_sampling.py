"""The stepwise sampler drives a Llama as it drives a GPT: processors, cache, end token, replay."""

from __future__ import annotations

import pytest
import tiktoken
import torch

from core.model.llama import Llama, LlamaConfig
from core.sampling import GenerationFinished, Sampler, SamplingConfig
from core.sampling.persist import load_trajectory, replay, save_trajectory

IM_START, IM_END = 257, 258


def chat_encoding() -> tiktoken.Encoding:
    """256 byte tokens + <|endoftext|> and ChatML's two markers."""
    return tiktoken.Encoding(
        name="test-chat-bytes",
        pat_str=r"""\s?\w+|\s?[^\w\s]+|\s+""",
        mergeable_ranks={bytes([i]): i for i in range(256)},
        special_tokens={"<|endoftext|>": 256, "<|im_start|>": IM_START, "<|im_end|>": IM_END},
    )


def tiny_llama(seed: int = 0, context_length: int = 24) -> Llama:
    config = LlamaConfig(
        vocab_size=259, context_length=context_length, n_layer=2, n_head=4, n_kv_head=2, n_embd=32,
        ffn_hidden=48, eos_token_id=IM_END,
    )  # fmt: skip
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Llama(config).eval()
        with torch.no_grad():
            model.tok_emb.weight.normal_(0, 1.0)  # spread the logits: sampling has choices
    return model.requires_grad_(False)


CHAT = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
CONFIG = SamplingConfig(
    temperature=0.9, top_k=50, top_p=0.95, min_p=0.01, repetition_penalty=1.3, seed=5
)


def test_chat_markers_are_special_tokens_and_every_processor_runs():
    enc, model = chat_encoding(), tiny_llama()
    s = Sampler(model, enc, CHAT, CONFIG)
    assert s.prompt_ids[:1] == [IM_START] and s.prompt_ids.count(IM_END) == 1
    assert len(s.prompt_ids) == len(enc.encode(CHAT, allowed_special="all"))
    s.run(8)
    assert len(s.records) == 8
    stages = [(st.name, st.skipped) for st in s.records[0].stages]
    assert stages == [
        ("raw", False),
        ("repetition_penalty", False),
        ("temperature", False),
        ("top_k", False),
        ("top_p", False),
        ("min_p", False),
    ]


def test_cache_and_no_cache_give_the_same_tokens_past_the_context():
    enc, model = chat_encoding(), tiny_llama()
    cached = Sampler(model, enc, CHAT, CONFIG, use_cache=True)
    plain = Sampler(model, enc, CHAT, CONFIG, use_cache=False)
    cached.run(16)  # 16 prompt + 16 new > context 24: the sliding window too
    plain.run(16)
    assert cached.token_ids == plain.token_ids
    assert [r.cached for r in cached.records[:4]] == [True] * 4
    for a, b in zip(cached.records, plain.records, strict=True):
        assert a.prob == pytest.approx(b.prob, abs=1e-5)


def test_stops_at_the_models_end_token():
    s = Sampler(tiny_llama(), chat_encoding(), CHAT, CONFIG)
    s.force(ord("o"))
    s.force(IM_END)
    assert s.finished and s.records[-1].eos
    with pytest.raises(GenerationFinished, match=r"ended the text with <\|im_end\|> at step 2"):
        s.step()
    assert s.text == "o<|im_end|>"


def test_a_plain_prompt_still_reads_markers_as_text_for_a_gpt_tokenizer_rule():
    """Only a model that names its end token reads every special token in a prompt."""
    from tests.sampling.helpers import byte_encoding, tiny_gpt

    s = Sampler(tiny_gpt(), byte_encoding(), "<|im_start|>x", SamplingConfig(seed=1))
    assert s.prompt_ids == list(b"<|im_start|>x")
    assert s.eos_id == 256


def test_save_and_replay_exactly(session_factory):
    enc, model = chat_encoding(), tiny_llama()
    s = Sampler(model, enc, CHAT, CONFIG, top_n=5)
    s.run(4)
    s.force(ord("!"))
    s.run(3)
    with session_factory.begin() as session:
        run_id = save_trajectory(session, s, model_id="smollm2")
    with session_factory.begin() as session:
        saved = load_trajectory(session, run_id)
    result = replay(model, enc, saved)
    assert result.exact and result.sampler.token_ids == s.token_ids
    assert result.sampler.prompt_ids == s.prompt_ids
