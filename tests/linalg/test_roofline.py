"""Rooflines and switch times on the GPU pool's catalogue, and the link to the pool page."""

from __future__ import annotations

import pytest

from core.linalg import LinalgError
from core.linalg.arch import from_catalogue, from_llama, parts
from core.linalg.roofline import (
    GPU_SOURCES,
    decode_step,
    pool_query,
    prefill_step,
    ridge,
    switch_time,
)
from core.model.llama import LlamaConfig
from core.pool.catalogue import gpus, models
from core.pool.setup import CHOICES, MIXES


def test_every_catalogue_gpu_has_a_source():
    assert set(GPU_SOURCES) == set(gpus())
    assert {"H100", "H200", "A100", "H20"} <= set(gpus())


def test_ridge_points():
    assert ridge(gpus()["H100"]) == pytest.approx(989 / 3.35)  # ≈ 295 FLOP/byte
    assert ridge(gpus()["H20"]) == pytest.approx(148 / 4.0)  # 37: the H20 is bandwidth-rich


def test_decode_at_batch_one_is_memory_bound_and_batching_raises_intensity():
    arch, h100 = from_catalogue(models()["qwen2.5-7b"]), gpus()["H100"]
    n = parts(arch).total
    one = decode_step(arch, h100, batch=1, context=1)
    kv = 2 * 28 * 4 * 128 * 2  # bytes per cached position in bf16
    assert one.bytes == 2 * n + kv
    assert one.memory_s == pytest.approx((2 * n + kv) / 3.35e12)
    assert one.bound == "memory" and one.intensity < 1.1
    big = decode_step(arch, h100, batch=512, context=1)
    assert big.intensity > 250 * one.intensity
    assert big.seconds == max(big.compute_s, big.memory_s)


def test_long_prefill_is_compute_bound():
    arch, h100 = from_catalogue(models()["qwen2.5-7b"]), gpus()["H100"]
    step = prefill_step(arch, h100, tokens=4096)
    assert step.bound == "compute" and step.intensity > ridge(h100)
    assert step.tokens_per_s == pytest.approx(4096 / step.compute_s)


def test_switch_time_is_weight_bytes_over_pcie():
    arch, h100 = from_catalogue(models()["qwen2.5-7b"]), gpus()["H100"]
    sw = switch_time(arch, h100, "bf16")
    assert sw.weight_bytes == 7_615_616_512 * 2
    assert sw.pcie_s == pytest.approx(7_615_616_512 * 2 / 64e9)  # ≈ 0.24 s
    assert sw.hbm_s == pytest.approx(7_615_616_512 * 2 / 3.35e12)  # ≈ 4.5 ms
    assert sw.ratio == pytest.approx(3350 / 64)
    smol = switch_time(from_llama(LlamaConfig()), h100, "fp32")
    assert smol.weight_bytes == 134_515_008 * 4
    with pytest.raises(LinalgError, match="unknown format"):
        switch_time(arch, h100, "fp64")


def test_pool_query_names_a_mix_with_the_model_that_the_pool_page_accepts():
    assert pool_query("qwen2.5-7b", "H100", MIXES) == {"gpu": "H100", "mix": "paper"}
    assert pool_query("qwen2.5-32b", "H200", MIXES) == {"gpu": "H200", "mix": "large"}
    assert pool_query("qwen2.5-72b", "H200", MIXES)["mix"] == "72b"
    assert pool_query("nothing", "A100", MIXES) == {"gpu": "A100"}
    for name in models():
        q = pool_query(name, "H20", MIXES)
        assert q["gpu"] in CHOICES["gpu"] and q.get("mix", "paper") in CHOICES["mix"]
