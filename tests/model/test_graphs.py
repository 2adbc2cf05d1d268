"""The static decode step and GraphDecoder: the same logits and tokens as ``GPT.forward``.

On the CPU the decoder runs the static step eagerly; the CUDA tests (skipped without a GPU)
record and replay CUDA graphs.
"""

from __future__ import annotations

import pytest
import torch

from core.model import GPT, CacheFullError, GPTConfig, InputError
from core.model.graphs import GraphDecoder

CONFIG = GPTConfig(vocab_size=97, context_length=160, n_layer=2, n_head=4, n_embd=32)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def model_on(device: str, seed: int = 0, **overrides) -> GPT:
    torch.manual_seed(seed)
    config = GPTConfig(**{**CONFIG.to_dict(), **overrides})
    return GPT(config).eval().requires_grad_(False).to(device)


def prompt(t: int, device: str = "cpu", seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, CONFIG.vocab_size, (1, t), generator=g).to(device)


@torch.inference_mode()
def greedy_reference(model: GPT, ids: torch.Tensor, steps: int) -> tuple[list[int], list]:
    """Tokens and logits of greedy decoding with the ordinary cached forward."""
    cache = model.new_kv_cache()
    logits = model(ids, kv_cache=cache, last_only=True)[:, -1]
    tokens, rows = [], []
    for _ in range(steps):
        nxt = logits.argmax(-1, keepdim=True)
        tokens.append(int(nxt))
        logits = model(nxt, kv_cache=cache, last_only=True)[:, -1]
        rows.append(logits)
    return tokens, rows


@torch.inference_mode()
def greedy_static(model: GPT, ids: torch.Tensor, steps: int, **kw) -> tuple[list[int], list]:
    cache = model.new_kv_cache()
    logits = model(ids, kv_cache=cache, last_only=True)[:, -1]
    decoder = GraphDecoder(model, cache, **kw)
    tokens, rows = [], []
    for _ in range(steps):
        nxt = logits.argmax(-1, keepdim=True)
        tokens.append(int(nxt))
        logits = decoder.step(nxt)
        rows.append(logits)
    assert cache.length == ids.shape[1] + steps
    return tokens, rows


def test_static_step_matches_forward_across_every_span():
    model = model_on("cpu")
    ids = prompt(5)
    steps = CONFIG.context_length - 5  # fills the cache: spans 64, 128 and 160
    ref_tokens, ref_rows = greedy_reference(model, ids, steps)
    tokens, rows = greedy_static(model, ids, steps)
    assert tokens == ref_tokens
    for ref, got in zip(ref_rows, rows, strict=True):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_static_step_writes_the_same_cache_as_forward():
    model = model_on("cpu")
    ids = prompt(70)
    ref = model.new_kv_cache()
    with torch.inference_mode():
        model(ids, kv_cache=ref)
        cache = model.new_kv_cache()
        model(ids[:, :69], kv_cache=cache)
        GraphDecoder(model, cache).step(ids[:, 69:])
    assert cache.length == ref.length == 70
    torch.testing.assert_close(cache.keys[:, :, :, :70], ref.keys[:, :, :, :70])
    torch.testing.assert_close(cache.values[:, :, :, :70], ref.values[:, :, :, :70])


def test_spans_are_powers_of_two_capped_at_the_context():
    model = model_on("cpu")
    decoder = GraphDecoder(model, model.new_kv_cache())
    assert [decoder.span(p) for p in (0, 63, 64, 127, 128, 159)] == [64, 64, 128, 128, 160, 160]


def test_bf16_weights_decode_like_forward():
    model = model_on("cpu").cast_matrices(torch.bfloat16)
    ids = prompt(4)
    ref_tokens, ref_rows = greedy_reference(model, ids, 20)
    tokens, rows = greedy_static(model, ids, 20)
    assert tokens == ref_tokens
    # The same modules both ways (bf16 products); only attention's masking differs.
    for ref, got in zip(ref_rows, rows, strict=True):
        torch.testing.assert_close(got, ref, rtol=0, atol=1e-5)


def test_decoder_refuses_bad_ids_a_full_cache_and_a_training_model():
    model = model_on("cpu", context_length=8)
    cache = model.new_kv_cache()
    decoder = GraphDecoder(model, cache)
    with pytest.raises(InputError, match="out of range"):
        decoder.step(torch.tensor([[CONFIG.vocab_size]]))
    with pytest.raises(InputError, match="shape"):
        decoder.step(torch.tensor([[1, 2]]))
    assert cache.length == 0  # nothing was written
    for _ in range(8):
        decoder.step(torch.tensor([[3]]))
    with pytest.raises(CacheFullError):
        decoder.step(torch.tensor([[3]]))
    with pytest.raises(ValueError, match="eval mode"):
        GraphDecoder(model.train(), model.new_kv_cache())
    with pytest.raises(ValueError, match="CUDA"):
        GraphDecoder(model.eval(), cache, use_graphs=True)


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_graph_replay_matches_eager_forward(dtype):
    model = model_on("cuda").cast_matrices(dtype)
    ids = prompt(5, "cuda")
    steps = CONFIG.context_length - 5
    ref_tokens, ref_rows = greedy_reference(model, ids, steps)
    cache_tokens, rows = greedy_static(model, ids, steps)
    assert cache_tokens == ref_tokens
    tol = 1e-4 if dtype == torch.float32 else 1e-2  # bf16: activations rounded to bf16
    for ref, got in zip(ref_rows, rows, strict=True):
        torch.testing.assert_close(got, ref, rtol=0, atol=tol)


@needs_cuda
def test_cuda_graphs_are_recorded_once_per_span_and_logits_are_not_overwritten():
    model = model_on("cuda")
    cache = model.new_kv_cache()
    decoder = GraphDecoder(model, cache)
    assert decoder.use_graphs
    first = decoder.step(torch.tensor([[1]], device="cuda"))
    kept = first.clone()
    for _ in range(69):
        decoder.step(torch.tensor([[2]], device="cuda"))
    assert decoder.graphs_recorded == [64, 128]
    torch.testing.assert_close(first, kept)  # a later replay did not write into it
