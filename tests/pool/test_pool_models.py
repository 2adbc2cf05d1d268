"""Catalogue, latency and switch-cost models; static placement limits; partial results."""

from __future__ import annotations

import math

import pytest

from core.pool import PolicyName, PoolConfig, SimConfig, Simulation, SwitchConfig, WorkloadConfig
from core.pool.catalogue import gpu_spec, kv_capacity_bytes, model_spec, models
from core.pool.gpu import kv_swap_seconds, switch_seconds
from core.pool.latency import fit_latency, latency_model, roofline


def test_kv_bytes_and_capacity() -> None:
    qwen = model_spec("qwen2.5-7b")
    assert qwen.kv_bytes_per_token == 2 * 28 * 4 * 128 * 2  # K,V × layers × kv heads × dim × 2 B
    h100 = gpu_spec("H100")
    assert kv_capacity_bytes(qwen, h100, 0.9) == pytest.approx((80 - 15.2) * 1e9 * 0.9)


def test_switch_cost_presets_and_prefetch() -> None:
    qwen = model_spec("qwen2.5-7b")
    fast = SwitchConfig.aegaeon()
    assert switch_seconds(qwen, fast) == pytest.approx(15.2 / 16 + 0.1)
    assert switch_seconds(qwen, fast, prefetched_s=0.5) == pytest.approx(15.2 / 16 - 0.5 + 0.1)
    assert switch_seconds(qwen, fast, prefetched_s=10.0) == pytest.approx(0.1)
    slow = SwitchConfig.unoptimized()
    assert switch_seconds(qwen, slow, prefetched_s=10.0) / switch_seconds(qwen, fast) > 30
    assert kv_swap_seconds(32e9, fast) == pytest.approx(1.0)


def test_latency_fit_recovers_known_coefficients() -> None:
    pre = [
        (n, b, 0.01 + 2e-5 * n * b + 1e-9 * n * n * b) for n in (16, 128, 1024) for b in (1, 2, 4)
    ]
    dec = [(n, b, 0.008 + 1e-6 * n * b + 5e-5 * b) for n in (16, 256, 1024) for b in (1, 8, 32)]
    fit = fit_latency(pre, dec)
    assert fit.prefill == pytest.approx((0.01, 2e-5, 1e-9), rel=1e-6)
    assert fit.decode == pytest.approx((0.008, 1e-6, 5e-5), rel=1e-6)


@pytest.mark.parametrize("name", list(models()))
@pytest.mark.parametrize("gpu", ["A100", "H100", "H200", "H20"])
def test_every_pair_has_a_positive_latency_model(name: str, gpu: str) -> None:
    lat = latency_model(name, gpu)
    assert all(c >= 0 for c in (*lat.prefill, *lat.decode)) and lat.decode[0] > 0
    assert lat.decode_s(1000, 1) < lat.decode_s(8000, 8)


def test_roofline_is_close_to_the_fits() -> None:
    for name in ("qwen2.5-7b", "yi-9b", "llama2-13b"):
        fitted, est = latency_model(name, "H100"), roofline(model_spec(name), gpu_spec("H100"))
        assert fitted.source == "fitted" and est.source == "roofline"
        assert est.decode_s(1000, 1) == pytest.approx(fitted.decode_s(1000, 1), rel=0.35)
        assert est.prefill_s(1000, 1e6) == pytest.approx(fitted.prefill_s(1000, 1e6), rel=0.35)


def test_static_multiplexing_cannot_place_every_model() -> None:
    wl = WorkloadConfig(num_models=24, rate_per_model=0.05, duration_s=60.0)
    cfg = SimConfig(policy=PolicyName.STATIC, workload=wl, pool=PoolConfig(num_gpus=4))
    sim = Simulation(cfg)
    res = sim.run()
    unplaced = set(sim.policy.unplaced)
    assert len(unplaced) > 0
    for g in sim.policy.gpus:  # weights fit in memory minus the KV reserve
        assert sum(sim.ctx.specs[m].weight_gb for m in g.resident) <= 80 * 0.75
    rejected = {r for _, kind, _, _, r in sim.log if kind == "reject"}
    assert rejected and all(sim.ledger.model[r] in unplaced for r in rejected)
    assert all(sim.ledger.attainment(r, res.end_time_s) == 0.0 for r in rejected)
    assert res.finished == res.num_requests - len(rejected)
    assert res.switches == 0


def test_partial_and_empty_results() -> None:
    sim = Simulation(SimConfig(workload=WorkloadConfig(num_models=4, duration_s=60.0)))
    empty = sim.result()
    assert math.isnan(empty.attainment) and empty.events == 0
    sim.advance(until=30.0)
    part = sim.result()
    assert part.end_time_s == 30.0 and 0 < part.finished < part.num_requests
    assert 0.0 <= part.attainment <= 1.0
    sim.advance(until=10.0)  # going back does nothing
    assert sim.now == 30.0
    final = sim.run()
    assert final.finished == final.num_requests and final.end_time_s > 60.0
