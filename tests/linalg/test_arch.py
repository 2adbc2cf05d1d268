"""Calculators against the real models: parameters, FLOPs (torch's FLOP counter), KV caches."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)
from transformers import (
    LlamaConfig as HFLlamaConfig,
)

from core.linalg import LinalgError
from core.linalg.arch import (
    Arch,
    decode_flops,
    from_catalogue,
    from_gpt,
    from_llama,
    kv_bytes,
    kv_bytes_per_token,
    kv_heads_per_device,
    matmul_weights,
    parts,
    prefill_flops,
    weight_bytes,
)
from core.model import GPT, GPTConfig, load_checkpoint
from core.model.config import gpt2_config
from core.model.llama import Llama, LlamaConfig
from core.pool.catalogue import models
from core.registry import BUILTIN_CHECKPOINT

TINY_LLAMA = dict(
    vocab_size=101, context_length=16, n_layer=2, n_head=4, n_kv_head=2, n_embd=32, ffn_hidden=48
)


def _numel(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_builtin_model_parameters_match_its_tensors():
    ckpt = load_checkpoint(BUILTIN_CHECKPOINT)
    model = GPT(ckpt.config)
    p = parts(from_gpt(ckpt.config))
    assert p.total == _numel(model) == 4_270_592
    c = ckpt.config
    assert p.norms == (2 * c.n_layer + 1) * 2 * c.n_embd
    assert p.embeddings == (c.vocab_size + c.context_length) * c.n_embd


@pytest.mark.parametrize("qkv_bias", [False, True])
@pytest.mark.parametrize("tied", [True, False])
def test_tiny_gpt_parameters(qkv_bias, tied):
    cfg = GPTConfig(
        vocab_size=97, context_length=16, n_layer=2, n_head=4, n_embd=32,
        qkv_bias=qkv_bias, tie_embeddings=tied,
    )  # fmt: skip
    assert parts(from_gpt(cfg)).total == _numel(GPT(cfg)) == cfg.num_parameters()


@pytest.mark.parametrize("tied", [True, False])
def test_tiny_llama_parameters(tied):
    cfg = LlamaConfig(**TINY_LLAMA, tie_embeddings=tied)
    assert parts(from_llama(cfg)).total == _numel(Llama(cfg))


def test_gpt2_124m_against_transformers():
    with torch.device("meta"):
        ours = GPT(gpt2_config("gpt2"))
        theirs = GPT2LMHeadModel(GPT2Config())
    p = parts(from_gpt(gpt2_config("gpt2")))
    assert p.total == _numel(ours) == theirs.num_parameters() == 124_439_808
    assert p.embeddings == 50_257 * 768 + 1024 * 768
    assert p.attention == 12 * 2_362_368 and p.mlp == 12 * 4_722_432


def test_smollm2_config_against_transformers():
    cfg = LlamaConfig()  # SmolLM2-135M's shapes
    with torch.device("meta"):
        ours = Llama(cfg)
        theirs = LlamaForCausalLM(
            HFLlamaConfig(
                vocab_size=49152,
                hidden_size=576,
                intermediate_size=1536,
                num_hidden_layers=30,
                num_attention_heads=9,
                num_key_value_heads=3,
                tie_word_embeddings=True,
            )  # fmt: skip
        )
    assert parts(from_llama(cfg)).total == _numel(ours) == theirs.num_parameters() == 134_515_008


@pytest.mark.parametrize("name", sorted(models()))
def test_catalogue_models_match_their_published_size(name):
    spec = models()[name]
    # the catalogue lists published, rounded sizes: 13.016B as 13.0, 14.770B as 14.7
    assert parts(from_catalogue(spec)).total / 1e9 == pytest.approx(spec.params_b, rel=6e-3)


def test_catalogue_qwen_and_llama2_against_transformers():
    qwen, llama2 = from_catalogue(models()["qwen2.5-7b"]), from_catalogue(models()["llama2-13b"])
    with torch.device("meta"):
        hf_qwen = Qwen2ForCausalLM(
            Qwen2Config(
                vocab_size=152064,
                hidden_size=3584,
                intermediate_size=18944,
                num_hidden_layers=28,
                num_attention_heads=28,
                num_key_value_heads=4,
                tie_word_embeddings=False,
            )  # fmt: skip
        )
        hf_llama = LlamaForCausalLM(
            HFLlamaConfig(
                vocab_size=32000,
                hidden_size=5120,
                intermediate_size=13824,
                num_hidden_layers=40,
                num_attention_heads=40,
                num_key_value_heads=40,
                tie_word_embeddings=False,
            )  # fmt: skip
        )
    assert parts(qwen).total == hf_qwen.num_parameters() == 7_615_616_512
    assert parts(llama2).total == hf_llama.num_parameters() == 13_015_864_320


def _tiny_models():
    torch.manual_seed(0)
    gcfg = GPTConfig(vocab_size=97, context_length=16, n_layer=2, n_head=4, n_embd=32)
    lcfg = LlamaConfig(**TINY_LLAMA)
    return [(GPT(gcfg).eval(), from_gpt(gcfg)), (Llama(lcfg).eval(), from_llama(lcfg))]


@pytest.mark.parametrize("index", [0, 1], ids=["gpt", "llama"])
def test_flops_equal_torch_flop_counter(index):
    """capture=True takes the explicit softmax(QKᵀ)V path, whose products the counter sees
    (it counts the full T×T scores, hence causal=False)."""
    model, arch = _tiny_models()[index]
    ids = torch.randint(0, 97, (1, 8), generator=torch.Generator().manual_seed(1))
    with FlopCounterMode(display=False) as counter:
        model(ids, capture=True)
    assert counter.get_total_flops() == prefill_flops(arch, 8, causal=False)
    with FlopCounterMode(display=False) as counter:
        model(ids)  # the fused attention kernel on CPU: only the linear layers are counted
    assert counter.get_total_flops() == 2 * matmul_weights(arch) * 8
    cache = model.new_kv_cache()
    model(ids, kv_cache=cache)
    with FlopCounterMode(display=False) as counter:
        model(ids[:, :1], kv_cache=cache, capture=True)
    assert counter.get_total_flops() == decode_flops(arch, 9)


def test_causal_prefill_counts_each_tokens_keys():
    arch = from_gpt(gpt2_config("gpt2"))
    per_token = [decode_flops(arch, t) for t in range(1, 6)]
    assert prefill_flops(arch, 5) == sum(per_token)
    # weights in products: all but the position table, 6,912 biases and 3,072 norm
    # values per block and the final norm; attention: 4 FLOPs per key and width, per layer
    matmul = 124_439_808 - 1024 * 768 - 12 * 6912 - 12 * 3072 - 1536
    assert decode_flops(arch, 1) == 2 * matmul + 4 * 12 * 768


@pytest.mark.parametrize("index", [0, 1], ids=["gpt", "llama"])
@pytest.mark.parametrize("batch", [1, 3])
def test_kv_bytes_equal_an_allocated_cache(index, batch):
    model, arch = _tiny_models()[index]
    cache = model.new_kv_cache(batch)
    assert kv_bytes(arch, batch, arch.context, 4) == cache.nbytes()


def test_builtin_and_smollm2_kv_cache_sizes():
    ckpt = load_checkpoint(BUILTIN_CHECKPOINT)
    arch = from_gpt(ckpt.config)
    assert kv_bytes(arch, 2, arch.context, 4) == GPT(ckpt.config).new_kv_cache(2).nbytes()
    smol = from_llama(LlamaConfig())
    assert kv_bytes_per_token(smol, 4) == 2 * 30 * 3 * 64 * 4 == 46_080
    # GQA: 9 query heads read 3 K/V heads, so the cache is a third of a full one
    full = Arch(**{**smol.__dict__, "n_kv_head": 9})
    assert kv_bytes_per_token(full, 4) == 3 * kv_bytes_per_token(smol, 4)
    assert kv_heads_per_device(smol, 3) == 1 and kv_heads_per_device(smol, 2) == 2
    assert kv_heads_per_device(smol, 8) == 1


def test_weight_bytes_per_format():
    arch = from_llama(LlamaConfig())
    assert weight_bytes(arch, "fp32") == 134_515_008 * 4
    assert weight_bytes(arch, "bf16") == 134_515_008 * 2
    assert weight_bytes(arch, "int4") == 134_515_008 / 2
    assert weight_bytes(arch, "Q4_1") == 134_515_008 * 5 / 8
    with pytest.raises(LinalgError, match="unknown format"):
        weight_bytes(arch, "fp7")


def test_bad_shapes_are_refused_with_a_reason():
    with pytest.raises(LinalgError, match="share"):
        Arch("x", vocab=10, d=32, n_layer=1, n_head=4, n_kv_head=3, ffn=8)
    with pytest.raises(LinalgError, match="positive"):
        Arch("x", vocab=0, d=32, n_layer=1, n_head=4, n_kv_head=4, ffn=8)
    with pytest.raises(LinalgError, match="at least one"):
        prefill_flops(from_llama(LlamaConfig(**TINY_LLAMA)), 0)
    with pytest.raises(LinalgError, match="no vocabulary"):
        from_catalogue(type("Spec", (), {"name": "mystery"})())
