"""Step-latency model of one model on one GPU, in the DistServe form the Aegaeon artifact uses.

Prefill of a batch with prompt lengths l_k:   T = a + b·Σ l_k + c·Σ l_k²
One decode step of a batch of B requests:      T = a + b·Σ context_k + c·B

(REFERENCE §6: DistServe writes prefill as C₁(4th² + 2thm) + C₂(3ht₂/b) + C₃ and a decode step
as C₄(4h² + 2hm) + C₅(3ht); fitting per model×GPU collapses that to three numbers each.)
Coefficients come from ``data/latency.json`` — least-squares fits to measured H100 profiles —
and, for every other model×GPU pair, from a roofline estimate calibrated on those fits:
weights streamed from HBM per decode step, 2·params FLOPs per prompt token at ~66% MFU.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from core.pool.catalogue import GB, GPUSpec, ModelSpec, _read, gpu_spec, model_spec

# Roofline calibration (fitted by eye to the three H100 fits in data/latency.json).
_HBM_EFFICIENCY = 0.75  # share of HBM bandwidth a decode step's weight stream reaches
_LAYER_OVERHEAD_S = 1.0e-4  # kernel-launch and norm cost per layer per decode step
_ATTN_PER_LAYER_S = 2.5e-8  # per context token per layer at H100 bandwidth (paged attention)
_PER_REQUEST_PER_LAYER_S = 2.0e-6  # sampling and bookkeeping per request per layer
_MFU = 0.66  # model FLOP utilisation of prefill
_PREFILL_BASE_S = 5.0e-3  # fixed prefill cost (scheduling, first kernels)
_H100_HBM_TB_S = 3.35


@dataclass(frozen=True)
class LatencyModel:
    """Three prefill and three decode coefficients (seconds) for one model on one GPU."""

    prefill: tuple[float, float, float]  # a [s], b [s/token], c [s/token²]
    decode: tuple[float, float, float]  # a [s], b [s/context token], c [s/request]
    source: str = "roofline"  # "fitted" (measured profiles) or "roofline" (estimate)

    def prefill_s(self, sum_len: float, sum_sq: float) -> float:
        """Latency of one prefill batch with Σlen and Σlen² of its prompts."""
        a, b, c = self.prefill
        return a + b * sum_len + c * sum_sq

    def decode_s(self, sum_context: float, batch: int) -> float:
        """Latency of one decode step of ``batch`` requests holding ``sum_context`` tokens."""
        a, b, c = self.decode
        return a + b * sum_context + c * batch


@dataclass(frozen=True)
class WholeMsLatency(LatencyModel):
    """A latency model whose every step is cut to whole milliseconds, as the Aegaeon
    artifact's simulator does (``int(1000 · predicted seconds)`` ms per batch)."""

    def prefill_s(self, sum_len: float, sum_sq: float) -> float:
        return math.floor(1000 * super().prefill_s(sum_len, sum_sq)) / 1000

    def raw_decode_s(self, sum_context: float, batch: int) -> float:
        """The step before it is cut to whole milliseconds."""
        return LatencyModel.decode_s(self, sum_context, batch)

    def decode_s(self, sum_context: float, batch: int) -> float:
        return math.floor(1000 * self.raw_decode_s(sum_context, batch)) / 1000

    def steady_steps(self, sum_context: float, batch: int) -> int:
        """How many decode steps in a row last as long as the first while each of the
        ``batch`` requests adds a token of context per step (≥ 1; 2⁴⁰ when flat): the
        artifact re-evaluates every step, so a closed-form segment ends where the whole
        milliseconds change."""
        first = self.decode_s(sum_context, batch)
        per_step = self.decode[1] * batch
        if per_step == 0:
            return 1 << 40
        edge = first + 0.001 if per_step > 0 else first
        k = min(
            max(1, math.ceil((edge - self.raw_decode_s(sum_context, batch)) / per_step)), 1 << 40
        )
        while k > 1 and self.decode_s(sum_context + (k - 1) * batch, batch) != first:
            k -= 1
        while k < 1 << 40 and self.decode_s(sum_context + k * batch, batch) == first:
            k += 1
        return k


