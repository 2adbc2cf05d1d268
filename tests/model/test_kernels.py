"""The native matvec kernel: same sums as PyTorch, used only where it applies, optional."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
import torch.nn.functional as F

from core.model import GPT, GPTConfig
from core.model.kernels import (
    TokenPlan,
    native_decode_attention,
    native_decode_layers,
    native_kernels,
    native_matvec,
)
from core.model.kernels import native as native_module
from core.model.kernels.native import native_status
from core.model.layers import SPLIT_MATVEC_MIN_WEIGHTS, Dense
from tests.conftest import missing_service


@pytest.fixture
def kernels():
    found = native_kernels()
    if found is None:
        missing_service(f"native kernels unavailable: {native_status()}")
    return found


@pytest.fixture
def fresh_build(monkeypatch):
    """Forget what this process loaded, so a test sees a build (or a failure) of its own."""
    monkeypatch.setattr(native_module, "_loaded", {})
    monkeypatch.setattr(native_module, "_reason", {})
    monkeypatch.setattr(native_module, "_default", native_module._UNSET)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize(("rows", "cols"), [(7, 5), (1000, 333), (4097, 96), (256, 1024)])
def test_matvec_equals_torch_for_float32_and_bfloat16(kernels, threads, rows, cols):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(rows * cols)
        w = torch.randn(rows, cols, generator=g)
        x = torch.randn(cols, generator=g)
        b = torch.randn(rows, generator=g)
        torch.testing.assert_close(kernels.matvec(w, x), w @ x, atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(kernels.matvec(w, x, b), w @ x + b, atol=1e-4, rtol=1e-5)
        # bf16 weights: the sum stays float32; where the kernel multiplies bf16 pairs
        # (AVX512-BF16, widths that are multiples of 64) x is rounded to bf16 first.
        w16 = w.to(torch.bfloat16)
        x16 = x.bfloat16().float() if kernels.bf16_pairs and cols % 64 == 0 else x
        torch.testing.assert_close(kernels.matvec(w16, x), w16.float() @ x16, atol=1e-4, rtol=1e-5)
    finally:
        torch.set_num_threads(before)


def test_matvec_refuses_what_it_cannot_compute(kernels):
    with pytest.raises(ValueError, match="contiguous"):
        kernels.matvec(torch.randn(8, 4).t(), torch.randn(8))
    with pytest.raises(ValueError, match="columns"):
        kernels.matvec(torch.randn(4, 8), torch.randn(7))
    with pytest.raises(ValueError, match="rows"):
        kernels.matvec(torch.randn(4, 8), torch.randn(8), torch.randn(5))
    with pytest.raises(ValueError, match="float32 and bfloat16"):
        kernels.matvec(torch.randn(4, 8).double(), torch.randn(8))


def test_native_matvec_applies_only_to_inference_on_cpu(kernels):
    w, b = torch.randn(64, 32), torch.randn(64)
    x = torch.randn(1, 1, 32)
    assert native_matvec(x, w, b) is None  # autograd on: PyTorch's product has the backward
    with torch.no_grad():
        out = native_matvec(x, w, b)
        assert native_matvec(torch.randn(2, 32), w, b) is None  # two rows: a GEMM
        assert native_matvec(x, w.t().contiguous().t(), b) is None  # not contiguous
        assert native_matvec(x.half(), w.half(), None) is None  # float16: not supported
        assert native_matvec(x, w, torch.randn(63)) is None  # a bias of the wrong size
        bf16 = native_matvec(x.to(torch.bfloat16), w.to(torch.bfloat16), b.to(torch.bfloat16))
    assert out.shape == (1, 1, 64)
    torch.testing.assert_close(out, F.linear(x, w, b))
    assert bf16.dtype == torch.bfloat16


def test_dense_decodes_with_the_native_kernel(kernels, spy):
    calls = spy("core.model.layers.native_matvec")
    layer = Dense(512, SPLIT_MATVEC_MIN_WEIGHTS // 512)
    x = torch.randn(1, 1, 512)
    with torch.no_grad():
        out = layer(x)
        Dense(64, 64)(torch.randn(1, 64))  # small enough to stay in cache: PyTorch's product
    assert calls == [(1, 1, 512)]
    torch.testing.assert_close(out, F.linear(x, layer.weight, layer.bias), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("weights_only", [True, False])
def test_bf16_decoding_with_the_kernel_follows_the_fp32_model(kernels, weights_only):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=2049, context_length=16, n_layer=2, n_head=4, n_embd=512)
    model = GPT(config).eval()
    ids = torch.randint(0, config.vocab_size, (1, 8))
    half = GPT(dataclasses.replace(config)).eval()
    half.load_state_dict(model.state_dict())
    if weights_only:  # bf16 matrices; LayerNorms, biases, activations, KV cache float32
        half.cast_matrices(torch.bfloat16)
        assert half.head.weight.dtype == torch.bfloat16 and half.dtype == torch.float32
        assert half.blocks[0].ln1.weight.dtype == torch.float32
    else:
        half = half.to(torch.bfloat16)
    with torch.no_grad():
        full = model(ids)
        prefill = half(ids)  # several rows: PyTorch's bf16 matrix products
        cache = half.new_kv_cache()
        steps = torch.cat([half(ids[:, i : i + 1], kv_cache=cache) for i in range(8)], dim=1)
    assert cache.keys.dtype == half.dtype
    tolerance = 0.03 if weights_only else 0.1
    torch.testing.assert_close(prefill.float(), full, atol=tolerance, rtol=0.05)
    torch.testing.assert_close(steps.float(), full, atol=tolerance, rtol=0.05)
    assert (steps.float().argmax(-1) == full.argmax(-1)).float().mean() > 0.8


def test_decode_attention_writes_the_cache_and_matches_sdpa(kernels):
    g = torch.Generator().manual_seed(0)
    heads, head_dim, max_len, start = 3, 16, 12, 7
    k_cache = torch.randn(1, heads, max_len, head_dim, generator=g)
    v_cache = torch.randn(1, heads, max_len, head_dim, generator=g)
    k_before, v_before = k_cache.clone(), v_cache.clone()
    qkv = torch.randn(1, 1, 3 * heads * head_dim, generator=g)
    q, k, v = qkv.view(3, heads, head_dim)
    with torch.no_grad():
        out = native_decode_attention(qkv, k_cache, v_cache, start)
    torch.testing.assert_close(k_cache[0, :, start], k)  # the new key and value are stored
    torch.testing.assert_close(v_cache[0, :, start], v)
    untouched = [t for t in range(max_len) if t != start]
    assert torch.equal(k_cache[0, :, untouched], k_before[0, :, untouched])
    assert torch.equal(v_cache[0, :, untouched], v_before[0, :, untouched])
    reference = F.scaled_dot_product_attention(
        q.view(1, heads, 1, head_dim),
        k_cache[:, :, : start + 1],
        v_cache[:, :, : start + 1],
    )  # (1, H, 1, hd)
    assert out.shape == (1, 1, heads * head_dim)
    torch.testing.assert_close(out.view(heads, head_dim), reference.view(heads, head_dim))


def test_decode_attention_declines_what_it_does_not_cover(kernels):
    qkv = torch.randn(1, 1, 3 * 2 * 4)
    cache = torch.zeros(1, 2, 8, 4)
    with torch.no_grad():
        assert native_decode_attention(qkv, cache.clone(), cache.clone(), 8) is None  # full
        assert native_decode_attention(qkv.double(), cache, cache, 0) is None  # dtype
        assert native_decode_attention(qkv, cache.expand(2, 2, 8, 4), cache, 0) is None
        assert native_decode_attention(torch.randn(1, 1, 5), cache, cache, 0) is None
    assert native_decode_attention(qkv, cache, cache, 0) is None  # autograd on


def test_decoding_agrees_with_and_without_the_kernels(kernels, monkeypatch):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=2049, context_length=32, n_layer=2, n_head=4, n_embd=512)
    model = GPT(config).eval()
    ids = torch.randint(0, config.vocab_size, (1, 12))

    def decode() -> torch.Tensor:
        with torch.no_grad():
            cache = model.new_kv_cache()
            prefill = model(ids[:, :4], kv_cache=cache)
            steps = [model(ids[:, i : i + 1], kv_cache=cache) for i in range(4, 12)]
        return torch.cat([prefill, *steps], dim=1)

    native = decode()  # each step one native call for the whole model
    monkeypatch.setattr("core.model.gpt.TokenPlan.run", lambda *a, **k: None)
    layers_only = decode()  # the blocks in one native call, the head a native product
    monkeypatch.setattr("core.model.gpt.native_decode_layers", lambda *a, **k: None)
    attention_only = decode()
    monkeypatch.setattr("core.model.attention.native_decode_attention", lambda *a: None)
    monkeypatch.setattr("core.model.layers.native_matvec", lambda *a: None)
    plain = decode()
    with torch.no_grad():
        full = model(ids)
    torch.testing.assert_close(native, layers_only, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(native, plain, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(attention_only, plain, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(native, full, atol=1e-4, rtol=1e-4)


def widened_reference(block, kernels, width: int):
    """PyTorch's path for what the kernel computes with this block's (bf16) weights.

    The weights widened back to float32; where the kernel multiplies bf16 pairs
    (``kernels.bf16_pairs`` and a width that is a multiple of 64) each product's input is
    rounded to bf16 first, as the kernel rounds it.
    """
    reference = copy.deepcopy(block).float()
    if kernels.bf16_pairs and width % 64 == 0 and block.attn.qkv.weight.dtype == torch.bfloat16:
        for module in reference.modules():
            if isinstance(module, Dense):
                module.register_forward_pre_hook(lambda _m, args: (args[0].bfloat16().float(),))
    return reference


@pytest.mark.parametrize("weights", ["fp32", "bf16"])
@pytest.mark.parametrize("qkv_bias", [True, False])
@pytest.mark.parametrize(
    ("width", "threads"),
    [(96, 2), (128, 3), (96, 1)],  # 96: the remainder loops for d, none for 4d; 128: none
)
def test_native_block_step_equals_the_module(kernels, weights, qkv_bias, width, threads):
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=97, context_length=40, n_layer=1, n_head=4, n_embd=width, qkv_bias=qkv_bias
    )
    model = GPT(config).eval()
    for p in model.parameters():  # LayerNorm and bias parameters away from their 1/0 init
        p.data.add_(0.05 * torch.randn_like(p))
    reference_block = copy.deepcopy(model.blocks[0])
    if weights == "bf16":
        model.cast_matrices(torch.bfloat16)
        reference_block = widened_reference(model.blocks[0], kernels, width)
    block = model.blocks[0]
    assert (block.attn.qkv.bias is None) != qkv_bias
    ids = torch.randint(0, config.vocab_size, (1, 30))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # each thread streams its own share of the rows
    try:
        with torch.no_grad():
            cache = model.new_kv_cache()
            model(ids[:, :29], kv_cache=cache)  # 29 positions in the cache
            x = torch.randn(1, 1, config.n_embd)
            twin = cache.clone()
            native = block.decode_native(x, cache.layer(0), 29)
            reference, _ = reference_block(x, cache=twin.layer(0), start=29)
    finally:
        torch.set_num_threads(before)
    assert native is not None and native.shape == (1, 1, config.n_embd)
    torch.testing.assert_close(native, reference, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(cache.keys, twin.keys)  # the same key and value written
    torch.testing.assert_close(cache.values, twin.values)


def perturbed_model(config: GPTConfig, weights: str) -> GPT:
    """A model in eval mode with LayerNorms and biases away from their 1/0 init, its
    matrices cast to bf16 when ``weights == "bf16"``."""
    model = GPT(config).eval()
    for p in model.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    if weights == "bf16":
        model.cast_matrices(torch.bfloat16)
    return model


@pytest.mark.parametrize("weights", ["fp32", "bf16"])
def test_all_layers_in_one_call_equal_the_modules_layer_by_layer(kernels, spy, weights):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=97, context_length=24, n_layer=3, n_head=4, n_embd=64)
    model = perturbed_model(config, weights)
    ids = torch.randint(0, config.vocab_size, (1, 10))
    with torch.no_grad():
        cache = model.new_kv_cache()
        model(ids[:, :9], kv_cache=cache)
        one_by_one, reference = cache.clone(), cache.clone()
        x = torch.randn(1, 1, config.n_embd)
        stacked = native_decode_layers(
            x,
            [block.native_weights() for block in model.blocks],
            [cache.layer(i) for i in range(3)],
            eps=config.layer_norm_eps,
            start=9,
        )
        y, z = x, x
        for i, block in enumerate(model.blocks):
            y = block.decode_native(y, one_by_one.layer(i), 9)
            widened = widened_reference(block, kernels, config.n_embd)
            z, _ = widened(z, cache=reference.layer(i), start=9)
    assert stacked is not None
    torch.testing.assert_close(stacked, y, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(stacked, z, atol=1e-4, rtol=1e-4)
    for twin in (one_by_one, reference):  # every layer wrote the same key and value
        torch.testing.assert_close(cache.keys, twin.keys)
        torch.testing.assert_close(cache.values, twin.values)

    calls = spy("core.model.gpt.TokenPlan.run")
    one_by_one.truncate(9)  # and through the model: position 9 again
    with torch.no_grad():
        decoded = model(ids[:, 9:], kv_cache=one_by_one)
        full = model(ids)
    assert calls == [(int(ids[0, 9]), 9)]  # one call for the whole model
    if weights == "fp32":  # (a bf16 model's full forward rounds its activations too)
        torch.testing.assert_close(decoded[0, -1], full[0, -1], atol=1e-4, rtol=1e-4)


def test_native_block_step_declines_what_it_does_not_cover(kernels):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=97, context_length=8, n_layer=1, n_head=2, n_embd=32)
    model = GPT(config).eval()
    block, x = model.blocks[0], torch.randn(1, 1, 32)
    with torch.no_grad():
        cache = model.new_kv_cache()
        assert block.decode_native(x, cache.layer(0), 8) is None  # past the cache's end
        assert block.decode_native(x.double(), cache.layer(0), 0) is None
        assert block.decode_native(torch.randn(1, 2, 32), cache.layer(0), 0) is None
        qkv = block.attn.qkv
        qkv.bias = torch.nn.Parameter(torch.zeros(95))  # the wrong size: never read
        assert block.decode_native(x, cache.layer(0), 0) is None
        qkv.bias = torch.nn.Parameter(torch.zeros(96))
        assert block.decode_native(x, cache.layer(0), 0) is not None
        model.to(torch.bfloat16)  # bf16 activations: PyTorch's path
        bf16_cache = model.new_kv_cache()
        assert block.decode_native(x.bfloat16(), bf16_cache.layer(0), 0) is None
    assert block.decode_native(x, cache.layer(0), 0) is None  # autograd on


def test_build_is_cached_on_disk_and_reused(fresh_build, tmp_path):
    first = native_kernels(cache_dir=tmp_path)
    if first is None:
        missing_service(f"native kernels unavailable: {native_status(cache_dir=tmp_path)}")
    assert first.path.parent == tmp_path and first.path.exists()
    assert list(tmp_path.iterdir()) == [first.path]  # no half-written temporary left behind
    native_module._loaded.clear()
    again = native_kernels(cache_dir=tmp_path)
    assert again.path == first.path and again.build_seconds == 0.0
    assert "loaded" in native_status(cache_dir=tmp_path)


def test_without_a_compiler_the_model_still_decodes(fresh_build, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(native_module, "_cache_dir", lambda: tmp_path)
    assert native_kernels() is None
    assert "no C compiler" in native_status()
    layer = Dense(512, SPLIT_MATVEC_MIN_WEIGHTS // 512)
    x = torch.randn(1, 512)
    with torch.no_grad():
        out = layer(x)  # PyTorch's kernels instead
    torch.testing.assert_close(out, F.linear(x, layer.weight, layer.bias))


def test_a_failing_compiler_is_reported_not_raised(fresh_build, tmp_path, monkeypatch):
    bad = tmp_path / "bin" / "cc"
    bad.parent.mkdir()
    bad.write_text("#!/bin/sh\necho 'cc: error: unsupported flag' >&2\nexit 1\n")
    bad.chmod(0o755)
    monkeypatch.setenv("CC", str(bad))
    assert native_kernels(cache_dir=tmp_path / "cache") is None
    assert "unsupported flag" in native_status(cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_kernels_can_be_switched_off(fresh_build, tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSBOX_NATIVE_KERNELS", "0")
    assert native_kernels(cache_dir=tmp_path) is None
    assert "disabled" in native_status(cache_dir=tmp_path)


def test_an_unusable_cache_folder_falls_back_to_a_private_temp_folder(
    fresh_build, tmp_path, monkeypatch
):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setattr(native_module, "_cache_dir", lambda: blocked / "kernels")
    monkeypatch.delenv("GLASSBOX_KERNEL_DIR", raising=False)
    monkeypatch.setattr(native_module.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    found = native_kernels()
    if found is None and "no C compiler" in native_status():
        missing_service(native_status())
    assert found is not None and found.path.parent.name.startswith("glassbox-kernels-")
    assert oct(found.path.parent.stat().st_mode & 0o777) == "0o700"
    # a temp folder another user could write to is never used
    native_module._loaded.clear()
    native_module._default = native_module._UNSET
    found.path.parent.chmod(0o777)
    assert native_kernels() is None
    assert "not a private folder" in native_status()


def test_one_model_decodes_for_several_threads_at_once(kernels, spy):
    # Browser sessions share one loaded model; each has its own KV cache. The native calls
    # release the GIL, so their OpenMP regions really do overlap here.
    from concurrent.futures import ThreadPoolExecutor

    torch.manual_seed(0)
    config = GPTConfig(vocab_size=97, context_length=64, n_layer=3, n_head=4, n_embd=128)
    model = GPT(config).eval()
    prompts = [torch.randint(0, config.vocab_size, (1, 3 + i)) for i in range(6)]

    def decode(prompt: torch.Tensor) -> list[int]:
        with torch.no_grad():
            cache = model.new_kv_cache()
            logits = model(prompt, kv_cache=cache, last_only=True)
            out = []
            for _ in range(40):
                nxt = logits[:, -1].argmax(-1, keepdim=True)
                out.append(int(nxt))
                logits = model(nxt, kv_cache=cache, last_only=True)
        return out

    alone = [decode(p) for p in prompts]
    calls = spy("core.model.gpt.TokenPlan.run")
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(decode, prompts * 3))
    assert together == alone * 3
    assert len(calls) == 18 * 40  # every decoding step went through the native call


@pytest.mark.parametrize("weights", ["fp32", "bf16"])
@pytest.mark.parametrize(("width", "tie", "qkv_bias"), [(64, True, False), (96, False, True)])
def test_one_native_call_per_token_equals_the_blocks_call_and_the_head(
    kernels, weights, width, tie, qkv_bias
):
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=97, context_length=24, n_layer=2, n_head=4, n_embd=width,
        tie_embeddings=tie, qkv_bias=qkv_bias,
    )  # fmt: skip
    model = perturbed_model(config, weights)
    ids = torch.randint(0, config.vocab_size, (1, 12))
    with torch.no_grad():
        cache = model.new_kv_cache()
        model(ids[:, :8], kv_cache=cache)
        twin = cache.clone()
        whole = [model(ids[:, i : i + 1], kv_cache=cache) for i in range(8, 12)]
        plan = cache.native_plan[2]
        assert isinstance(plan, TokenPlan) and plan.bf16 == (weights == "bf16")
        assert twin.native_plan is None  # a clone never shares its original's plan
        pieces = []
        for i in range(8, 12):  # the blocks in one call, ln_f, the head's native product
            x = model.embed_tokens(ids[:, i : i + 1]) + model.pos_emb.weight[i : i + 1]
            hidden = model._decode_native(x, twin, i)
            twin.advance(1)
            pieces.append(kernels.matvec(model.head.weight, model.ln_f(hidden)).view(1, 1, -1))
    for got, ref in zip(whole, pieces, strict=True):
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cache.keys, twin.keys)
    assert cache.native_plan[2] is plan  # kept for the sequence's later steps


def test_the_token_plan_is_rebuilt_when_the_weights_are_replaced(kernels):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=97, context_length=24, n_layer=2, n_head=4, n_embd=64)
    model = GPT(config).eval()
    ids = torch.randint(0, config.vocab_size, (1, 12))

    def step(cache, i: int) -> torch.Tensor:
        twin = cache.clone()  # builds a fresh plan for the model as it is now
        with torch.no_grad():
            out = model(ids[:, i : i + 1], kv_cache=cache)
            ref = model(ids[:, i : i + 1], kv_cache=twin)
        torch.testing.assert_close(out, ref, atol=0, rtol=0)
        return out

    cache = model.new_kv_cache()
    with torch.no_grad():
        model(ids[:, :5], kv_cache=cache)
    step(cache, 5)
    plan = cache.native_plan[2]
    with torch.no_grad():
        model.blocks[0].ffn.fc.weight.mul_(2)  # in place: same addresses, new values
    step(cache, 6)
    assert cache.native_plan[2] is plan
    model.cast_matrices(torch.bfloat16)  # new tensors: the plan must not read the old ones
    step(cache, 7)
    assert cache.native_plan[2] is not plan and cache.native_plan[2].bf16
    plan = cache.native_plan[2]
    model.float()  # .to()/.float() replace the parameters too
    step(cache, 8)
    assert cache.native_plan[2] is not plan and not cache.native_plan[2].bf16
    plan = cache.native_plan[2]
    fresh = {name: 3 * value.clone() for name, value in model.state_dict().items()}
    model.load_state_dict(fresh, assign=True)  # new tensors again
    before = cache.clone()
    out = step(cache, 9)
    assert cache.native_plan[2] is not plan
    with torch.no_grad():  # and the step read the new weights: the blocks' call agrees
        x = model.embed_tokens(ids[:, 9:10]) + model.pos_emb.weight[9:10]
        hidden = model._decode_native(x, before, 9)
        ref = kernels.matvec(model.head.weight, model.ln_f(hidden)).view(1, 1, -1)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
