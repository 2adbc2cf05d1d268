"""The GPT's small building blocks: a dense layer, the GELU feed-forward network.

Follows "Build a Large Language Model (From Scratch)", ch. 4.2-4.3 (GELU, ``FeedForward``
with a 4x hidden width). :class:`Dense` is ``nn.Linear``'s math and layout (weight stored
(out x in)) with one addition for decoding: at batch 1 a matrix product is a
matrix-vector product that must stream every weight from memory, and PyTorch runs it on one
CPU thread, which streams about half of what the memory system delivers to two. Dense then
uses the project's small C kernel (:mod:`core.model.kernels`, every thread, float32 or
bfloat16 weights) or, where no C compiler is available, splits the weight into contiguous
row blocks, one per thread (:func:`split_matvec`); ``bench/bench_decode.py`` measures all.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.model.kernels import native_matvec

# Below this many weights a matrix is served from cache and splitting it costs more than it gains.
SPLIT_MATVEC_MIN_WEIGHTS = 1 << 19


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
        if x.numel() == self.in_features and self._streams_one_row(x):
            out = native_matvec(x, self.weight, self.bias)  # None without a C compiler
            if out is not None:
                return out
            if self._split_matvec(x):
                out = split_matvec(x.reshape(1, self.in_features), self.weight, self.bias)
                return out.view(*x.shape[:-1], self.out_features)  # (..., out), one row
        if self.weight.dtype != x.dtype:  # weights stored in lower precision (cast_matrices)
            out = F.linear(x.to(self.weight.dtype), self.weight).to(x.dtype)
            return out if self.bias is None else out.add_(self.bias)
        return F.linear(x, self.weight, self.bias)

    def _streams_one_row(self, x: torch.Tensor) -> bool:
        """Whether this one-row product should stream the weight on every CPU thread."""
        return (
            x.device.type == "cpu"
            and self.weight.numel() >= SPLIT_MATVEC_MIN_WEIGHTS
            and not torch.is_grad_enabled()
        )

    def _split_matvec(self, x: torch.Tensor) -> bool:
        """Whether PyTorch's row-block split applies (when the native kernel does not)."""
        return (
            x.dtype == torch.float32
            and self.weight.dtype == torch.float32
            and torch.get_num_threads() > 1
            and self.weight.is_contiguous()
        )

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, bias={self.bias is not None}"


def split_matvec(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x @ weight.T (+ bias)`` for one row x (1, in), streaming weight on every CPU thread.

    The (out, in) weight is viewed, without a copy, as ``n`` blocks of whole rows
    (n, out/n, in), one per thread; ``bmm`` of the blocks with x's column is a batched
    matrix-vector product that MKL spreads over the threads, each streaming its own block of
    contiguous memory. Rows left over when ``n`` does not divide ``out`` (odd vocabularies)
    are one small extra product.
    """
    n = torch.get_num_threads()
    d_out, d_in = weight.shape
    rows = d_out // n  # rows per block
    blocks = weight[: n * rows].view(n, rows, d_in)  # (n, rows, in), a view
    # x as a column, (n, in, 1) with strides (0, 1, in): MKL takes this layout as a
    # matrix-vector product over contiguous rows (a column with strides (0, 1, 1) made it
    # fall back to a kernel ~4x slower, measured with bench/bench_decode.py).
    column = x.reshape(1, d_in).t().expand(n, d_in, 1)
    out = torch.bmm(blocks, column)  # (n, rows, 1)
    out = out.view(1, n * rows)
    if n * rows < d_out:
        out = torch.cat([out, F.linear(x, weight[n * rows :])], dim=1)  # (1, out)
    return out if bias is None else out.add_(bias)


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
