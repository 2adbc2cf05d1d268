"""Causal multi-head self-attention, with an optional KV cache and optional weights.

Follows "Build a Large Language Model (From Scratch)", ch. 3 (3.4 trainable Q/K/V, 3.5 the
causal mask and dropout, 3.6 multi-head attention as one batched computation). There is one
implementation with two kernels for the same math, ``softmax(Q K^T / sqrt(d_head)) V``:

* the fast path calls ``torch.nn.functional.scaled_dot_product_attention``;
* the explicit path spells the product, mask and softmax out and returns the weights, used
  when a caller asks to see them (attention maps). Tests check the two agree.

Queries, keys and values come from one fused (d x 3d) projection, so a decoding step does
one matrix product instead of three.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.model.config import GPTConfig
from core.model.layers import Dense, residual_init_std


def causal_mask(n_query: int, n_key: int, start: int, device: torch.device) -> torch.Tensor:
    """Boolean (n_query, n_key) mask, True where query ``start + i`` may see key ``j``.

    Query ``i`` sits at absolute position ``start + i`` and sees keys ``0 .. start + i``.
    Example: ``causal_mask(2, 4, 2)`` -> ``[[T, T, T, F], [T, T, T, T]]``.
    """
    q_pos = torch.arange(start, start + n_query, device=device).unsqueeze(1)  # (Tq, 1)
    k_pos = torch.arange(n_key, device=device).unsqueeze(0)  # (1, Tk)
    return k_pos <= q_pos  # (Tq, Tk)


def explicit_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, dropout: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(Q K^T / sqrt(d)) V`` written out; returns (context, weights).

    q: (B, H, Tq, hd); k, v: (B, H, Tk, hd); mask: (Tq, Tk) bool or None (all visible).
    Returns context (B, H, Tq, hd) and the pre-dropout weights (B, H, Tq, Tk).
    """
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, H, Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores.float(), dim=-1).to(q.dtype)  # (B, H, Tq, Tk)
    dropped = F.dropout(weights, p=dropout) if dropout > 0 else weights
    return dropped @ v, weights  # (B, H, Tq, hd), (B, H, Tq, Tk)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with a fused QKV projection (book section 3.6)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.head_dim
        self.dropout = config.attention_dropout
        self.qkv = Dense(config.n_embd, 3 * config.n_embd, bias=config.qkv_bias)  # (d, 3d)
        self.proj = Dense(config.n_embd, config.n_embd)  # (d, d), writes to the residual
        self.proj.reset_parameters(std=residual_init_std(config.n_layer))

    def forward(
        self,
        x: torch.Tensor,
        *,
        cache: tuple[torch.Tensor, torch.Tensor] | None = None,
        start: int = 0,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend over the sequence (and the cached prefix, when a cache is given).

        x: (B, T, d) for positions ``start .. start+T-1``. ``cache`` is this layer's
        (keys, values) buffers, each (B, H, Tmax, hd); the new keys/values are written at
        ``[start, start+T)`` and attention reads ``[0, start+T)``. Returns the output
        (B, T, d) and, if ``need_weights``, the weights (B, H, T, start+T).
        """
        B, T, C = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_head, self.head_dim)  # (B, T, 3, H, hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, T, hd)
        if cache is not None:
            cache_k, cache_v = cache  # (B, H, Tmax, hd)
            cache_k[:, :, start : start + T] = k
            cache_v[:, :, start : start + T] = v
            k = cache_k[:, :, : start + T]  # (B, H, start+T, hd), a view: no copy
            v = cache_v[:, :, : start + T]
        n_key = k.shape[2]
        dropout = self.dropout if self.training else 0.0

        weights = None
        if need_weights:
            mask = None if T == 1 else causal_mask(T, n_key, start, x.device)
            context, weights = explicit_attention(q, k, v, mask, dropout)
        elif T == 1:  # one new token sees every cached key: no mask needed
            context = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        elif n_key == T:  # whole sequence at once: the standard causal case
            context = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        else:  # several new tokens after a cached prefix: causal mask offset by `start`
            mask = causal_mask(T, n_key, start, x.device)
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        out = context.transpose(1, 2).reshape(B, T, C)  # (B, T, H*hd)
        return self.proj(out), weights
