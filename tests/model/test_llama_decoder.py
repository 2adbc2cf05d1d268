"""LlamaDecoder: the native-kernel decoding step gives the plain Llama's logits and cache.

The reference is the plain model's own cached forward (itself tested against transformers
in test_llama.py and test_smollm2.py), on a tiny random Llama and, when present, the real
SmolLM2 file; float32 and bfloat16 weights; many cached steps after a prefill.
"""

from __future__ import annotations

import copy

import pytest
import torch

import core.model.kernels.llama as kernel_module
import core.model.llama_decoder as decoder_module
from core.model import GPT, GPTConfig, InputError
from core.model.kernels.build import NativeLibrary
from core.model.kernels.llama import PHASES, llama_kernel, llama_kernel_status
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
    found = llama_kernel()
    if found is None:
        missing_service(f"the Llama kernel is unavailable: {llama_kernel_status()}")
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
    torch.testing.assert_close(native, plain, atol=1e-4, rtol=1e-5)
    with torch.inference_mode():
        uncached = model(ids)[0, 5:]  # (55, vocab): the whole sequence at once
    torch.testing.assert_close(native, uncached, atol=1e-4, rtol=1e-4)
    assert native_cache.length == plain_cache.length == 60
    torch.testing.assert_close(native_cache.keys, plain_cache.keys, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(native_cache.values, plain_cache.values, atol=1e-5, rtol=1e-5)
    for name, tensor in model.state_dict().items():  # the shared model is only read
        assert torch.equal(tensor, before[name]), name


def test_bfloat16_steps_are_as_close_to_float32_as_the_plain_bfloat16_forward(kernels):
    model = tiny_llama(torch.bfloat16)
    exact = tiny_llama(torch.bfloat16).float()  # the same bfloat16 weights, float32 maths
    decoder = llama_decoder(model)
    ids = torch.randint(0, CONFIG.vocab_size, (1, 48), generator=torch.Generator().manual_seed(2))
    plain, native, plain_cache, native_cache = decode_both(model, decoder, ids, prefill=4)
    assert native.dtype == torch.bfloat16 and native_cache.keys.dtype == torch.bfloat16
    exact_cache = exact.new_kv_cache()
    with torch.inference_mode():
        reference = exact(ids, kv_cache=exact_cache)[0, 4:]  # (44, vocab)
    assert float(reference.abs().max()) > 4.0
    # The plain model rounds every activation to bfloat16; the kernel keeps them in float32
    # between products (their inputs rounded to bfloat16 with AVX512-BF16) and rounds the
    # cached keys and values: no further from float32 than the plain model, here closer
    # (on this seed: max 0.22 -> 0.10, mean 0.028 -> 0.017).
    plain_error = (plain.float() - reference).abs()
    native_error = (native.float() - reference).abs()
    assert float(native_error.max()) <= float(plain_error.max())
    assert float(native_error.mean()) <= float(plain_error.mean())
    assert float(native_error.max()) < 0.15
    top2 = reference.topk(2, dim=-1).values  # (steps, 2)
    clear = top2[:, 0] - top2[:, 1] > 0.2  # steps whose greedy choice is not a near tie
    assert int(clear.sum()) >= 20
    assert torch.equal(native.argmax(-1)[clear], reference.argmax(-1)[clear])
    for name in ("keys", "values"):  # what later steps attend to: as close, or closer
        exact_cached = getattr(exact_cache, name)
        native_cached = getattr(native_cache, name).float()
        plain_cached = getattr(plain_cache, name).float()
        native_off = (native_cached - exact_cached).abs()
        plain_off = (plain_cached - exact_cached).abs()
        assert float(native_off.max()) <= float(plain_off.max()), name
        assert float(native_off.mean()) <= float(plain_off.mean()), name


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize(
    ("n_head", "n_kv_head", "n_embd", "ffn_hidden"),
    [(4, 2, 64, 96), (3, 3, 48, 40), (6, 1, 72, 128), (2, 1, 128, 192)],
)  # grouped, multi-head, multi-query; widths that are and are not multiples of 64
def test_every_shape_and_thread_count_gives_the_plain_logits(
    kernels, threads, n_head, n_kv_head, n_embd, ffn_hidden
):
    config = {"n_head": n_head, "n_kv_head": n_kv_head, "n_embd": n_embd}
    torch.manual_seed(n_embd)
    model = Llama(LlamaConfig(**{**CONFIG.to_dict(), **config, "ffn_hidden": ffn_hidden}))
    model.eval()
    ids = torch.randint(0, CONFIG.vocab_size, (1, 20), generator=torch.Generator().manual_seed(4))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        plain, native, plain_cache, native_cache = decode_both(
            model, llama_decoder(model), ids, prefill=2
        )
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(native, plain, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(native_cache.keys, plain_cache.keys, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(native_cache.values, plain_cache.values, atol=1e-5, rtol=1e-5)
    # The same weights in bfloat16: products in bf16 pairs (widths that are multiples of 64,
    # with AVX512-BF16) or widened weights (the others), and a bf16 KV cache.
    half = copy.deepcopy(model).to(torch.bfloat16)
    exact = copy.deepcopy(half).float()
    torch.set_num_threads(threads)
    try:
        plain, native, _, _ = decode_both(half, llama_decoder(half), ids, prefill=2)
    finally:
        torch.set_num_threads(before)
    with torch.inference_mode():
        reference = exact(ids)[0, 2:]  # (18, vocab)
    native_error = (native.float() - reference).abs()  # (18, vocab)
    plain_error = (plain.float() - reference).abs()
    assert float(native_error.max()) <= float(plain_error.max())
    assert float(native_error.mean()) <= float(plain_error.mean())


def test_steps_interleave_with_the_plain_forward_on_one_cache(kernels):
    model = tiny_llama()
    decoder = llama_decoder(model)
    ids = torch.randint(0, CONFIG.vocab_size, (1, 12), generator=torch.Generator().manual_seed(5))
    cache = model.new_kv_cache()
    with torch.inference_mode():
        model(ids[:, :3], kv_cache=cache)
        decoder.step(ids[:, 3:4], cache)
        model(ids[:, 4:7], kv_cache=cache)  # the plain model reads what the kernel wrote
        decoder.step(ids[:, 7:8], cache)
        last = decoder.step(ids[:, 8:9], cache)[0, 0]
        uncached = model(ids[:, :9])[0, -1]
    assert cache.length == 9
    torch.testing.assert_close(last, uncached, atol=1e-4, rtol=1e-4)


def test_a_profiled_step_gives_the_same_logits_and_times_every_phase(kernels):
    model = tiny_llama()
    decoder = llama_decoder(model)
    ids = torch.tensor([[3, 1, 4, 1, 5]])
    caches = model.new_kv_cache(), model.new_kv_cache()
    profile = torch.zeros(len(PHASES), dtype=torch.float64)
    with torch.inference_mode():
        for cache in caches:
            model(ids[:, :4], kv_cache=cache)
        plain = decoder.step(ids[:, 4:], caches[0])
        profiled = decoder.step(ids[:, 4:], caches[1], profile=profile)
    assert torch.equal(profiled, plain)
    assert PHASES == ("q/k/v", "attention + o", "feed-forward", "head")
    assert bool((profile > 0).all()) and float(profile.sum()) < 10.0  # seconds, each phase
    with pytest.raises(ValueError, match="float64 CPU tensor of 4 values"):
        decoder.step(ids[:, 4:], caches[1], profile=torch.zeros(4))
    assert caches[1].length == 5


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
    other = tiny_llama(torch.bfloat16).new_kv_cache()  # a bfloat16 cache: another model's
    with pytest.raises(InputError, match="new_kv_cache"):
        decoder.step(torch.tensor([[1]]), other)
    assert other.length == 0 and not other.keys.any()


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
    torch.testing.assert_close(native, plain, atol=1e-4, rtol=1e-5)


def test_no_decoder_where_it_does_not_apply(kernels, monkeypatch):
    assert llama_decoder(tiny_llama().train()) is None  # training mode
    mixed = tiny_llama()
    mixed.blocks[0].ffn.down.to(torch.bfloat16)
    assert llama_decoder(mixed) is None  # one dtype for every parameter
    assert llama_decoder(tiny_llama(torch.float16)) is None
    assert llama_decoder(GPT(GPTConfig(vocab_size=64, context_length=16, n_layer=1))) is None
    monkeypatch.setattr(decoder_module, "llama_kernel", lambda: None)  # no compiler
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
    monkeypatch.setattr("core.model.decoding.llama_decoder", lambda model: None)
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


def fresh(source=kernel_module.SOURCE) -> NativeLibrary:
    """The Llama kernel's library as a new process sees it (nothing built or loaded yet)."""
    return NativeLibrary(source, "llama-decode", kernel_module.LlamaKernel)


def test_the_kernel_is_off_without_a_compiler_or_when_disabled(monkeypatch, tmp_path):
    monkeypatch.setattr(kernel_module, "LIBRARY", fresh())
    monkeypatch.setenv("GLASSBOX_NATIVE_KERNELS", "0")
    assert llama_kernel() is None
    assert "disabled by GLASSBOX_NATIVE_KERNELS" in llama_kernel_status()
    assert llama_decoder(tiny_llama()) is None  # and the sampler runs the plain model
    monkeypatch.setattr(kernel_module, "LIBRARY", fresh())
    monkeypatch.delenv("GLASSBOX_NATIVE_KERNELS")
    monkeypatch.setenv("PATH", str(tmp_path))  # no cc, gcc or clang
    monkeypatch.delenv("CC", raising=False)
    assert llama_kernel() is None
    assert llama_kernel_status() == "no C compiler (cc, gcc or clang) on PATH"


def test_a_failed_build_is_reported_and_nothing_half_built_is_left(monkeypatch, tmp_path):
    broken = tmp_path / "broken.c"
    broken.write_text("this is not C\n")
    monkeypatch.setattr(kernel_module, "LIBRARY", fresh(broken))
    monkeypatch.delenv("GLASSBOX_NATIVE_KERNELS", raising=False)
    monkeypatch.setenv("GLASSBOX_KERNEL_DIR", str(tmp_path / "kernels"))
    assert llama_kernel() is None
    assert llama_kernel_status().startswith("could not build llama-decode-")
    assert list((tmp_path / "kernels").iterdir()) == []


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


PORTABLE_BUILDS = {  # what another CPU's -march=native compiles: dot.h's other branches
    "AVX-512 without BF16": ("-O3", "-march=native", "-mno-avx512bf16", "-fopenmp", "-shared",
                             "-fPIC"),
    "x86-64 baseline (no AVX-512)": ("-O3", "-march=x86-64", "-fopenmp", "-shared", "-fPIC"),
}  # fmt: skip


@pytest.mark.parametrize("build", list(PORTABLE_BUILDS))
def test_the_kernel_built_for_other_cpus_gives_the_same_steps(build, tmp_path):
    """This machine has AVX512-BF16, so -march=native never compiles the fallbacks; build
    them explicitly and hold them to the same tolerances as the native build."""
    import platform

    from core.model.kernels.build import build_or_load
    from core.model.kernels.llama import SOURCE, LlamaKernel

    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the flags name x86-64 targets")
    built, reason = build_or_load(
        SOURCE, "llama-portable", flags=PORTABLE_BUILDS[build], cache_dir=tmp_path
    )
    if built is None:
        missing_service(f"the portable Llama kernel did not build: {reason}")
    kernel = LlamaKernel(built)
    assert not kernel.bf16_pairs  # neither build has AVX512-BF16's pair products
    ids = torch.randint(0, CONFIG.vocab_size, (1, 40), generator=torch.Generator().manual_seed(1))
    model = tiny_llama()
    plain, native, plain_cache, native_cache = decode_both(
        model, LlamaDecoder(model, kernel), ids, prefill=5
    )
    torch.testing.assert_close(native, plain, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(native_cache.keys, plain_cache.keys, atol=1e-5, rtol=1e-5)
    half = tiny_llama(torch.bfloat16)
    exact = tiny_llama(torch.bfloat16).float()
    plain, native, _, _ = decode_both(half, LlamaDecoder(half, kernel), ids, prefill=5)
    with torch.inference_mode():
        reference = exact(ids)[0, 5:]
    # widened bf16 weights, float32 maths: at least as close to float32 as the plain model
    assert float((native.float() - reference).abs().max()) <= float(
        (plain.float() - reference).abs().max()
    )
    assert float((native.float() - reference).abs().max()) < 0.15
