"""The live run: sampled GPU segments, series and feed, and a run stepped frame by frame."""

from __future__ import annotations

import numpy as np
import pytest

from core.pool import PolicyName, PoolConfig, SimConfig, Simulation, WorkloadConfig
from core.pool.live import LiveHistory, LiveRun
from core.pool.workload import measured_rates

SMALL = SimConfig(
    workload=WorkloadConfig(num_models=8, rate_per_model=0.1, duration_s=60.0),
    pool=PoolConfig(num_gpus=4),
    policy=PolicyName.AEGAEON,
)


def test_live_history_merges_samples_into_segments():
    sim = Simulation(SMALL)
    hist = LiveHistory()
    rates = [0.1] * 8
    for t in np.arange(0.5, 20.5, 0.5):
        events, snap = sim.advance(until=float(t))
        hist.record(snap, events, rates)
    gpus = {s[0] for s in hist.segments}
    assert gpus == {0, 1, 2, 3}
    for g in gpus:  # each GPU's segments tile [0, 20] without gaps or overlaps
        segs = sorted((s for s in hist.segments if s[0] == g), key=lambda s: s[3])
        assert segs[0][3] == 0.0 and segs[-1][4] == 20.0
        assert all(a[4] == b[3] for a, b in zip(segs, segs[1:], strict=False))
    assert hist.counts["arrival"] == snap.arrived
    assert [p[0] for p in hist.series["queued"]] == list(np.arange(0.5, 20.5, 0.5))
    assert hist.tokens[-1] == (20.0, float(snap.tokens))


def test_measured_rates_count_each_models_requests():
    trace = Simulation(SMALL).trace
    rates = measured_rates(trace)
    counts = np.bincount(trace.model, minlength=8)
    assert rates == pytest.approx((counts / trace.duration_s).tolist())


def test_live_run_steps_to_the_same_result_as_one_run():
    live = LiveRun.start(Simulation(SMALL), SMALL)
    assert live.snap is not None and live.snap.time == 0.0
    assert live.gpu_labels[0].startswith("GPU 0 · ")
    live.step(10.0, max_samples=4)
    assert live.snap.time == pytest.approx(10.0) and live.frames == 1
    assert len(live.history.series["queued"]) == 1 + 4  # t = 0 and four samples
    live.run_to_end()
    assert live.sim.done and live.snap.done
    assert live.sim.result().attainment == Simulation(SMALL).run().attainment
