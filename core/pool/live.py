"""The live run: a simulation stepped frame by frame, and what its figures draw.

``LiveHistory`` turns the simulator's snapshots and events into plain series (Aegaeon,
SOSP'25 §3 and §6): per-GPU segments for a Gantt chart, queue length, tokens/s, attainment
and active models against Theorem 3.1's E[m] = Σᵢ(1 − e^(−λᵢT)), and a feed of notable
events. ``LiveRun`` is one session's running simulation with its history and frame pacing.
No figure is built here: ``core.viz.pool_live`` draws these.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.pool.config import SimConfig
from core.pool.engine import SimEvent, Simulation, Snapshot
from core.pool.results import SimResult
from core.pool.workload import measured_rates

NOTABLE = frozenset({"switch_start", "preempt", "slo_miss", "reject", "timeout"})

# A Gantt segment: [gpu index, model name or None, phase, start s, end s] (mutable: the
# open segment of a GPU grows while its state holds).
Segment = list[Any]


@dataclass
class FeedItem:
    """One notable event for the live feed."""

    time: float  # simulated seconds
    kind: str  # switch_start, preempt, slo_miss, reject, timeout
    text: str  # what happened, in words


@dataclass
class LiveHistory:
    """What the live figures draw, fed with ``record(snapshot, events, rates)`` per sample.

    GPU states are sampled: a segment ``[gpu, model, phase, start, end]`` covers the time
    between two samples in which the GPU was seen in that state; a switching GPU is drawn in
    the colour of the model it is loading (from the ``switch_start`` events).
    """

    keep_s: float = 120.0  # drop segments that ended longer ago than this
    max_feed: int = 200  # notable events kept
    segments: list[Segment] = field(default_factory=list)
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    feed: deque[FeedItem] = field(default_factory=deque)
    loading: dict[int, str | None] = field(default_factory=dict)  # GPU -> model being loaded
    open_seg: dict[int, Segment] = field(default_factory=dict)  # GPU -> its current segment
    last_time: float = 0.0
    tokens: list[tuple[float, float]] = field(default_factory=list)  # (t, tokens so far)
    arrivals: dict[int, float] = field(default_factory=dict)  # request -> arrival (unfinished)
    sojourn_sum: float = 0.0
    sojourn_n: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # events by kind

    def record(self, snap: Snapshot, events: Sequence[SimEvent], rates: Sequence[float]) -> None:
        """Add one sample: a ``Snapshot``, the ``SimEvent``s since the last one, and each
        model's mean arrival rate (req/s, for Theorem 3.1)."""
        for ev in events:
            self.counts[ev.kind] = self.counts.get(ev.kind, 0) + 1
            if ev.kind == "switch_start":
                self.loading[ev.gpu] = ev.model
            elif ev.kind == "arrival":
                self.arrivals[ev.request] = ev.time
            elif ev.kind == "finish" and ev.request in self.arrivals:
                self.sojourn_sum += ev.time - self.arrivals.pop(ev.request)
                self.sojourn_n += 1
            if ev.kind in NOTABLE:
                self.feed.append(FeedItem(ev.time, ev.kind, describe_event(ev)))
        while len(self.feed) > self.max_feed:
            self.feed.popleft()
        t0, t = self.last_time, snap.time
        for g in snap.gpus:
            model = self.loading.get(g.index) if g.phase == "switching" else g.model
            cur = self.open_seg.get(g.index)
            if cur is not None and cur[1] == model and cur[2] == g.phase:
                cur[4] = t
            elif t > t0 or cur is None:
                seg = [g.index, model, g.phase, t0, t]
                self.segments.append(seg)
                self.open_seg[g.index] = seg
        self.segments = [s for s in self.segments if s[4] >= t - self.keep_s]
        self.last_time = t
        self._series(snap, rates)

    def follow(
        self,
        sim: Simulation,
        seconds: float,
        rates: Sequence[float],
        max_samples: int = 24,
        resolution_s: float = 0.1,
    ) -> Snapshot:
        """Advance ``sim`` by ``seconds`` of simulated time in up to ``max_samples`` steps of
        at least ``resolution_s``, recording each; returns the last snapshot."""
        n = max(1, min(max_samples, math.ceil(seconds / resolution_s)))
        end = sim.now + seconds
        for k in range(1, n + 1):
            events, snap = sim.advance(until=sim.now + (end - sim.now) / (n - k + 1))
            self.record(snap, events, rates)
            if snap.done:
                break
        return snap  # n ≥ 1: the loop ran

    def _series(self, snap: Snapshot, rates: Sequence[float]) -> None:
        t, tokens_total = snap.time, float(snap.tokens)
        self.tokens.append((t, tokens_total))
        while len(self.tokens) > 2 and self.tokens[1][0] <= t - 5.0:
            self.tokens.pop(0)  # keep a 5 s window for the rolling rate
        (ta, ka) = self.tokens[0]
        tps = (tokens_total - ka) / (t - ta) if t > ta else 0.0
        mean_t = self.sojourn_sum / self.sojourn_n if self.sojourn_n else math.nan
        em = sum(1.0 - math.exp(-r * mean_t) for r in rates) if self.sojourn_n else math.nan
        for key, value in (
            ("queued", float(sum(m.queued for m in snap.models))),
            ("tokens_per_s", tps),
            ("slo_attainment", snap.attainment),
            ("active_models", float(snap.active_models)),
            ("expected_active_models", em),
        ):
            self.series.setdefault(key, []).append((t, value))


