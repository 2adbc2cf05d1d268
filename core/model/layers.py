"""The GPT's small building blocks: a dense layer, the GELU feed-forward network.

Follows "Build a Large Language Model (From Scratch)", ch. 4.2-4.3 (GELU, ``FeedForward``
with a 4x hidden width). :class:`Dense` is ``nn.Linear``'s math and layout (weight stored
(out x in)); its weight may be kept in a lower precision than the activations
(:meth:`core.model.gpt.GPT.cast_matrices`). Fast batch-1 decoding is not done here but by
the decoders beside the model (``core/model/gpt_decoder.py``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Dense(nn.Module):
    """``y = x @ W.T + b`` with ``W`` stored (out_features, in_features), as ``nn.Linear``."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))  # (out, in)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None  # (out,)
        self.reset_parameters()

    def reset_parameters(self, std: float = 0.02) -> None:
        """GPT-2's initialisation: weights ~ N(0, std^2), biases zero."""
        nn.init.normal_(self.weight, mean=0.0, std=std)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (..., in) -> (..., out)
        if self.weight.dtype != x.dtype:  # weights stored in lower precision (cast_matrices)
            out = F.linear(x.to(self.weight.dtype), self.weight).to(x.dtype)
            return out if self.bias is None else out.add_(self.bias)
        return F.linear(x, self.weight, self.bias)

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
