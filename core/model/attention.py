"""Causal multi-head self-attention, with an optional KV cache and optional weights.

Follows "Build a Large Language Model (From Scratch)", ch. 3 (3.4 trainable Q/K/V, 3.5 the
causal mask and dropout, 3.6 multi-head attention as one batched computation). There is one
implementation with two kernels for the same math, ``softmax(Q K^T / sqrt(d_head)) V``:

* the fast path calls ``torch.nn.functional.scaled_dot_product_attention``;
* the explicit path spells the product, mask and softmax out and returns the weights, used
  when a caller asks to see them (attention maps). Tests check the two agree.

One exception, for speed: under bf16 autocast on the CPU (``--precision bf16`` training) the
whole-sequence causal case uses :func:`causal_attention_bf16`, the same math as two batched
bf16 matrix products, because PyTorch 2.13's CPU ``scaled_dot_product_attention`` has no fast
bf16 kernel (forward + backward of one built-in layer: 34 ms vs 14 ms, measured with
``bench/bench_train.py``'s shape).

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


def causal_attention_bf16(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout: float
) -> torch.Tensor:
    """Whole-sequence causal attention for CPU bf16 autocast; returns the context (B, H, T, hd).

    q, k, v: (B, H, T, hd). The scores are one ``baddbmm`` that adds the causal mask as a
    bias of 0 / -inf (so no separate masking pass), the softmax runs in float32 (autocast's
    rule for softmax) and the weighted sum of values is a bf16 ``bmm``.
    """
    B, H, T, hd = q.shape
    bias = torch.zeros(T, T, device=q.device, dtype=q.dtype)
    bias.masked_fill_(~causal_mask(T, T, 0, q.device), float("-inf"))  # (T, T)
    scores = torch.baddbmm(
        bias.expand(B * H, T, T),
        q.reshape(B * H, T, hd),
        k.reshape(B * H, T, hd).transpose(1, 2),
        alpha=1.0 / math.sqrt(hd),
    )  # (B*H, T, T)
    weights = torch.softmax(scores, dim=-1)
    if dropout > 0:
        weights = F.dropout(weights, p=dropout)
    return torch.bmm(weights, v.reshape(B * H, T, hd)).view(B, H, T, hd)


def _cpu_bf16_autocast(x: torch.Tensor) -> bool:
    return (
        x.device.type == "cpu"
        and torch.is_autocast_enabled("cpu")
        and torch.get_autocast_dtype("cpu") == torch.bfloat16
    )


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
        elif n_key == T and _cpu_bf16_autocast(x):  # bf16 training on the CPU
            context = causal_attention_bf16(q, k, v, dropout)
        elif n_key == T:  # whole sequence at once: the standard causal case
            context = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        else:  # several new tokens after a cached prefix: causal mask offset by `start`
            mask = causal_mask(T, n_key, start, x.device)
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        out = context.transpose(1, 2).reshape(B, T, C)  # (B, T, H*hd)
        return self.proj(out), weights
