"""Llama: the GPT of ``gpt.py`` with four changes that modern open models share.

Follows "Build a Large Language Model (From Scratch)", appendix "Converting GPT to Llama"
(Raschka), and Touvron et al. 2023 ("LLaMA"), with grouped-query attention (Ainslie et al.
2023). Compared with the GPT:

1. **RMSNorm** instead of LayerNorm: scale by 1/RMS(x), no mean subtraction, no bias.
2. **Rotary position embeddings** (RoPE, Su et al. 2021) instead of a learned position table:
   each query and key is rotated by an angle that grows with its position, so the score
   q·k depends on the distance between two tokens.
3. **Grouped-query attention**: ``n_head`` query heads share ``n_kv_head`` key/value heads
   (SmolLM2: 9 queries, 3 key/value heads), so the KV cache is ``n_head / n_kv_head`` times
   smaller. Query head h reads key/value head ``h // (n_head // n_kv_head)``.
4. **SwiGLU** feed-forward: ``down(silu(gate(x)) * up(x))`` instead of ``proj(gelu(fc(x)))``.

No biases anywhere; the output head may reuse the token-embedding table (tied). The module
holds only weights; per-sequence state is a :class:`KVCache` passed to ``forward`` (it
stores keys after rotation, ``n_kv_head`` heads per layer). ``capture=True`` returns every
layer's attention weights per query head and the hidden states, as ``GPT`` does.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.model.gpt import InputError, ModelOutput
from core.model.kv_cache import KVCache


@dataclass(frozen=True)
class LlamaConfig:
    """Shape of a Llama model (SmolLM2-135M values in the comments)."""

    vocab_size: int = 49152  # rows of the token-embedding table
    context_length: int = 2048  # longest sequence (and KV-cache capacity) used here
    n_layer: int = 30  # transformer blocks
    n_head: int = 9  # query heads
    n_kv_head: int = 3  # key/value heads, shared by n_head / n_kv_head query heads each
    n_embd: int = 576  # width of the residual stream
    ffn_hidden: int = 1536  # width of the SwiGLU feed-forward
    rope_theta: float = 100_000.0  # base of the rotary frequencies
    rms_norm_eps: float = 1e-5  # added to the mean square inside RMSNorm
    tie_embeddings: bool = True  # output head = token-embedding table
    eos_token_id: int | None = None  # the token that ends a reply (SmolLM2: <|im_end|> = 2)
    start_token: int | None = None  # fed before every prompt (SmolLM2 adds none)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context_length", "n_layer", "n_head", "n_kv_head"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head or (self.n_embd // self.n_head) % 2:
            raise ValueError(
                f"n_embd={self.n_embd} must split into {self.n_head} heads of even width"
            )
        if self.n_head % self.n_kv_head:
            raise ValueError(
                f"n_head={self.n_head} must be a multiple of n_kv_head={self.n_kv_head}"
            )

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def group_size(self) -> int:
        """Query heads per key/value head."""
        return self.n_head // self.n_kv_head

    def num_parameters(self) -> int:
        d, L, hd = self.n_embd, self.n_layer, self.head_dim
        attn = d * self.n_head * hd * 2 + d * self.n_kv_head * hd * 2  # q, o; k, v
        ffn = 3 * d * self.ffn_hidden
        emb = self.vocab_size * d * (1 if self.tie_embeddings else 2)
        return L * (attn + ffn + 2 * d) + emb + d

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LlamaConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class RMSNorm(nn.Module):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last dimension (Zhang & Sennrich 2019)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


def rotary_tables(config: LlamaConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of every (position, frequency) angle, each (context_length, head_dim).

    Pair i of a head's dimensions turns at frequency ``theta^(-2i/head_dim)``; this layout
    pairs dimension i with dimension i + head_dim/2 (the "rotate half" convention of
    Hugging Face's Llama; llama.cpp's GGUF stores Q and K rows in another order, which the
    loader undoes).
    """
    hd = config.head_dim
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    positions = torch.arange(config.context_length, dtype=torch.float32)
    angles = torch.outer(positions, inv_freq)  # (T, hd/2)
    angles = torch.cat([angles, angles], dim=-1)  # (T, hd)
    return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x_i, x_{i+hd/2}) of x (B, H, T, hd) by its angle; cos, sin (T, hd)."""
    first, second = x.chunk(2, dim=-1)
    rotated_half = torch.cat([-second, first], dim=-1)  # (B, H, T, hd)
    return x * cos + rotated_half * sin


class GroupedQueryAttention(nn.Module):
    """Causal attention where groups of query heads share one key/value head."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.n_head, self.n_kv_head, self.head_dim = (
            config.n_head,
            config.n_kv_head,
            config.head_dim,
        )
        d, hd = config.n_embd, config.head_dim
        self.q = nn.Linear(d, config.n_head * hd, bias=False)  # weight (n_head*hd, d)
        self.k = nn.Linear(d, config.n_kv_head * hd, bias=False)  # weight (n_kv_head*hd, d)
        self.v = nn.Linear(d, config.n_kv_head * hd, bias=False)
        self.o = nn.Linear(config.n_head * hd, d, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        *,
        cache: tuple[torch.Tensor, torch.Tensor] | None = None,
        start: int = 0,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, T, d) at positions ``start .. start+T-1``; cos, sin (T, hd) of those positions.

        ``cache`` is this layer's (keys, values) buffers, each (B, n_kv_head, Tmax, hd).
        Returns the output (B, T, d) and, if ``need_weights``, the weights
        (B, n_head, T, start+T).
        """
        B, T, _ = x.shape
        q = self.q(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, H, T, hd)
        k = self.k(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, Hkv, T, hd)
        v = self.v(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        if cache is not None:
            cache_k, cache_v = cache  # (B, Hkv, Tmax, hd)
            cache_k[:, :, start : start + T] = k
            cache_v[:, :, start : start + T] = v
            k, v = cache_k[:, :, : start + T], cache_v[:, :, : start + T]  # views
        n_key = k.shape[2]
        # Query i (position start + i) sees keys 0 .. start + i; one new token sees them all.
        mask = None
        if T > 1:
            positions = torch.arange(start, start + T, device=x.device).unsqueeze(1)  # (T, 1)
            mask = torch.arange(n_key, device=x.device) <= positions  # (T, n_key)
        weights = None
        if need_weights:  # explicit: softmax(Q K^T / sqrt(hd)) V, each query head's weights
            group = self.n_head // self.n_kv_head
            k_per_q = k.repeat_interleave(group, dim=1)  # (B, H, n_key, hd): head h -> h//group
            v_per_q = v.repeat_interleave(group, dim=1)
            scores = q @ k_per_q.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, H, T, n_key)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores.float(), dim=-1).to(q.dtype)
            context = weights @ v_per_q  # (B, H, T, hd)
        else:
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
        out = context.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim)
        return self.o(out), weights


class SwiGLU(nn.Module):
    """``down(silu(gate(x)) * up(x))`` (Shazeer 2020): a gated feed-forward."""

    def __init__(self, d: int, hidden: int) -> None:
        super().__init__()
        self.gate = nn.Linear(d, hidden, bias=False)
        self.up = nn.Linear(d, hidden, bias=False)
        self.down = nn.Linear(hidden, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class LlamaBlock(nn.Module):
    """``x + attn(norm(x))`` then ``x + ffn(norm(x))``, with RMSNorm."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(config.n_embd, config.rms_norm_eps)
        self.attn = GroupedQueryAttention(config)
        self.ffn_norm = RMSNorm(config.n_embd, config.rms_norm_eps)
        self.ffn = SwiGLU(config.n_embd, config.ffn_hidden)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        *,
        cache: tuple[torch.Tensor, torch.Tensor] | None = None,
        start: int = 0,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.attn(
            self.attn_norm(x), cos, sin, cache=cache, start=start, need_weights=need_weights
        )
        x = x + attended
        return x + self.ffn(self.ffn_norm(x)), weights


