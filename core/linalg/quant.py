"""Quantization on real weights: GGUF blocks opened up, per-tensor vs per-group int8/int4,
and what rounding a matrix does to the model's next-token distribution.

**Symmetric absmax quantization** to b bits: ``scale = max|w| / (2^(b-1) − 1)``,
``q = round(w / scale)`` clamped to ±(2^(b-1) − 1), ``ŵ = q · scale``. One scale for the whole
matrix (*per-tensor*) lets one outlier stretch the grid for every weight; one scale per group
of g consecutive weights of a row (*per-group*, as GGUF's Q8_0 and Q4_1 do with g = 32) keeps
the grid fine where the weights are small, for 16 extra bits per group.

**Q4_1** (llama.cpp, the format of SmolLM2's file) is asymmetric: each block of 32 weights
stores a float16 scale d, a float16 minimum m and 32 4-bit codes q, and ``w = d·q + m``;
:func:`open_blocks` shows them, decoded by the project's own dequantizer
(``core.model.gguf.dequantize_q4_1``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.linalg import LinalgError
from core.linalg.ffn import with_replaced
from core.model.gguf import (
    Q4_1_BLOCK_BYTES,
    Q8_0_BLOCK_BYTES,
    QK,
    TensorInfo,
    dequantize_q4_1,
    dequantize_q8_0,
)

MAX_QUANT_WEIGHTS = 40_000_000  # largest matrix quantized on request (SmolLM2's table: 28M)
MAX_BLOCKS_SHOWN = 16  # GGUF blocks opened at once
MAX_TOP_K = 50


@dataclass(frozen=True)
class Quantized:
    """A matrix rounded to ``bits`` bits and what it cost."""

    bits: int
    group: int | None  # weights per scale along a row; None = one scale per tensor
    codes: torch.Tensor  # integer codes, as float, same shape as the weight
    scales: torch.Tensor  # (n_groups,) one per group (or one for the tensor)
    values: torch.Tensor  # codes · scale: what the model would compute with

    @property
    def bits_per_weight(self) -> float:
        """Code bits plus a 16-bit scale per group."""
        per = self.codes.numel() if self.group is None else self.group
        return self.bits + 16 / per


def quantize(weight: torch.Tensor, bits: int, group: int | None = None) -> Quantized:
    """Symmetric absmax quantization of a 2-D ``weight``, per tensor or per ``group`` weights."""
    if bits not in (4, 8):
        raise LinalgError(f"bits must be 8 or 4, got {bits}")
    if weight.dim() != 2:
        raise LinalgError(f"a matrix is needed, got shape {tuple(weight.shape)}")
    if weight.numel() > MAX_QUANT_WEIGHTS:
        raise LinalgError(
            f"{weight.numel():,} weights is more than the {MAX_QUANT_WEIGHTS:,} quantized here"
        )
    rows, cols = weight.shape
    w = weight.detach().float()
    qmax = 2 ** (bits - 1) - 1
    if group is None:
        blocks = w.reshape(1, -1)
    else:
        if group < 1 or cols % group:
            raise LinalgError(f"group size {group} must divide the row length {cols}")
        blocks = w.reshape(-1, group)  # consecutive weights of a row
    amax = blocks.abs().amax(dim=1, keepdim=True)  # (n_groups, 1)
    scales = torch.where(amax > 0, amax / qmax, torch.ones_like(amax))
    codes = torch.clamp(torch.round(blocks / scales), -qmax, qmax)
    values = (codes * scales).reshape(rows, cols)
    return Quantized(bits, group, codes.reshape(rows, cols), scales.reshape(-1), values)


@dataclass(frozen=True)
class Error:
    """How far the rounded matrix is from the original."""

    max_abs: float
    rmse: float
    relative: float  # ‖ŵ − w‖ / ‖w‖ (Frobenius)
    snr_db: float  # 10·log10(‖w‖² / ‖ŵ − w‖²)


def error(weight: torch.Tensor, values: torch.Tensor) -> Error:
    diff = (values - weight.float()).double()
    norm2, err2 = float(weight.double().pow(2).sum()), float(diff.pow(2).sum())
    return Error(
        max_abs=float(diff.abs().max()),
        rmse=math.sqrt(err2 / diff.numel()),
        relative=math.sqrt(err2 / norm2) if norm2 else 0.0,
        snr_db=10 * math.log10(norm2 / err2) if err2 else math.inf,
    )


def histogram(values: torch.Tensor, bins: int = 80, lo: float | None = None,
              hi: float | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(counts, edges) of ``values`` over [lo, hi] (default: their range)."""
    v = values.detach().float().reshape(-1).cpu().numpy()
    lo = float(v.min()) if lo is None else lo
    hi = float(v.max()) if hi is None else hi
    if hi <= lo:
        hi = lo + 1e-12
    return np.histogram(v, bins=bins, range=(lo, hi))


