"""LlamaDecoder: the native-kernel decoding step gives the plain Llama's logits and cache.

The reference is the plain model's own cached forward (itself tested against transformers
in test_llama.py and test_smollm2.py), on a tiny random Llama and, when present, the real
SmolLM2 file; float32 and bfloat16 weights; many cached steps after a prefill.
"""

from __future__ import annotations

import copy

import pytest
import torch

import core.model.llama_decoder as decoder_module
from core.model import GPT, GPTConfig, InputError
from core.model.kernels import native_kernels
from core.model.kernels.native import native_status
from core.model.llama import Llama, LlamaConfig
from core.model.llama_decoder import LlamaDecoder, llama_decoder
from core.sampling import Sampler, SamplingConfig
from tests.conftest import missing_service
from tests.sampling.helpers import byte_encoding

CONFIG = LlamaConfig(
    vocab_size=96,
    context_length=64,
    n_layer=3,
    n_head=4,
    n_kv_head=2,
    n_embd=64,
    ffn_hidden=96,
    rope_theta=10_000.0,
)


@pytest.fixture
def kernels():
    found = native_kernels()
    if found is None:
        missing_service(f"native kernels unavailable: {native_status()}")
    return found


def tiny_llama(dtype: torch.dtype = torch.float32, seed: int = 0, vocab_size: int = 96) -> Llama:
    torch.manual_seed(seed)
    model = Llama(LlamaConfig(**{**CONFIG.to_dict(), "vocab_size": vocab_size})).eval()
    with torch.no_grad():  # norms away from 1, so a skipped or swapped norm would show
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0.0, 0.2)
    return model.to(dtype)


def decode_both(model: Llama, decoder: LlamaDecoder, ids: torch.Tensor, prefill: int):
    """Logits (steps, vocab) of the plain cached forward and of the decoder, and both caches."""
    plain_cache, native_cache = model.new_kv_cache(), model.new_kv_cache()
    plain, native = [], []
    with torch.inference_mode():
        model(ids[:, :prefill], kv_cache=plain_cache)
        model(ids[:, :prefill], kv_cache=native_cache)
        for t in range(prefill, ids.shape[1]):
            plain.append(model(ids[:, t : t + 1], kv_cache=plain_cache)[0, 0])
            native.append(decoder.step(ids[:, t : t + 1], native_cache)[0, 0])
    return torch.stack(plain), torch.stack(native), plain_cache, native_cache


