"""Figures of the GPU-pool dashboard: the sweep's goodput marks and the live Gantt chart."""

from __future__ import annotations

import math

import numpy as np

from core.pool import PolicyName, PoolConfig, SimConfig, Simulation, WorkloadConfig
from core.pool.live import LiveHistory
from core.viz.pool import sweep_figure
from core.viz.pool_live import gantt_figure


def test_sweep_figure_marks_each_goodput():
    fig = sweep_figure({"aegaeon": [(0.1, 1.0), (0.2, 0.8)]}, {"aegaeon": 0.15}, "rate")
    marks = [t for t in fig.data if t.name == "aegaeon goodput"]
    assert marks[0].x == (0.15,) and marks[0].y == (0.9,)
    assert not math.isnan(fig.layout.yaxis.range[1])


def test_gantt_draws_each_segment_of_the_window_once():
    cfg = SimConfig(
        workload=WorkloadConfig(num_models=8, rate_per_model=0.1, duration_s=60.0),
        pool=PoolConfig(num_gpus=4),
        policy=PolicyName.AEGAEON,
    )
    sim, hist = Simulation(cfg), LiveHistory()
    for t in np.arange(0.5, 20.5, 0.5):
        events, snap = sim.advance(until=float(t))
        hist.record(snap, events, [0.1] * 8)
    fig = gantt_figure(hist.segments, [f"GPU {i}" for i in range(4)], {}, snap.time)
    assert fig.layout.xaxis.title.text == "simulated time (s)"
    assert sum(len(t.x) for t in fig.data if t.x != (None,)) == len(
        [s for s in hist.segments if s[4] > max(0.0, snap.time - 60) and s[4] > s[3]]
    )