# ---------------------------------------------------------------- effect on the model


@dataclass(frozen=True)
class Effect:
    """Next-token distribution before and after replacing one matrix."""

    kl: float  # KL(p_before ‖ p_after), nats
    top_before: list[tuple[int, float]]  # (token id, probability), most likely first
    top_after: list[tuple[int, float]]
    same_top1: bool
    overlap: int  # tokens shared by the two top-k lists


@torch.no_grad()
def next_token_effect(
    model: nn.Module, ids: torch.Tensor, name: str, values: torch.Tensor, k: int = 10
) -> Effect:
    """Run ``model`` on ``ids`` (1, T) as it is and with parameter ``name`` replaced by
    ``values`` (on a twin: the shared model is not changed); compare the last position's
    next-token distributions."""
    if not 1 <= k <= MAX_TOP_K:
        raise LinalgError(f"top-k must be from 1 to {MAX_TOP_K}, got {k}")
    before = torch.log_softmax(model(ids)[0, -1].double(), -1)
    params = dict(model.named_parameters(remove_duplicate=False))
    if name not in params:
        raise LinalgError(f"the model has no parameter named {name!r}")
    if tuple(values.shape) != tuple(params[name].shape):
        raise LinalgError(f"{name} is {tuple(params[name].shape)}, got {tuple(values.shape)}")
    twin = with_replaced(model, {name: values.to(params[name].dtype)})
    after = torch.log_softmax(twin(ids)[0, -1].double(), -1)
    kl = float((before.exp() * (before - after)).sum())

    def top(logp: torch.Tensor) -> list[tuple[int, float]]:
        p, i = logp.exp().topk(k)
        return [(int(a), float(b)) for a, b in zip(i, p, strict=True)]

    tb, ta = top(before), top(after)
    overlap = len({t for t, _ in tb} & {t for t, _ in ta})
    return Effect(max(kl, 0.0), tb, ta, tb[0][0] == ta[0][0], overlap)


def matrices(model: nn.Module) -> dict[str, tuple[int, int]]:
    """The model's 2-D parameters by name (the tied head listed once), with their shapes."""
    return {n: tuple(p.shape) for n, p in model.named_parameters() if p.dim() == 2}


# ---------------------------------------------------------------- GGUF blocks


@dataclass(frozen=True)
class Block:
    """One stored block of 32 weights."""

    index: int  # block number within the tensor
    row: int  # matrix row of its first weight
    col: int  # column of its first weight
    scale: float  # d (float16 in the file)
    minimum: float | None  # m (Q4_1 only)
    codes: tuple[int, ...]  # 32 codes: 0..15 (Q4_1) or −128..127 (Q8_0)
    values: tuple[float, ...]  # the 32 weights, from the project's dequantizer


def open_blocks(info: TensorInfo, first: int, count: int = 4) -> list[Block]:
    """Blocks ``first .. first+count-1`` of a Q4_1 or Q8_0 tensor, taken apart."""
    if info.type_name not in ("Q4_1", "Q8_0"):
        raise LinalgError(f"{info.name} is stored as {info.type_name}, not in quantized blocks")
    size = Q4_1_BLOCK_BYTES if info.type_name == "Q4_1" else Q8_0_BLOCK_BYTES
    raw = np.ascontiguousarray(info.raw).view(np.uint8).reshape(-1, size)
    n = raw.shape[0]
    if not (0 <= first < n and 1 <= count <= MAX_BLOCKS_SHOWN):
        raise LinalgError(f"block must be from 0 to {n - 1} and at most {MAX_BLOCKS_SHOWN} at once")
    cols = info.shape[-1]
    out = []
    for b in range(first, min(first + count, n)):
        block = raw[b : b + 1]
        d = float(block[0, 0:2].copy().view(np.float16)[0])
        if info.type_name == "Q4_1":
            m = float(block[0, 2:4].copy().view(np.float16)[0])
            packed = block[0, 4:]
            codes = np.concatenate([packed & 0x0F, packed >> 4]).tolist()
            values = dequantize_q4_1(block)
        else:
            m = None
            codes = block[0, 2:].view(np.int8).tolist()
            values = dequantize_q8_0(block)
        start = b * QK
        out.append(
            Block(
                b,
                start // cols,
                start % cols,
                d,
                m,
                tuple(int(c) for c in codes),
                tuple(float(v) for v in values),
            )  # fmt: skip
        )
    return out


def block_count(info: TensorInfo) -> int:
    return info.n_elements // QK
