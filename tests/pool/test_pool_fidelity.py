"""The paper's qualitative results on its workload shapes (small, fast versions).

Theorem 3.1's E[m]; dedicated ≥ every pooling policy at equal load; Aegaeon serves many
models per GPU and keeps TTFT bounded where request-level scaling blocks head-of-line; and
the paper's headline (≥ 2× request-level's goodput), which this simulator does NOT reproduce
with the artifact-fitted H100 latencies — kept as a strict xfail, see docs/pool-results.md.
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


RATES = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4]


def _sweep40() -> dict[PolicyName, list[SweepPoint]]:
    base = SimConfig(workload=WorkloadConfig(num_models=40, duration_s=120.0),
                     pool=PoolConfig(num_gpus=16), record_events=False)  # fmt: skip
    pts = sweep(base, RATES, [PolicyName.AEGAEON, PolicyName.REQUEST_FCFS], processes=1)
    return {pol: [p for p in pts if p.policy is pol]
            for pol in (PolicyName.AEGAEON, PolicyName.REQUEST_FCFS)}  # fmt: skip


def test_aegaeon_degrades_more_gently_than_request_level() -> None:
    """On the paper's 40-model / 16-GPU shape, past request-level's knee (≈ 0.2 req/s per
    model, where active models outnumber GPUs) token-level scheduling keeps attainment
    higher, by a growing margin."""
    pts = _sweep40()
    aeg = [p.result.attainment for p in pts[PolicyName.AEGAEON]]
    req = [p.result.attainment for p in pts[PolicyName.REQUEST_FCFS]]
    assert aeg[0] == req[0] == 1.0
    for i in (-2, -1):  # 0.3 and 0.4 req/s per model
        assert aeg[i] >= req[i] + 0.08
    assert aeg[-1] - req[-1] > aeg[-2] - req[-2]


@pytest.mark.xfail(
    strict=True,
    reason="paper: Aegaeon sustains 2-2.5x request-level's rate at 90% attainment; with "
    "artifact-fitted H100 latencies (batch-1 decode ~10 ms/token), 16 GB/s switches and a "
    "continuous-batching request-level baseline we measure ~1.1x (docs/pool-results.md)",
)
def test_paper_headline_goodput_ratio() -> None:
    pts = _sweep40()
    aeg = goodput_from_points(pts[PolicyName.AEGAEON])
    req = goodput_from_points(pts[PolicyName.REQUEST_FCFS])
    assert aeg >= 2.0 * req
