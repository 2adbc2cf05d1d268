"""The model and GPU catalogue: data files in ``core/pool/data/``, read into frozen dataclasses.

Models span 1.8B–72B parameters (the range Alibaba Cloud Model Studio serves in the Aegaeon
paper, §2); GPUs are the A100/H100/H800/H200/H20 of its evaluation and deployment. Sizes feed
the switch cost (weight bytes ÷ bandwidth, §5) and KV-cache capacity; the latency model lives
in ``latency.py``. Everything returned is immutable, so the cached tables are safe to share
between Streamlit sessions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from core.pool.config import ConfigError

DATA_DIR = Path(__file__).resolve().parent / "data"
GB = 1e9  # the catalogue counts memory in decimal gigabytes


@dataclass(frozen=True)
class ModelSpec:
    """One servable model (tensor parallelism 1: it must fit on one GPU)."""

    name: str  # catalogue key, e.g. "qwen2.5-7b"
    params_b: float  # parameters, billions
    layers: int  # transformer blocks
    hidden: int  # model width h
    ffn: int  # MLP width m
    heads: int  # attention heads
    kv_heads: int  # key/value heads (grouped-query attention when < heads)
    weight_gb: float  # weight bytes / 1e9 as served
    max_context: int  # longest prompt + response the model accepts

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def kv_bytes_per_token(self) -> float:
        """K and V for every layer in 16-bit: 2 · layers · kv_heads · head_dim · 2 bytes."""
        return 4.0 * self.layers * self.kv_heads * self.head_dim


@dataclass(frozen=True)
class GPUSpec:
    """One accelerator type."""

    name: str  # catalogue key, e.g. "H100"
    memory_gb: float  # HBM capacity, 1e9 bytes
    hbm_tb_s: float  # HBM bandwidth, TB/s
    tflops: float  # dense BF16 TFLOP/s
    pcie_gb_s: float  # host link bandwidth, GB/s


def _read(name: str) -> dict[str, Any]:
    with open(DATA_DIR / name, encoding="utf-8") as fh:
        return json.load(fh)


@cache
def models() -> MappingProxyType[str, ModelSpec]:
    """Every catalogue model by name (read once; immutable)."""
    table = {m["name"]: ModelSpec(**m) for m in _read("models.json")["models"]}
    return MappingProxyType(table)


@cache
def gpus() -> MappingProxyType[str, GPUSpec]:
    """Every catalogue GPU by name (read once; immutable)."""
    table = {g["name"]: GPUSpec(**g) for g in _read("gpus.json")["gpus"]}
    return MappingProxyType(table)


@cache
def length_profiles() -> MappingProxyType[str, Any]:
    """Quantile tables of prompt/response lengths, by profile name."""
    return MappingProxyType(_read("lengths.json")["profiles"])


def model_spec(name: str) -> ModelSpec:
    """Look a model up, with the list of known names in the error."""
    try:
        return models()[name]
    except KeyError:
        known = ", ".join(models())
        raise ConfigError(f"unknown model {name!r}; the catalogue has: {known}") from None


def gpu_spec(name: str) -> GPUSpec:
    """Look a GPU type up, with the list of known names in the error."""
    try:
        return gpus()[name]
    except KeyError:
        known = ", ".join(gpus())
        raise ConfigError(f"unknown GPU type {name!r}; the catalogue has: {known}") from None


def kv_capacity_bytes(model: ModelSpec, gpu: GPUSpec, fraction: float) -> float:
    """KV-cache bytes left on one GPU holding only ``model``'s weights."""
    return max(0.0, (gpu.memory_gb - model.weight_gb) * GB * fraction)


def fits(model: ModelSpec, gpu: GPUSpec) -> bool:
    """Whether the weights plus room for one request's KV cache fit in GPU memory."""
    return model.weight_gb * GB + 4096 * model.kv_bytes_per_token <= gpu.memory_gb * GB