def roofline(model: ModelSpec, gpu: GPUSpec) -> LatencyModel:
    """Estimate coefficients from sizes and datasheet numbers (no measurements needed)."""
    bw = gpu.hbm_tb_s * 1e12
    flops = gpu.tflops * 1e12 * _MFU
    d_a = model.weight_gb * GB / (bw * _HBM_EFFICIENCY) + model.layers * _LAYER_OVERHEAD_S
    d_b = model.kv_bytes_per_token / bw + model.layers * _ATTN_PER_LAYER_S * _H100_HBM_TB_S / (
        gpu.hbm_tb_s
    )
    d_c = model.layers * _PER_REQUEST_PER_LAYER_S
    p_a = _PREFILL_BASE_S + model.layers * _LAYER_OVERHEAD_S / 2
    p_b = 2.0 * model.params_b * 1e9 / flops
    p_c = 2.0 * model.layers * model.hidden / flops  # causal attention, QKᵀ and AV
    return LatencyModel((p_a, p_b, p_c), (d_a, d_b, d_c), "roofline")


@cache
def _fitted_table() -> dict[tuple[str, str], LatencyModel]:
    table = {}
    for row in _read("latency.json")["fits"]:
        key = (row["model"], row["gpu"])
        table[key] = LatencyModel(tuple(row["prefill"]), tuple(row["decode"]), "fitted")
    return table


def latency_model(model: str, gpu: str) -> LatencyModel:
    """Fitted coefficients when the catalogue has them, else the roofline estimate."""
    fitted = _fitted_table().get((model, gpu))
    return fitted if fitted is not None else roofline(model_spec(model), gpu_spec(gpu))


def nonnegative_lstsq(features: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least squares with every coefficient ≥ 0 (drop negative ones and refit; 3 columns)."""
    active = list(range(features.shape[1]))
    coef = np.zeros(features.shape[1])
    while active:
        sol, *_ = np.linalg.lstsq(features[:, active], target, rcond=None)
        if (sol >= 0).all():
            coef[active] = sol
            break
        active.pop(int(np.argmin(sol)))
    return coef


def fit_latency(
    prefill_samples: Sequence[tuple[int, int, float]],
    decode_samples: Sequence[tuple[int, int, float]],
) -> LatencyModel:
    """Fit from profile points ``(length, batch, seconds)``: every request of the batch has
    ``length`` prompt tokens (prefill) or ``length`` context tokens (decode).

    Example: points on T = 0.01 + 2e-5·Σlen fit back to prefill ≈ (0.01, 2e-5, 0).
    """
    p = np.asarray(prefill_samples, dtype=float).reshape(-1, 3)
    d = np.asarray(decode_samples, dtype=float).reshape(-1, 3)
    if len(p) < 3 or len(d) < 3:
        raise ValueError("need at least 3 prefill and 3 decode samples to fit 3 coefficients")
    pf = np.c_[np.ones(len(p)), p[:, 0] * p[:, 1], p[:, 0] ** 2 * p[:, 1]]
    df = np.c_[np.ones(len(d)), d[:, 0] * d[:, 1], d[:, 1]]
    pc = nonnegative_lstsq(pf, p[:, 2])
    dc = nonnegative_lstsq(df, d[:, 2])
    return LatencyModel(tuple(map(float, pc)), tuple(map(float, dc)), "fitted")


def read_profiles(
    folder: str | Path,
) -> tuple[list[tuple[int, int, float]], list[tuple[int, int, float]]]:
    """Profile points ``(length, batch, seconds)`` from files ``i<len>b<batch>.json`` in the
    Aegaeon artifact's format (``avg_prefill_latency``, ``avg_decode_latency``).

    Prefill keeps batches of ≤ 4096 prompt tokens (the profiler saturates above that);
    decode drops steps under 2 ms (one broken sample per model). These are the points
    ``data/latency.json`` was fitted on.
    """
    prefill, decode = [], []
    for path in sorted(Path(folder).glob("i*b*.json")):
        match = re.fullmatch(r"i(\d+)b(\d+)\.json", path.name)
        if not match:
            continue
        length, batch = int(match[1]), int(match[2])
        data = json.loads(path.read_text(encoding="utf-8"))
        if length * batch <= 4096:
            prefill.append((length, batch, float(data["avg_prefill_latency"])))
        if data["avg_decode_latency"] >= 0.002:
            decode.append((length, batch, float(data["avg_decode_latency"])))
    return prefill, decode