def describe_event(ev: SimEvent) -> str:
    """A notable event in words, for the feed."""
    if ev.kind == "switch_start":
        return f"GPU {ev.gpu} starts loading {ev.model}"
    if ev.kind == "preempt":
        return f"GPU {ev.gpu}: {ev.model}'s quota expired, KV cache swapped out"
    if ev.kind == "slo_miss":
        return f"request #{ev.request} ({ev.model}) missed a token deadline"
    if ev.kind == "timeout":
        return f"request #{ev.request} ({ev.model}) got no first token before its timeout: dropped"
    return f"request #{ev.request} ({ev.model}) rejected: the model is placed on no GPU"


@dataclass
class LiveRun:
    """One session's live simulation (kept in ``st.session_state``, never shared)."""

    sim: Simulation  # advanced frame by frame
    config: SimConfig  # the config it started with
    history: LiveHistory
    rates: list[float]  # measured arrival rate per model (req/s), for E[m]
    gpu_labels: list[str]  # "GPU 0 · prefill", one per GPU row of the timeline
    model_index: dict[str, int]  # model name -> colour index
    snap: Snapshot | None = None  # latest snapshot (set by ``start``)
    result: SimResult | None = None  # the result once the run is done
    run_id: int | None = None  # its id in the run store, once saved
    frames: int = 0  # frames stepped so far
    last_wall: float | None = None  # monotonic time of the previous frame while playing

    @classmethod
    def start(cls, sim: Simulation, config: SimConfig) -> LiveRun:
        """Wrap a fresh simulation and record its state at t = 0."""
        events, snap = sim.advance(until=0.0)
        rates = measured_rates(sim.trace)
        live = cls(
            sim,
            config,
            LiveHistory(),
            rates,
            [f"GPU {g.index} · {g.role}" for g in snap.gpus],
            {n: i for i, n in enumerate(sim.trace.model_names)},
        )
        live.history.record(snap, events, rates)
        live.snap = snap
        return live

    def step(self, sim_seconds: float, max_samples: int = 24) -> None:
        """Advance ``sim_seconds`` of simulated time, sampled up to ``max_samples`` times."""
        self.snap = self.history.follow(self.sim, sim_seconds, self.rates, max_samples)
        self.frames += 1

    def play_frame(self, speed: float, now: float, frame_s: float) -> None:
        """Advance by ``speed`` × the wall seconds since the last frame (at most two frames'
        worth), so a slow browser sees fewer frames, not a slower simulation."""
        last, self.last_wall = self.last_wall, now
        wall = frame_s if last is None else min(max(now - last, 0.0), 2 * frame_s)
        self.step(speed * wall)

    def run_to_end(self) -> None:
        """Simulate the rest of the run (arrivals and the drain) in one go."""
        end = self.sim.trace.duration_s + self.config.drain_s
        self.step(end - self.sim.now + 1.0, max_samples=200)
