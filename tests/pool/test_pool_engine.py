"""Event loop: determinism, conservation, Little's law, live stepping, snapshots."""

from __future__ import annotations

import numpy as np
import pytest

from core.pool import (
    AegaeonConfig,
    ArrivalProcess,
    PolicyName,
    PoolConfig,
    Popularity,
    SimConfig,
    Simulation,
    WorkloadConfig,
)
from core.pool.gpu import PHASE_NAMES

ALL = list(PolicyName)


def small(policy: PolicyName, seed: int = 0, rate: float = 0.2, models: int = 6) -> SimConfig:
    wl = WorkloadConfig(num_models=models, rate_per_model=rate, duration_s=60.0)
    return SimConfig(policy=policy, workload=wl, pool=PoolConfig(num_gpus=4), seed=seed)


@pytest.mark.parametrize("policy", ALL)
def test_same_seed_same_event_log(policy: PolicyName) -> None:
    a = Simulation(small(policy, seed=3))
    b = Simulation(small(policy, seed=3))
    ra, rb = a.run(), b.run()
    assert a.log == b.log and len(a.log) > 100
    assert ra.attainment == rb.attainment and ra.switches == rb.switches
    c = Simulation(small(policy, seed=4))
    c.run()
    assert c.log != a.log


@pytest.mark.parametrize("policy", ALL)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conservation_and_littles_law(policy: PolicyName, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    rate = float(rng.uniform(0.05, 0.6))
    sim = Simulation(small(policy, seed=seed, rate=rate, models=int(rng.integers(2, 9))))
    res = sim.run()
    led, n = sim.ledger, len(sim.trace)
    finishes = [e[4] for e in sim.log if e[1] == "finish"]
    timeouts = [e[4] for e in sim.log if e[1] == "timeout"]  # ServerlessLLM only
    assert not timeouts or policy is PolicyName.SERVERLESSLLM
    # Every request leaves exactly once: it finishes, or it times out without a token.
    assert sorted(finishes + timeouts) == list(range(n))
    expected = [0 if r in set(timeouts) else o for r, o in enumerate(led.output)]
    assert led.done == expected  # every token produced exactly once, none for a dropped one
    assert sum(led.tbt_weights) == sum(max(0, o - 1) for o in expected)
    assert led.in_system == 0 and led.active_models == 0
    assert res.finished == n - len(timeouts) and res.failed == led.failed == len(timeouts)
    # Little's law over [0, last departure]: L = λ·W with λ = n / horizon, W over every
    # departure (a timed-out request's sojourn ends when it is dropped).
    horizon = led.mark
    leave = np.where(np.isnan(led.finish), led.failed_at, led.finish)
    sojourn = float(np.mean(leave - sim.trace.arrival_s))
    assert res.mean_in_system == pytest.approx(n / horizon * sojourn, rel=1e-9)
    if not timeouts:
        assert res.mean_sojourn_s == pytest.approx(sojourn, rel=1e-12)
    # GPU time is conserved: phases add up to the elapsed time on every GPU.
    for g in res.per_gpu:
        total = g["idle_s"] + g["prefill_s"] + g["decode_s"] + g["switching_s"]
        assert total == pytest.approx(res.end_time_s, abs=1e-6)
    assert 0.0 <= res.strict_attainment <= res.attainment <= 1.0
    first, served = np.array(led.first), np.isnan(led.failed_at)
    assert np.all(np.isnan(first) == ~served)
    assert np.all(first[served] >= sim.trace.arrival_s[served])
    assert np.all(np.array(led.finish)[served] >= first[served])


@pytest.mark.parametrize("policy", ALL)
def test_stepping_equals_one_shot(policy: PolicyName) -> None:
    one = Simulation(small(policy))
    one.run()
    live = Simulation(small(policy))
    seen = []
    t = 0.0
    while not live.done:
        t += 2.5
        events, snap = live.advance(until=t)
        seen.extend(events)
        assert snap.time == pytest.approx(min(t, live.stop_time))
        assert all(e.time <= snap.time + 1e-9 for e in events)
        assert snap.in_system == snap.arrived - snap.finished - snap.failed
        assert snap.tokens == sum(live.ledger.done)
        assert snap.active_models == sum(m.active for m in snap.models)
        state = live.state()  # what the summary reads, from the public snapshot's numbers
        assert (state.arrived, state.now, state.done) == (snap.arrived, snap.time, snap.done)
        assert state.gpus_used == live.policy.gpus_used() and len(state.gpus) == len(snap.gpus)
        for g in snap.gpus:
            assert g.phase in PHASE_NAMES
            for r in g.batch:
                assert live.ledger.done[r] < live.ledger.output[r] or g.phase == "prefill"
    assert live.log == one.log
    assert [(e.time, e.kind, e.request) for e in seen] == [(e[0], e[1], e[4]) for e in one.log]
    assert live.result().attainment == one.result().attainment


def test_snapshot_shows_work_in_progress() -> None:
    sim = Simulation(small(PolicyName.AEGAEON, rate=0.5))
    _, snap = sim.advance(until=30.0)
    roles = {g.role for g in snap.gpus}
    assert roles == {"prefill", "decode"}
    assert any(g.batch for g in snap.gpus)
    assert sum(m.queued for m in snap.models) <= snap.in_system
    assert snap.switches > 0 and not snap.done


def test_event_kinds_and_names() -> None:
    sim = Simulation(small(PolicyName.AEGAEON, rate=0.6))
    events, _ = sim.advance(None)
    kinds = {e.kind for e in events}
    assert {"arrival", "first_token", "switch_start", "switch_done", "finish"} <= kinds
    firsts = [e.request for e in events if e.kind == "first_token"]
    assert sorted(firsts) == list(range(len(sim.trace)))
    assert all(e.model in sim.trace.model_names for e in events if e.model is not None)


def test_drain_limit_stops_and_scores_unfinished() -> None:
    cfg = small(PolicyName.REQUEST_FCFS, rate=2.0, models=8).replace(drain_s=0.0)
    sim = Simulation(cfg.replace(pool=PoolConfig(num_gpus=1)))
    res = sim.run()
    assert sim.done and res.finished < res.num_requests
    assert res.end_time_s <= float(sim.trace.arrival_s[-1]) + 1e-9
    assert 0.0 <= res.attainment < 1.0


def test_events_off_gives_same_result() -> None:
    a = Simulation(small(PolicyName.AEGAEON)).run()
    b = Simulation(small(PolicyName.AEGAEON).replace(record_events=False)).run()
    assert a.attainment == b.attainment and a.switches == b.switches


@pytest.mark.parametrize("seed", range(20))
def test_random_configs_conserve_requests(seed: int) -> None:
    """Awkward corners (batch size 1, almost no KV memory, group cap 1, bursts, Gamma
    arrivals, mixed models and GPUs): every placed request still finishes exactly once."""
    rng = np.random.default_rng(seed)
    wl = WorkloadConfig(
        num_models=int(rng.integers(1, 10)), rate_per_model=float(rng.uniform(0.05, 1.0)),
        duration_s=float(rng.uniform(5, 40)), popularity=list(Popularity)[int(rng.integers(3))],
        arrival=list(ArrivalProcess)[int(rng.integers(2))], cv=float(rng.uniform(0.5, 4)),
        burst_factor=float(rng.choice([1.0, 3.0])), burst_period_s=20.0, burst_length_s=5.0,
        output_scale=float(rng.choice([0.2, 1.0])),
        model_mix=(("qwen2.5-7b", 1.0), ("llama2-13b", float(rng.integers(3))), ("qwen1.5-1.8b", 1.0)),
    )  # fmt: skip
    pool = PoolConfig(
        gpu=str(rng.choice(["H100", "A100", "H20"])), num_gpus=int(rng.integers(2, 6)),
        max_batch_size=int(rng.choice([1, 2, 128])), kv_memory_fraction=float(rng.choice([0.02, 0.9])),
    )  # fmt: skip
    cfg = SimConfig(
        policy=list(PolicyName)[seed % len(PolicyName)], workload=wl, pool=pool, seed=seed, drain_s=3000.0,
        aegaeon=AegaeonConfig(prefill_group_cap=int(rng.integers(1, 9))),
    )  # fmt: skip
    sim = Simulation(cfg)
    res = sim.run()
    rejected = {r for _, kind, _, _, r in sim.log if kind in ("reject", "timeout")}
    finishes = [r for _, kind, _, _, r in sim.log if kind == "finish"]
    assert len(finishes) == len(set(finishes)) == res.finished == len(sim.trace) - len(rejected)
    for r in range(len(sim.trace)):
        expected = 0 if r in rejected else sim.ledger.output[r]
        assert sim.ledger.done[r] == expected
