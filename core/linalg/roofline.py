"""Rooflines: is a step limited by the GPU's arithmetic or by its memory? And model-switch time.

A step of ``F`` FLOPs that moves ``B`` bytes through HBM takes at least
``max(F / peak_flops, B / hbm_bandwidth)`` (Williams et al. 2009, "Roofline"). Its arithmetic
intensity ``F / B`` against the GPU's ridge point ``peak_flops / hbm_bandwidth`` says which
bound applies: a decode step at batch 1 reads every weight once for 2 FLOPs per weight
(≈ 1 FLOP/byte in bf16), far below an H100's ridge of ≈ 295 FLOP/byte, so it is memory-bound;
batching raises the intensity. Loading a model's weights onto a GPU crosses PCIe instead
(tens of GB/s, not TB/s): **switch time = weight bytes / PCIe bandwidth**, which is what makes
serving many models on few GPUs hard (Aegaeon, SOSP'25, §5).

The GPUs are the GPU pool's catalogue (``core/pool/data/gpus.json``), passed in by the
caller; :data:`GPU_SOURCES` names the datasheet behind each row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from core.linalg import LinalgError
from core.linalg.arch import FORMAT_BITS, Arch, decode_flops, kv_bytes_per_token, parts
from core.linalg.arch import prefill_flops as _prefill_flops

GB = 1e9  # the catalogue counts in decimal gigabytes

# Where each catalogue GPU's numbers come from (dense BF16 tensor FLOP/s, HBM, host link).
GPU_SOURCES: dict[str, str] = {
    "A100": "NVIDIA A100 datasheet (SXM4 80 GB): 312 TFLOP/s BF16, 2.04 TB/s HBM2e, PCIe Gen4",
    "H100": "NVIDIA H100 datasheet (SXM5): 989 TFLOP/s BF16 dense, 3.35 TB/s HBM3, PCIe Gen5",
    "H800": "NVIDIA H800 (H100 for China): same compute and HBM3 as H100 SXM, reduced NVLink",
    "H200": "NVIDIA H200 datasheet (SXM): 989 TFLOP/s BF16 dense, 4.8 TB/s HBM3e, 141 GB",
    "H20": "NVIDIA H20 (Hopper, export variant): 148 TFLOP/s BF16, 4.0 TB/s HBM3, 96 GB",
}


class GPU(Protocol):
    """What the roofline reads of a catalogue GPU (``core.pool.catalogue.GPUSpec``)."""

    name: str
    memory_gb: float
    hbm_tb_s: float
    tflops: float
    pcie_gb_s: float


@dataclass(frozen=True)
class Step:
    """One forward step on one GPU, bounded by compute or by memory traffic."""

    flops: float  # arithmetic of the step
    bytes: float  # bytes read or written through HBM (weights + KV cache)
    compute_s: float  # flops / peak
    memory_s: float  # bytes / HBM bandwidth
    tokens: int  # tokens the step produces or processes

    @property
    def intensity(self) -> float:
        """FLOPs per byte moved."""
        return self.flops / self.bytes

    @property
    def seconds(self) -> float:
        """The roofline's lower bound on the step's time."""
        return max(self.compute_s, self.memory_s)

    @property
    def bound(self) -> str:
        return "compute" if self.compute_s >= self.memory_s else "memory"

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds


def ridge(gpu: GPU) -> float:
    """FLOPs per byte at which the GPU's compute and memory bounds meet."""
    return gpu.tflops * 1e12 / (gpu.hbm_tb_s * 1e12)


def _bytes_per_value(fmt: str) -> float:
    if fmt not in FORMAT_BITS:
        raise LinalgError(f"unknown format {fmt!r}; choose one of {', '.join(FORMAT_BITS)}")
    return FORMAT_BITS[fmt] / 8


def _step(gpu: GPU, flops: float, nbytes: float, tokens: int) -> Step:
    return Step(flops, nbytes, flops / (gpu.tflops * 1e12), nbytes / (gpu.hbm_tb_s * 1e12), tokens)


def decode_step(
    arch: Arch, gpu: GPU, *, batch: int, context: int, weights: str = "bf16", kv: str = "bf16"
) -> Step:
    """One decode step of ``batch`` sequences, each reading ``context`` cached positions:
    every weight read once, every sequence's KV cache read once."""
    if batch < 1 or context < 1:
        raise LinalgError(f"batch and context must be at least 1, got {batch} and {context}")
    flops = batch * decode_flops(arch, context)
    nbytes = parts(arch).total * _bytes_per_value(weights)
    nbytes += batch * context * kv_bytes_per_token(arch, _bytes_per_value(kv))
    return _step(gpu, flops, nbytes, batch)


def prefill_step(
    arch: Arch, gpu: GPU, *, tokens: int, weights: str = "bf16", kv: str = "bf16"
) -> Step:
    """A prompt of ``tokens`` tokens in one pass: weights read once, its KV cache written
    (activations are left out: they stay in on-chip memory in a fused kernel)."""
    flops = _prefill_flops(arch, tokens)
    nbytes = parts(arch).total * _bytes_per_value(weights)
    nbytes += tokens * kv_bytes_per_token(arch, _bytes_per_value(kv))
    return _step(gpu, flops, nbytes, tokens)


@dataclass(frozen=True)
class Switch:
    """Moving a model's weights: over the host link, and read once from HBM for comparison."""

    weight_bytes: float
    pcie_s: float  # host memory → GPU over PCIe: the model-switch time
    hbm_s: float  # one full read from HBM: the floor of one decode step

    @property
    def ratio(self) -> float:
        """How many decode steps' worth of weight reads one switch costs."""
        return self.pcie_s / self.hbm_s


def switch_time(arch: Arch, gpu: GPU, fmt: str = "bf16") -> Switch:
    """Model-switch time = weight bytes / PCIe bandwidth (and the HBM read for scale)."""
    nbytes = parts(arch).total * _bytes_per_value(fmt)
    return Switch(nbytes, nbytes / (gpu.pcie_gb_s * GB), nbytes / (gpu.hbm_tb_s * 1e12))


def pool_query(
    model: str, gpu: str, mixes: Mapping[str, tuple[str, tuple[tuple[str, float], ...]]]
) -> dict[str, str]:
    """URL entries that open the GPU-pool page on ``gpu`` with a model mix serving ``model``.

    ``mixes`` is the pool page's table of mixes (``core.pool.setup.MIXES``); the first mix
    that includes the model is chosen, none when no mix does.
    """
    query = {"gpu": gpu}
    for key, (_label, members) in mixes.items():
        if any(name == model for name, _ in members):
            query["mix"] = key
            break
    return query