def test_float32_steps_equal_the_plain_forward(kernels):
    model = tiny_llama()
    before = copy.deepcopy(model.state_dict())
    decoder = llama_decoder(model)
    assert isinstance(decoder, LlamaDecoder)
    ids = torch.randint(0, CONFIG.vocab_size, (1, 60), generator=torch.Generator().manual_seed(1))
    plain, native, plain_cache, native_cache = decode_both(model, decoder, ids, prefill=5)
    assert native.shape == (55, CONFIG.vocab_size) and native.dtype == torch.float32
    torch.testing.assert_close(native, plain, atol=1e-5, rtol=1e-5)
    with torch.inference_mode():
        uncached = model(ids)[0, 5:]  # (55, vocab): the whole sequence at once
    torch.testing.assert_close(native, uncached, atol=1e-4, rtol=1e-4)
    assert native_cache.length == plain_cache.length == 60
    torch.testing.assert_close(native_cache.keys, plain_cache.keys, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(native_cache.values, plain_cache.values, atol=1e-5, rtol=1e-5)
    for name, tensor in model.state_dict().items():  # the shared model is only read
        assert torch.equal(tensor, before[name]), name


def test_bfloat16_steps_follow_the_plain_bfloat16_forward(kernels):
    model = tiny_llama(torch.bfloat16)
    decoder = llama_decoder(model)
    ids = torch.randint(0, CONFIG.vocab_size, (1, 48), generator=torch.Generator().manual_seed(2))
    plain, native, plain_cache, native_cache = decode_both(model, decoder, ids, prefill=4)
    assert native.dtype == torch.bfloat16 and native_cache.keys.dtype == torch.bfloat16
    # Both round to bfloat16 at the same places; only the order of the float32 sums differs,
    # which moves a logit (here up to 6.2) by a bfloat16 step or two.
    assert float(plain.float().abs().max()) > 4.0
    torch.testing.assert_close(native.float(), plain.float(), atol=0.1, rtol=0.0)
    top2 = plain.float().topk(2, dim=-1).values  # (steps, 2)
    clear = top2[:, 0] - top2[:, 1] > 0.2  # steps whose greedy choice is not a near tie
    assert int(clear.sum()) >= 20
    assert torch.equal(native.argmax(-1)[clear], plain.argmax(-1)[clear])
    torch.testing.assert_close(
        native_cache.keys.float(), plain_cache.keys.float(), atol=0.05, rtol=0.02
    )


def test_a_step_checks_what_the_model_checks(kernels):
    model = tiny_llama()
    decoder = llama_decoder(model)
    cache = model.new_kv_cache()
    with pytest.raises(InputError, match="out of range"):
        decoder.step(torch.tensor([[CONFIG.vocab_size]]), cache)
    with pytest.raises(ValueError, match="one token at a time"):
        decoder.step(torch.tensor([[1, 2]]), cache)
    assert cache.length == 0
    model(torch.zeros(1, CONFIG.context_length, dtype=torch.long), kv_cache=cache)
    with pytest.raises(InputError, match="context length"):
        decoder.step(torch.tensor([[1]]), cache)


def test_one_decoder_per_model_rebuilt_when_its_weights_change(kernels):
    model = tiny_llama()
    decoder = llama_decoder(model)
    assert llama_decoder(model) is decoder  # shared: built once
    assert llama_decoder(tiny_llama(seed=1)) is not decoder
    with torch.no_grad():
        model.blocks[0].ffn.up.weight.mul_(2.0)  # in place: the stacked copy is stale
    rebuilt = llama_decoder(model)
    assert rebuilt is not decoder
    ids = torch.randint(0, CONFIG.vocab_size, (1, 12), generator=torch.Generator().manual_seed(3))
    plain, native, _, _ = decode_both(model, rebuilt, ids, prefill=3)
    torch.testing.assert_close(native, plain, atol=1e-5, rtol=1e-5)


def test_no_decoder_where_it_does_not_apply(kernels, monkeypatch):
    assert llama_decoder(tiny_llama().train()) is None  # training mode
    mixed = tiny_llama()
    mixed.blocks[0].ffn.down.to(torch.bfloat16)
    assert llama_decoder(mixed) is None  # one dtype for every parameter
    assert llama_decoder(tiny_llama(torch.float16)) is None
    assert llama_decoder(GPT(GPTConfig(vocab_size=64, context_length=16, n_layer=1))) is None
    monkeypatch.setattr(decoder_module, "native_kernels", lambda: None)  # no compiler
    assert llama_decoder(tiny_llama()) is None


@pytest.mark.parametrize("native", [True, False])
def test_sampler_decodes_with_it_and_without_it_the_same(kernels, spy, native):
    encoding = byte_encoding()  # 256 bytes + <|endoftext|>
    model = tiny_llama(vocab_size=encoding.n_vocab)
    steps = spy("core.model.llama_decoder.LlamaDecoder.step")
    config = SamplingConfig(temperature=1.0, seed=7)
    sampler = Sampler(model, encoding, "Hello there", config, native=native)
    sampler.run(12)
    assert len(steps) == (11 if native else 0)  # every step after the prefill
    assert sampler.token_ids == EXPECTED_SAMPLED_IDS
    twin = sampler.branch(at_step=6)  # a branch shares the decoder, not the cache
    twin.run(6)
    assert twin.token_ids == EXPECTED_SAMPLED_IDS


def test_sampler_falls_back_to_the_plain_model_without_the_kernels(monkeypatch, spy):
    monkeypatch.setattr("core.sampling.sampler.llama_decoder", lambda model: None)
    encoding = byte_encoding()
    steps = spy("core.model.llama_decoder.LlamaDecoder.step")
    sampler = Sampler(
        tiny_llama(vocab_size=encoding.n_vocab),
        encoding,
        "Hello there",
        SamplingConfig(temperature=1.0, seed=7),
    )
    sampler.run(12)
    assert steps == [] and sampler.token_ids == EXPECTED_SAMPLED_IDS


# What the plain model samples for the test above (computed with the decoder disabled).
EXPECTED_SAMPLED_IDS = [72, 95, 193, 129, 214, 208, 90, 145, 191, 211, 19, 16]


@pytest.fixture(scope="module")
def smollm2(smollm2_model):  # the session's shared model (tests/conftest.py), read-only
    return smollm2_model


@pytest.mark.slow
def test_smollm2_greedy_decoding_equals_the_plain_model(kernels, smollm2):
    decoder = llama_decoder(smollm2)
    prompt = torch.tensor([[1, 9690, 198, 2683, 359, 253, 5356, 5646]])  # any ids will do
    plain_cache, native_cache = smollm2.new_kv_cache(), smollm2.new_kv_cache()
    with torch.inference_mode():
        first = smollm2(prompt, kv_cache=plain_cache, last_only=True)[0, -1]
        smollm2(prompt, kv_cache=native_cache)
        plain_token = native_token = int(first.argmax())
        plain_ids, native_ids, worst = [], [], 0.0
        for _ in range(24):
            plain = smollm2(torch.tensor([[plain_token]]), kv_cache=plain_cache)[0, 0]
            native = decoder.step(torch.tensor([[native_token]]), native_cache)[0, 0]
            if plain_token == native_token:
                worst = max(worst, float((plain - native).abs().max()))
            plain_token, native_token = int(plain.argmax()), int(native.argmax())
            plain_ids.append(plain_token)
            native_ids.append(native_token)
    assert native_ids == plain_ids
    assert worst < 1e-3


@pytest.mark.slow
def test_smollm2_bfloat16_is_as_close_to_float32_as_the_plain_bfloat16(kernels, smollm2):
    half = copy.deepcopy(smollm2).to(torch.bfloat16)
    decoder = llama_decoder(half)
    ids = torch.tensor([[1, 9690, 198, 2683, 359, 253, 5356, 5646, 30, 2, 198, 1, 4093, 198]])
    with torch.inference_mode():
        reference = smollm2(ids)[0, 4:]  # (10, vocab) float32
    plain, native, _, _ = decode_both(half, decoder, ids, prefill=4)
    plain_error = (plain.float() - reference).abs().amax(-1)  # (10,) per step
    native_error = (native.float() - reference).abs().amax(-1)
    assert float(native_error.max()) <= 2 * float(plain_error.max())
    assert float(native_error.mean()) <= 2 * float(plain_error.mean())
