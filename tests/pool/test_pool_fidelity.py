"""The paper's qualitative results on its workload shapes (small, fast versions).

Theorem 3.1's E[m]; dedicated ≥ every pooling policy at equal load; Aegaeon serves many
models per GPU and keeps TTFT bounded where request-level scaling blocks head-of-line; the
paper's headline on its 40-model rate sweep (Figure 11(c): ≥ 2× request-level's sustainable
per-model rate at 90% attainment, scored with the artifact's metric); and the same ratio on
the number-of-models sweep at 0.1 req/s (Figure 11(a)) against the baseline the paper plots
there, the artifact's simulated ServerlessLLM (binding on arrival) — our late-binding,
continuous-batching request-level baseline is stronger and is shown next to it
(docs/pool-results.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from core.pool import PolicyName, PoolConfig, SimConfig, Simulation, WorkloadConfig
from core.pool.runner import SweepPoint, goodput_from_points, sweep


@pytest.mark.parametrize(("models", "rate", "seed"), [(20, 0.05, 0), (40, 0.02, 1)])
def test_active_models_match_theorem_3_1(models: int, rate: float, seed: int) -> None:
    """Dedicated GPUs = M/G/∞ per model: P(active) = 1 − e^(−λT), so E[m] = M(1 − e^(−λT))."""
    wl = WorkloadConfig(num_models=models, rate_per_model=rate, duration_s=4000.0)
    cfg = SimConfig(policy=PolicyName.DEDICATED, workload=wl, seed=seed, record_events=False)
    res = Simulation(cfg).run()
    theory = models * (1 - np.exp(-rate * res.mean_sojourn_s))
    assert res.mean_active_models == pytest.approx(theory, rel=0.04)
    assert res.expected_active_models == pytest.approx(theory, rel=0.02)
    assert res.gpus_used == models and res.switches == 0


def test_dedicated_is_an_upper_bound_at_equal_load() -> None:
    wl = WorkloadConfig(num_models=12, rate_per_model=0.4, duration_s=90.0)
    results = {
        p: Simulation(
            SimConfig(policy=p, workload=wl, pool=PoolConfig(num_gpus=4), record_events=False)
        ).run()  # fmt: skip
        for p in PolicyName
    }
    best = results[PolicyName.DEDICATED]
    assert best.attainment == pytest.approx(1.0, abs=1e-3)
    for p, r in results.items():
        assert best.attainment >= r.attainment - 1e-9, p
        assert best.ttft_p90_s <= r.ttft_p90_s + 1e-9, p
    assert min(r.attainment for r in results.values()) < 0.95  # the pool is under pressure


def _head_of_line(policy: PolicyName) -> tuple[Simulation, object]:
    wl = WorkloadConfig(num_models=20, rate_per_model=0.3, duration_s=120.0)
    cfg = SimConfig(policy=policy, workload=wl, pool=PoolConfig(num_gpus=8), record_events=False)
    sim = Simulation(cfg)
    return sim, sim.run()


def test_aegaeon_bounds_ttft_where_request_level_blocks() -> None:
    """§3: request-level scaling holds a GPU per active model, so with more active models
    than GPUs new requests wait behind whole requests of other models (head-of-line
    blocking); token-level scheduling keeps the first token within the TTFT SLO."""
    _, aeg = _head_of_line(PolicyName.AEGAEON)
    _, req = _head_of_line(PolicyName.REQUEST_FCFS)
    assert aeg.ttft_p99_s <= 10.0 < req.ttft_p99_s
    assert req.ttft_p99_s >= 1.5 * aeg.ttft_p99_s
    assert req.mean_active_models > 8  # more active models than GPUs
    assert aeg.attainment >= req.attainment


def test_aegaeon_serves_several_models_per_gpu() -> None:
    sim = Simulation(SimConfig(workload=WorkloadConfig(num_models=20, rate_per_model=0.2,
                                                       duration_s=60.0), pool=PoolConfig(num_gpus=8)))  # fmt: skip
    most = 0
    t = 0.0
    while not sim.done:
        t += 5.0
        sim.advance(t)
        most = max(most, max(len({b.model for b in g.batches}) for g in sim.policy.decode))
    res = sim.result()
    assert most >= 3  # at one instant a decode GPU time-shares ≥ 3 models
    assert res.peak_concurrent_models_per_gpu >= most
    decode = [g for g in res.per_gpu if g["role"] == "decode"]
    assert min(g["models"] for g in decode) >= 3
    assert res.models_per_gpu > 3 and res.switches > 0


RATES = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7]  # Figure 11(c)'s range


def _sweep40() -> dict[PolicyName, list[SweepPoint]]:
    base = SimConfig(workload=WorkloadConfig(num_models=40, duration_s=120.0),
                     pool=PoolConfig(num_gpus=16), record_events=False)  # fmt: skip
    pts = sweep(base, RATES, [PolicyName.AEGAEON, PolicyName.REQUEST_FCFS], processes=1)
    return {pol: [p for p in pts if p.policy is pol]
            for pol in (PolicyName.AEGAEON, PolicyName.REQUEST_FCFS)}  # fmt: skip


def _at(points: list[SweepPoint], rate: float) -> float:
    return next(p.result.attainment for p in points if p.rate_per_model == rate)


def test_aegaeon_degrades_more_gently_than_request_level() -> None:
    """On the paper's 40-model / 16-GPU shape, past request-level's knee (≈ 0.2 req/s per
    model, where active models outnumber GPUs) token-level scheduling keeps attainment
    higher, by a growing margin."""
    pts = _sweep40()
    aeg, req = pts[PolicyName.AEGAEON], pts[PolicyName.REQUEST_FCFS]
    assert _at(aeg, 0.05) == _at(req, 0.05) == 1.0
    for rate in (0.3, 0.4, 0.7):
        assert _at(aeg, rate) >= _at(req, rate) + 0.15, rate
    assert _at(aeg, 0.4) - _at(req, 0.4) > _at(aeg, 0.3) - _at(req, 0.3)


def test_paper_headline_goodput_ratio() -> None:
    """Figure 11(c): Aegaeon sustains ≥ 2× request-level's per-model arrival rate at 90%
    attainment (40 models, 16 GPUs; measured 0.675 vs 0.23 req/s per model here)."""
    pts = _sweep40()
    aeg = goodput_from_points(pts[PolicyName.AEGAEON])
    req = goodput_from_points(pts[PolicyName.REQUEST_FCFS])
    assert 0.15 < req < 0.3  # request-level's knee: active models ≈ GPUs
    assert aeg >= 2.0 * req


def _models_sustained(policy: PolicyName) -> float:
    """Models at 0.1 req/s each (16, 24, … 80) served with attainment ≥ 0.9, interpolated
    linearly between the last grid point above 0.9 and the first below (80 if none falls)."""
    prev = (0, 1.0)
    for models in range(16, 81, 8):
        wl = WorkloadConfig(num_models=models, rate_per_model=0.1, duration_s=120.0)
        cfg = SimConfig(policy=policy, workload=wl, pool=PoolConfig(num_gpus=16),
                        record_events=False)  # fmt: skip
        att = Simulation(cfg).run().attainment
        if att < 0.9:
            m0, a0 = prev
            return m0 + (models - m0) * (a0 - 0.9) / (a0 - att)
        prev = (models, att)
    return 80.0


def test_paper_headline_on_the_number_of_models() -> None:
    """Figure 11(a): Aegaeon serves ≥ 2× the models ServerlessLLM does at 0.1 req/s each —
    measured ≈ 68 vs ≈ 31 (2.2×; 2.15–2.5× over seeds 0–3 and 120/300-s runs) against the
    artifact-style baseline, the one the paper plots. Our stronger request-level variant
    (late binding to the first drained GPU, unbounded continuous batching) sustains ≈ 62 models,
    so against it the ratio is only ≈ 1.1×; it must still sit between the two."""
    aeg = _models_sustained(PolicyName.AEGAEON)
    sllm = _models_sustained(PolicyName.SERVERLESSLLM)
    req = _models_sustained(PolicyName.REQUEST_FCFS)
    assert aeg >= 2.0 * sllm
    assert sllm < req < aeg