class Llama(nn.Module):
    """A Llama-style decoder-only language model with the interface of ``GPT``."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.config = config
        d = config.n_embd
        self.tok_emb = nn.Embedding(config.vocab_size, d)  # (vocab, d)
        self.blocks = nn.ModuleList(LlamaBlock(config) for _ in range(config.n_layer))
        self.norm = RMSNorm(d, config.rms_norm_eps)
        self.head = nn.Linear(d, config.vocab_size, bias=False)  # weight (vocab, d)
        if config.tie_embeddings:
            self.head.weight = self.tok_emb.weight
        cos, sin = rotary_tables(config)
        self.register_buffer("rope_cos", cos, persistent=False)  # (context, hd)
        self.register_buffer("rope_sin", sin, persistent=False)

    @property
    def device(self) -> torch.device:
        return self.tok_emb.weight.device

    @property
    def dtype(self) -> torch.dtype:
        """The activations' dtype (and the KV cache's): the final norm's weight dtype."""
        return self.norm.weight.dtype

    def kv_head_of(self, query_head: int) -> int:
        """The key/value head that query head ``query_head`` reads (grouped-query attention)."""
        return query_head // self.config.group_size

    def num_parameters(self) -> int:
        """Parameters actually held (the tied table counted once)."""
        return sum(p.numel() for p in self.parameters())

    def new_kv_cache(self, batch_size: int = 1) -> KVCache:
        """An empty cache for ``batch_size`` sequences: n_kv_head heads per layer."""
        c = self.config
        return KVCache(
            n_layer=c.n_layer,
            batch_size=batch_size,
            n_head=c.n_kv_head,
            max_length=c.context_length,
            head_dim=c.head_dim,
            device=self.device,
            dtype=self.dtype,
        )

    def embed_tokens(self, idx: torch.Tensor) -> torch.Tensor:
        """Token embeddings (B, T, d) of ids (B, T); no position is added (RoPE rotates)."""
        return self.tok_emb(idx)

    def token_embedding_matrix(self) -> torch.Tensor:
        """The (vocab, d) token-embedding table."""
        return self.tok_emb.weight

    def logit_lens(self, hidden: torch.Tensor) -> torch.Tensor:
        """Read a hidden state (..., d) as next-token logits (..., vocab): head(norm(h))."""
        return self.head(self.norm(hidden))

    def _check_step(self, idx: torch.Tensor, kv_cache: KVCache | None) -> int:
        """Check ids (B, T) and the cache they extend; return the first position."""
        if idx.dim() != 2 or idx.dtype not in (torch.int64, torch.int32):
            raise InputError(
                f"token ids must be an integer tensor of shape (batch, time), got "
                f"{tuple(idx.shape)} {idx.dtype}"
            )
        start = kv_cache.length if kv_cache is not None else 0
        B, T = idx.shape
        if T == 0:
            raise InputError("token ids are empty: give at least one token")
        if start + T > self.config.context_length:
            raise InputError(
                f"{start + T} positions exceed the context length {self.config.context_length}"
                f"; crop the prompt to its last {self.config.context_length - start} tokens"
            )
        low, high = torch.aminmax(idx)
        if int(low) < 0 or int(high) >= self.config.vocab_size:
            raise InputError(
                f"token id out of range [0, {self.config.vocab_size}); was the text encoded "
                "with this model's tokenizer?"
            )
        if kv_cache is not None:
            if kv_cache.batch_size != B:
                raise InputError(f"KV cache is for batch {kv_cache.batch_size}, ids have batch {B}")
            if kv_cache.n_layer != self.config.n_layer:
                raise InputError("KV cache was made for a model with another number of layers")
            kv_cache.check_room(T)
        return start

    def forward(
        self,
        idx: torch.Tensor,
        *,
        kv_cache: KVCache | None = None,
        capture: bool = False,
        last_only: bool = False,
    ) -> torch.Tensor | ModelOutput:
        """Next-token logits (B, T, vocab) for ids (B, T); see ``GPT.forward``.

        With ``kv_cache`` the ids are the new tokens only and the cache advances by T;
        ``last_only`` computes the head for the last position; ``capture`` returns a
        :class:`ModelOutput` with attention weights (B, n_head, T, T_key) per layer and the
        n_layer + 1 hidden states.
        """
        start = self._check_step(idx, kv_cache)
        T = idx.shape[1]
        cos = self.rope_cos[start : start + T].to(self.dtype)  # (T, hd)
        sin = self.rope_sin[start : start + T].to(self.dtype)
        x = self.embed_tokens(idx)  # (B, T, d)
        hidden_states, attentions = ([x], []) if capture else ([], [])
        for i, block in enumerate(self.blocks):
            layer_cache = kv_cache.layer(i) if kv_cache is not None else None
            x, weights = block(x, cos, sin, cache=layer_cache, start=start, need_weights=capture)
            if capture:
                hidden_states.append(x)
                attentions.append(weights)
        if last_only:
            x = x[:, -1:]  # (B, 1, d)
        logits = self.logit_lens(x)
        if kv_cache is not None:
            kv_cache.advance(T)
        if capture:
            return ModelOutput(logits=logits, attentions=attentions, hidden_states=hidden_states)
        return logits
