"""Counting a transformer: parameters per part, FLOPs per token, KV-cache and weight bytes.

One :class:`Arch` describes any decoder-only model this project knows: the built-in GPT and
GPT-2 (``GPTConfig``: LayerNorm, GELU MLP, learned positions, biases), a Llama such as
SmolLM2 (``LlamaConfig``: RMSNorm, SwiGLU, RoPE, grouped-query attention) and the GPU pool's
catalogue models (Qwen, Yi, Llama-2; vocabularies and biases from their published configs,
:data:`CATALOGUE_EXTRAS`). The counts follow "LLM Preliminaries" and Kaplan et al. 2020
("Scaling Laws", table 1): a forward pass costs 2 FLOPs per weight that takes part in a matrix
product, plus attention's Q·Kᵀ and A·V, 4·n_head·head_dim FLOPs per key per layer.

Worked example, GPT-2 124M (d = 768, 12 layers, vocab 50,257, 1,024 positions, tied head):
embeddings 50,257·768 + 1,024·768 = 39,383,808; per block attention 2,362,368, MLP 4,722,432,
norms 3,072; in all 124,439,808 parameters. KV cache per token in 16 bits:
2 (K and V) · 12 layers · 12 heads · 64 · 2 bytes = 36,864 bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from core.linalg import LinalgError
from core.model.config import GPTConfig
from core.model.llama import LlamaConfig

# Bits per weight of each storage format. The GGUF formats include their block scales:
# Q8_0 = 32 int8 + one fp16 scale per 32 weights; Q4_1 = 32 4-bit codes + fp16 scale + fp16
# minimum per 32 (core/model/gguf.py).
FORMAT_BITS: dict[str, float] = {
    "fp32": 32.0,
    "bf16": 16.0,
    "int8": 8.0,
    "int4": 4.0,
    "Q8_0": 8.5,
    "Q4_1": 5.0,
}


@dataclass(frozen=True)
class Arch:
    """The shapes that decide a decoder-only transformer's size and cost."""

    name: str  # shown in the calculators
    vocab: int  # rows of the token-embedding table
    d: int  # width of the residual stream
    n_layer: int  # transformer blocks
    n_head: int  # query heads
    n_kv_head: int  # key/value heads (< n_head: grouped-query attention)
    ffn: int  # hidden width of the feed-forward
    mlp: str = "gelu"  # "gelu": fc → GELU → proj; "swiglu": down(silu(gate) · up)
    norm: str = "layernorm"  # "layernorm" (weight and bias) or "rmsnorm" (weight only)
    qkv_bias: bool = False  # bias on the query/key/value projections (GPT-2, Qwen)
    linear_bias: bool = False  # bias on the attention output and MLP layers (GPT-2)
    positions: int = 0  # rows of a learned position table (GPT); 0 with RoPE (Llama)
    tied: bool = True  # the output head reuses the token-embedding table
    context: int = 2048  # longest sequence the model accepts

    def __post_init__(self) -> None:
        for key in ("vocab", "d", "n_layer", "n_head", "n_kv_head", "ffn", "context"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise LinalgError(f"{key} must be a positive whole number, got {value!r}")
        if self.d % self.n_head:
            raise LinalgError(f"width {self.d} does not split into {self.n_head} heads")
        if self.n_head % self.n_kv_head:
            raise LinalgError(
                f"{self.n_head} query heads cannot share {self.n_kv_head} key/value heads "
                "evenly: pick a divisor of the head count"
            )
        if self.mlp not in ("gelu", "swiglu") or self.norm not in ("layernorm", "rmsnorm"):
            raise LinalgError(f"unknown MLP {self.mlp!r} or norm {self.norm!r}")

    @property
    def head_dim(self) -> int:
        return self.d // self.n_head


@dataclass(frozen=True)
class Parts:
    """Parameters per part of a model (the tied head counted once, with the embeddings)."""

    embeddings: int  # token table (+ position table, + untied head)
    attention: int  # Q, K, V, O of every block
    mlp: int  # feed-forward of every block
    norms: int  # every LayerNorm/RMSNorm, the final one included

    @property
    def total(self) -> int:
        return self.embeddings + self.attention + self.mlp + self.norms

    def as_dict(self) -> dict[str, int]:
        return {
            "embeddings": self.embeddings,
            "attention": self.attention,
            "MLP": self.mlp,
            "norms": self.norms,
        }


def from_gpt(config: GPTConfig, name: str = "GPT") -> Arch:
    """The GPT of ``core/model/gpt.py`` (biases on every linear layer but QKV's optional)."""
    return Arch(
        name=name,
        vocab=config.vocab_size,
        d=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        n_kv_head=config.n_head,
        ffn=4 * config.n_embd,
        mlp="gelu",
        norm="layernorm",
        qkv_bias=config.qkv_bias,
        linear_bias=True,
        positions=config.context_length,
        tied=config.tie_embeddings,
        context=config.context_length,
    )


def from_llama(config: LlamaConfig, name: str = "Llama") -> Arch:
    """The Llama of ``core/model/llama.py`` (no biases, RoPE, SwiGLU, RMSNorm)."""
    return Arch(
        name=name,
        vocab=config.vocab_size,
        d=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        n_kv_head=config.n_kv_head,
        ffn=config.ffn_hidden,
        mlp="swiglu",
        norm="rmsnorm",
        tied=config.tie_embeddings,
        context=config.context_length,
    )


class CatalogueModel(Protocol):
    """What the calculators read of a GPU-pool catalogue model (``core.pool.catalogue``)."""

    name: str
    layers: int
    hidden: int
    ffn: int
    heads: int
    kv_heads: int
    max_context: int


# What the pool's catalogue does not record, from each model's published config.json on
# Hugging Face (Qwen/Qwen1.5-1.8B, Qwen/Qwen2.5-*-Instruct, 01-ai/Yi-9B,
# meta-llama/Llama-2-13b-hf): (vocab_size, tie_word_embeddings, bias on Q/K/V).
CATALOGUE_EXTRAS: dict[str, tuple[int, bool, bool]] = {
    "qwen1.5-1.8b": (151_936, False, True),
    "qwen2.5-7b": (152_064, False, True),
    "yi-9b": (64_000, False, False),
    "llama2-13b": (32_000, False, False),
    "qwen2.5-14b": (152_064, False, True),
    "qwen2.5-32b": (152_064, False, True),
    "qwen2.5-72b-fp8": (152_064, False, True),
    "qwen2.5-72b": (152_064, False, True),
}


def from_catalogue(spec: CatalogueModel) -> Arch:
    """A catalogue model as an :class:`Arch` (all of them are Llama-style: SwiGLU, RMSNorm)."""
    if spec.name not in CATALOGUE_EXTRAS:
        raise LinalgError(
            f"no vocabulary recorded for catalogue model {spec.name!r}; known: "
            f"{', '.join(CATALOGUE_EXTRAS)}"
        )
    vocab, tied, qkv_bias = CATALOGUE_EXTRAS[spec.name]
    return Arch(
        name=spec.name,
        vocab=vocab,
        d=spec.hidden,
        n_layer=spec.layers,
        n_head=spec.heads,
        n_kv_head=spec.kv_heads,
        ffn=spec.ffn,
        mlp="swiglu",
        norm="rmsnorm",
        qkv_bias=qkv_bias,
        tied=tied,
        context=spec.max_context,
    )


def parts(arch: Arch) -> Parts:
    """Parameters per part; equals ``sum(p.numel() for p in model.parameters())``."""
    d, hd, L = arch.d, arch.head_dim, arch.n_layer
    q, kv = arch.n_head * hd, arch.n_kv_head * hd  # widths of Q and of K (= V)
    attn = d * q + 2 * d * kv + q * d  # Q, K, V, O weights
    attn += (q + 2 * kv) * arch.qkv_bias + d * arch.linear_bias
    if arch.mlp == "gelu":
        mlp = 2 * d * arch.ffn + (arch.ffn + d) * arch.linear_bias
    else:
        mlp = 3 * d * arch.ffn + (2 * arch.ffn + d) * arch.linear_bias
    norm = 2 * d if arch.norm == "layernorm" else d
    embeddings = arch.vocab * d * (1 if arch.tied else 2) + arch.positions * d
    return Parts(embeddings, L * attn, L * mlp, (2 * L + 1) * norm)


def matmul_weights(arch: Arch) -> int:
    """Weights that take part in a matrix product per token: every block's linear layers
    and the output head (lookups in the embedding tables are not products; biases are adds)."""
    d, hd = arch.d, arch.head_dim
    q, kv = arch.n_head * hd, arch.n_kv_head * hd
    mlp = (2 if arch.mlp == "gelu" else 3) * d * arch.ffn
    return arch.n_layer * (2 * d * q + 2 * d * kv + mlp) + arch.vocab * d


def attention_flops_per_key(arch: Arch) -> int:
    """FLOPs one query spends per key it reads, all layers: Q·Kᵀ and A·V, 2 each per element."""
    return 4 * arch.n_layer * arch.n_head * arch.head_dim


def prefill_flops(arch: Arch, tokens: int, *, causal: bool = True) -> int:
    """Forward FLOPs of a prompt of ``tokens`` tokens, every position's logits included.

    Token t (1-based) reads t keys when ``causal``; ``causal=False`` counts the full T×T
    score matrix, as a fused attention kernel computes it (and as torch's FLOP counter counts).
    """
    if tokens < 1:
        raise LinalgError(f"a prompt needs at least one token, got {tokens}")
    keys = tokens * (tokens + 1) // 2 if causal else tokens * tokens
    return 2 * matmul_weights(arch) * tokens + attention_flops_per_key(arch) * keys


def decode_flops(arch: Arch, context: int) -> int:
    """Forward FLOPs of one new token that reads ``context`` keys (itself included)."""
    if context < 1:
        raise LinalgError(f"a decode step reads at least one key, got {context}")
    return 2 * matmul_weights(arch) + attention_flops_per_key(arch) * context


def kv_bytes_per_token(arch: Arch, bytes_per_value: float = 2.0) -> float:
    """K and V of one position, every layer: 2 · n_layer · n_kv_head · head_dim · bytes."""
    return 2 * arch.n_layer * arch.n_kv_head * arch.head_dim * bytes_per_value


def kv_bytes(arch: Arch, batch: int, context: int, bytes_per_value: float = 2.0) -> float:
    """The cache of ``batch`` sequences of ``context`` positions each."""
    if batch < 1 or context < 1:
        raise LinalgError(f"batch and context must be at least 1, got {batch} and {context}")
    return kv_bytes_per_token(arch, bytes_per_value) * batch * context


def kv_heads_per_device(arch: Arch, devices: int) -> int:
    """K/V heads each of ``devices`` tensor-parallel devices stores: heads are split whole;
    with more devices than K/V heads each head is replicated (every device needs one)."""
    if devices < 1:
        raise LinalgError(f"devices must be at least 1, got {devices}")
    return max(1, math.ceil(arch.n_kv_head / devices))


def weight_bytes(arch: Arch, fmt: str) -> float:
    """All parameters stored at ``fmt`` (a key of :data:`FORMAT_BITS`)."""
    if fmt not in FORMAT_BITS:
        raise LinalgError(f"unknown format {fmt!r}; choose one of {', '.join(FORMAT_BITS)}")
    return parts(arch).total * FORMAT_BITS[fmt] / 8
