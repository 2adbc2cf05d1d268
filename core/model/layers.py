"""The GPT's small building blocks: a dense layer, the GELU feed-forward network.

Follows "Build a Large Language Model (From Scratch)", ch. 4.2-4.3 (GELU, ``FeedForward``
with a 4x hidden width). One deliberate difference from ``nn.Linear``: :class:`Dense` stores
its weight as (in x out), like GPT-2's ``Conv1D``, and computes ``x @ W`` with
``torch.addmm``. At batch 1 (decoding one token) a matrix product is a matrix-vector product
that must stream every weight from memory; on the CPUs this project was measured on,
``x @ W`` with W stored (in x out) streamed about 24-28 GB/s in fp32 while ``nn.Linear``'s
``x @ W.T`` streamed 16-18 GB/s (REFERENCE.md section 3; bench/bench_decode.py re-measures).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Dense(nn.Module):
    """``y = x @ W + b`` with ``W`` stored (in_features, out_features)."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))  # (in, out)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None  # (out,)
        self.reset_parameters()

    def reset_parameters(self, std: float = 0.02) -> None:
        """GPT-2's initialisation: weights ~ N(0, std^2), biases zero."""
        nn.init.normal_(self.weight, mean=0.0, std=std)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (..., in) -> (..., out); one 2-D GEMM over all leading dimensions.
        if x.dim() == 2:  # (N, in): no reshapes (the decoding path keeps activations 2-D)
            if self.bias is None:
                return torch.mm(x, self.weight)
            return torch.addmm(self.bias, x, self.weight)
        flat = x.reshape(-1, self.in_features)  # (N, in)
        if self.bias is None:
            out = torch.mm(flat, self.weight)  # (N, out)
        else:
            out = torch.addmm(self.bias, flat, self.weight)  # (N, out)
        return out.view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, bias={self.bias is not None}"


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU with the tanh approximation used by GPT-2 and the book (section 4.3).

    ``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))``; computed by PyTorch's
    fused kernel, which matches that formula to float rounding.
    """
    return F.gelu(x, approximate="tanh")


class FeedForward(nn.Module):
    """Position-wise MLP: expand to 4x the width, GELU, project back (book section 4.3)."""

    def __init__(self, n_embd: int, *, residual_std: float = 0.02) -> None:
        super().__init__()
        self.fc = Dense(n_embd, 4 * n_embd)  # "up" projection, (d, 4d)
        self.proj = Dense(4 * n_embd, n_embd)  # "down" projection, (4d, d)
        self.proj.reset_parameters(std=residual_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, T, d) -> (B, T, 4d) -> (B, T, d)
        return self.proj(gelu(self.fc(x)))


def residual_init_std(n_layer: int, base: float = 0.02) -> float:
    """GPT-2's scaled init for projections that write into the residual stream.

    Each block adds two outputs to the residual stream, so their weights are scaled by
    ``1/sqrt(2 * n_layer)`` to keep the stream's variance from growing with depth.
    """
    return base / math.sqrt(2 * n_layer)
