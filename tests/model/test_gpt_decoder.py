"""NativeGPTDecoder: the plain GPT's logits, tokens and KV cache, one native call a token."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from core.model import GPT, CacheFullError, GPTConfig, InputError, KVCache
from core.model import gpt_decoder as decoder_module
from core.model.decoding import pick_decoder
from core.model.gpt_decoder import NativeGPTDecoder
from core.model.kernels import native_kernels, native_status
from core.model.layers import Dense
from tests.conftest import missing_service


@pytest.fixture
def kernels():
    found = native_kernels()
    if found is None:
        missing_service(f"native kernels unavailable: {native_status()}")
    return found


def perturbed_model(config: GPTConfig, weights: str = "fp32", seed: int = 0) -> GPT:
    """An eval-mode model with LayerNorms and biases away from their 1/0 init, its matrices
    cast to bf16 when ``weights == "bf16"`` (LayerNorms, biases, activations stay fp32)."""
    torch.manual_seed(seed)
    model = GPT(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    if weights == "bf16":
        model.cast_matrices(torch.bfloat16)
    return model


def widened_reference(model: GPT, kernels) -> GPT:
    """The plain model computing what the kernel computes with ``model``'s (bf16) weights.

    The weights widened back to float32; where the kernel multiplies bf16 pairs
    (``kernels.bf16_pairs`` and a width that is a multiple of 64) each product's input is
    rounded to bf16 first, as the kernel rounds it.
    """
    reference = copy.deepcopy(model).float()
    if kernels.bf16_pairs and model.config.n_embd % 64 == 0:
        for module in reference.modules():
            if isinstance(module, Dense):
                module.register_forward_pre_hook(lambda _m, args: (args[0].bfloat16().float(),))
    return reference


@torch.inference_mode()
def teacher_forced(model: GPT, ids: torch.Tensor, prefill: int, *, native: bool):
    """Logits (steps, vocab) of ids[prefill:], one cached step each, and the cache."""
    cache = model.new_kv_cache()
    if prefill:
        model(ids[:, :prefill], kv_cache=cache)
    decoder = NativeGPTDecoder.create(model, cache) if native else None
    assert (decoder is not None) == native
    rows = []
    for i in range(prefill, ids.shape[1]):
        token = ids[:, i : i + 1]
        rows.append(decoder.step(token) if native else model(token, kv_cache=cache)[:, -1])
    return torch.cat(rows), cache


@torch.inference_mode()
def greedy(model: GPT, prompt: torch.Tensor, steps: int, *, native: bool) -> list[int]:
    cache = model.new_kv_cache()
    logits = model(prompt, kv_cache=cache, last_only=True)[:, -1]
    decoder = NativeGPTDecoder.create(model, cache) if native else None
    tokens = []
    for _ in range(steps):
        nxt = logits.argmax(-1, keepdim=True)
        tokens.append(int(nxt))
        logits = decoder.step(nxt) if native else model(nxt, kv_cache=cache)[:, -1]
    return tokens


@pytest.mark.parametrize(
    ("width", "tie", "qkv_bias", "threads"),
    [(64, True, False, 2), (96, False, True, 3), (128, True, True, 1)],
)  # 96: the kernel's remainder loops for d; 3 threads: uneven row shares
def test_decoder_gives_the_plain_models_logits_cache_and_tokens(
    kernels, width, tie, qkv_bias, threads
):
    config = GPTConfig(
        vocab_size=97, context_length=40, n_layer=2, n_head=4, n_embd=width,
        tie_embeddings=tie, qkv_bias=qkv_bias,
    )  # fmt: skip
    model = perturbed_model(config)
    ids = torch.randint(0, config.vocab_size, (1, 30), generator=torch.Generator().manual_seed(1))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        native, native_cache = teacher_forced(model, ids, 5, native=True)
        plain, plain_cache = teacher_forced(model, ids, 5, native=False)
        with torch.inference_mode():
            uncached = model(ids)[0, 4:-1]  # the same positions' logits, all at once
        assert greedy(model, ids[:, :3], 30, native=True) == greedy(
            model, ids[:, :3], 30, native=False
        )
    finally:
        torch.set_num_threads(before)
    assert native.shape == (25, config.vocab_size)
    torch.testing.assert_close(native, plain, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(native[:-1], uncached[1:], atol=1e-4, rtol=1e-4)
    assert native_cache.length == plain_cache.length == 30
    torch.testing.assert_close(native_cache.keys, plain_cache.keys, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(native_cache.values, plain_cache.values, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("width", [64, 96])
def test_bf16_weights_decode_as_the_widened_plain_model(kernels, width):
    config = GPTConfig(vocab_size=97, context_length=24, n_layer=2, n_head=4, n_embd=width)
    model = perturbed_model(config, "bf16")
    assert model.head.weight.dtype == torch.bfloat16 and model.dtype == torch.float32
    ids = torch.randint(0, config.vocab_size, (1, 16), generator=torch.Generator().manual_seed(2))
    native, cache = teacher_forced(model, ids, 0, native=True)  # every position a step
    reference, ref_cache = teacher_forced(widened_reference(model, kernels), ids, 0, native=False)
    torch.testing.assert_close(native, reference, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(cache.keys, ref_cache.keys, atol=1e-5, rtol=1e-5)
    plain, _ = teacher_forced(model, ids, 0, native=False)  # bf16 products round their output
    torch.testing.assert_close(native, plain, atol=0.03, rtol=0.05)


def test_one_model_decodes_for_several_threads_at_once(kernels, spy):
    # Browser sessions share one loaded model; each has its own cache and decoder. The
    # native calls release the GIL, so their OpenMP regions really do overlap here.
    config = GPTConfig(vocab_size=97, context_length=64, n_layer=3, n_head=4, n_embd=128)
    model = perturbed_model(config)
    g = torch.Generator().manual_seed(3)
    prompts = [torch.randint(0, config.vocab_size, (1, 3 + i), generator=g) for i in range(6)]
    alone = [greedy(model, p, 40, native=False) for p in prompts]
    calls = spy("core.model.gpt_decoder.NativeGPTDecoder.step")
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(lambda p: greedy(model, p, 40, native=True), prompts * 3))
    assert together == alone * 3
    assert len(calls) == 18 * 40


def test_the_table_is_laid_out_again_when_the_weights_are_replaced(kernels):
    config = GPTConfig(vocab_size=97, context_length=24, n_layer=2, n_head=4, n_embd=64)
    model = perturbed_model(config)
    ids = torch.randint(0, config.vocab_size, (1, 12), generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        cache = model.new_kv_cache()
        model(ids[:, :5], kv_cache=cache)
    decoder = NativeGPTDecoder.create(model, cache)

    def step(i: int) -> None:
        """The decoder's step equals a fresh decoder's on a copy of the cache."""
        twin = cache.clone()
        fresh = NativeGPTDecoder.create(model, twin)
        out = decoder.step(ids[:, i : i + 1])
        torch.testing.assert_close(out, fresh.step(ids[:, i : i + 1]), atol=0, rtol=0)

    step(5)
    table = decoder._table
    with torch.no_grad():
        model.blocks[0].ffn.fc.weight.mul_(2)  # in place: same addresses, new values
    step(6)
    assert decoder._table is table
    model.cast_matrices(torch.bfloat16)  # new tensors: the old table must not be read
    step(7)
    assert decoder._table is not table and decoder._table.bf16
    table = decoder._table
    model.float()  # .to() and .float() replace the parameters too
    step(8)
    assert decoder._table is not table and not decoder._table.bf16
    table = decoder._table
    fresh = {name: 3 * value.clone() for name, value in model.state_dict().items()}
    model.load_state_dict(fresh, assign=True)  # new Parameter objects
    before = cache.clone()
    out = decoder.step(ids[:, 9:10])
    assert decoder._table is not table
    with torch.inference_mode():  # and the step read the new weights
        plain = model(ids[:, 9:10], kv_cache=before)[:, -1]
    torch.testing.assert_close(out, plain, atol=1e-4, rtol=1e-4)
    model.to(torch.float64)  # weights the kernel cannot read: the plain model's step
    cache.truncate(9)
    cache.keys, cache.values = cache.keys.double(), cache.values.double()
    with torch.inference_mode():
        expected = model(ids[:, 9:10], kv_cache=cache.clone())[:, -1]
    torch.testing.assert_close(decoder.step(ids[:, 9:10]), expected, atol=0, rtol=0)


def test_steps_raise_the_plain_models_errors(kernels):
    config = GPTConfig(vocab_size=97, context_length=8, n_layer=1, n_head=2, n_embd=32)
    model = perturbed_model(config)
    cache = model.new_kv_cache()
    decoder = NativeGPTDecoder.create(model, cache)
    with pytest.raises(InputError, match="out of range"):
        decoder.step(torch.tensor([[97]]))
    with pytest.raises(InputError, match="shape"):
        decoder.step(torch.tensor([[1, 2]]))
    assert cache.length == 0  # nothing was written
    for i in range(8):
        decoder.step(torch.tensor([[i]]))
    with pytest.raises(InputError, match="context length 8"):  # as model(...) says
        decoder.step(torch.tensor([[1]]))
    small = KVCache(n_layer=1, batch_size=1, n_head=2, max_length=4, head_dim=16)
    small.advance(4)
    with pytest.raises(CacheFullError):  # a cache shorter than the context, full
        NativeGPTDecoder(model, small, kernels).step(torch.tensor([[1]]))


def test_no_decoder_where_the_kernel_does_not_apply(kernels, monkeypatch):
    config = GPTConfig(vocab_size=97, context_length=8, n_layer=1, n_head=2, n_embd=32)
    model = perturbed_model(config)
    assert NativeGPTDecoder.create(model, model.new_kv_cache()) is not None
    assert NativeGPTDecoder.create(model, model.new_kv_cache(batch_size=2)) is None
    assert NativeGPTDecoder.create(model.train(), model.new_kv_cache()) is None  # dropout
    assert pick_decoder(model, model.new_kv_cache()) is None  # training: the plain model
    model.eval()
    odd = copy.deepcopy(model)
    odd.blocks[0].attn.qkv.bias = torch.nn.Parameter(torch.zeros(95))  # never read: refused
    assert NativeGPTDecoder.create(odd, odd.new_kv_cache()) is None
    half = copy.deepcopy(model).to(torch.bfloat16)  # bf16 activations and cache
    assert NativeGPTDecoder.create(half, half.new_kv_cache()) is None
    monkeypatch.setattr(decoder_module, "native_kernels", lambda: None)  # no C compiler
    assert NativeGPTDecoder.create(model, model.new_kv_cache()) is None
    assert pick_decoder(model, model.new_kv_cache()) is None


def test_the_picker_chooses_the_native_decoder_for_a_gpt_on_the_cpu(kernels):
    config = GPTConfig(vocab_size=97, context_length=8, n_layer=1, n_head=2, n_embd=32)
    model = perturbed_model(config)
    assert isinstance(pick_decoder(model, model.new_kv_cache()), NativeGPTDecoder)


def test_a_cache_whose_tensors_were_replaced_is_written_where_it_now_is(kernels):
    config = GPTConfig(vocab_size=97, context_length=8, n_layer=1, n_head=2, n_embd=32)
    model = perturbed_model(config)
    cache = model.new_kv_cache()
    decoder = NativeGPTDecoder.create(model, cache)
    decoder.step(torch.tensor([[5]]))
    old_keys = cache.keys
    cache.keys, cache.values = cache.keys.clone(), cache.values.clone()
    decoder.step(torch.tensor([[6]]))
    assert cache.keys[0, 0, :, 1].abs().sum() > 0  # position 1 landed in the new tensors
    assert old_keys[0, 0, :, 1].abs().sum() == 0
