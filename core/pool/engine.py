"""The discrete-event loop of the GPU-pool simulator, steppable for live views.

State changes happen only at events. Completions the policy schedules live in a heap of
``(time, priority, seq, kind, gpu, version)`` with a per-simulation counter ``seq`` (ties
resolve in scheduling order, so the same seed gives the same event log bit for bit);
arrivals are a presorted stream merged with the heap (at equal times completions go first).
Handlers return new events. ``advance(until=t)`` processes everything due by ``t`` and returns
the events that happened plus a ``Snapshot`` for drawing; ``run()`` goes to the end and
returns a ``SimResult``. Randomness comes only from the Generator passed in.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass

import numpy as np

from core.pool.artifact import artifact_timing
from core.pool.catalogue import gpu_spec, model_spec
from core.pool.config import SimConfig
from core.pool.latency import latency_model
from core.pool.ledger import Ledger
from core.pool.policies import GPUView, SimContext, policy_class
from core.pool.results import RunState, SimResult, summarize
from core.pool.validation import validate_config, validate_trace
from core.pool.workload import Trace, generate_trace


@dataclass(frozen=True)
class SimEvent:
    """Something a viewer may draw: arrival, first_token, switch_start, switch_done, preempt,
    slo_miss, finish, reject (static multiplexing: the model is placed nowhere), timeout
    (ServerlessLLM: no first token within its timeout, the request is dropped)."""

    time: float  # simulated seconds
    kind: str  # see above
    gpu: int  # GPU index, -1 when not tied to a GPU
    model: str | None  # market model name
    request: int  # request id (index in the trace), -1 when none


@dataclass(frozen=True)
class ModelView:
    """One market model at a snapshot."""

    index: int  # position in the trace's model list
    name: str  # market model name
    model_type: str  # catalogue model serving it
    queued: int  # requests waiting (not yet in a running batch)
    in_system: int  # requests arrived and not finished
    active: bool  # in_system > 0 (Theorem 3.1's "active")


@dataclass(frozen=True)
class Snapshot:
    """The pool at one instant, for a live view."""

    time: float  # simulated seconds
    gpus: tuple[GPUView, ...]  # per GPU: model, phase, batch, waiting, switches
    models: tuple[ModelView, ...]  # per market model: queue and activity
    arrived: int  # requests arrived so far
    finished: int  # requests completed so far
    in_system: int  # arrived - finished
    active_models: int  # models with ≥ 1 request in the system
    switches: int  # model loads so far, all GPUs
    tokens: int  # output tokens produced so far (a decode segment counts when it completes)
    attainment: float  # mean attainment of requests that left (finished or failed; nan if none)
    done: bool  # nothing left to simulate
    failed: int = 0  # requests dropped before a first token (in_system excludes them)


class Simulation:
    """One run of one policy on one trace. Not thread-safe; create one per session."""

    def __init__(
        self, config: SimConfig, rng: np.random.Generator | None = None, trace: Trace | None = None
    ) -> None:
        validate_config(config)
        self.config = config
        self.rng = rng if rng is not None else np.random.default_rng(config.seed)
        self.trace = trace if trace is not None else generate_trace(config.workload, self.rng)
        validate_trace(config, self.trace)
        self.log: list | None = [] if config.record_events else None
        self.ledger = Ledger(self.trace, config.slo, self.log)
        gpu = gpu_spec(config.pool.gpu)
        specs = [model_spec(t) for t in self.trace.model_types]
        lat = {t: latency_model(t, gpu.name) for t in set(self.trace.model_types)}
        if config.artifact_timing:
            specs, lat = artifact_timing(specs, lat, gpu.name)
        self.ctx = SimContext(
            config=config,
            trace=self.trace,
            ledger=self.ledger,
            log=self.log,
            gpu=gpu,
            specs=specs,
            latency=[lat[t] for t in self.trace.model_types],
            kv_per_token=[s.kv_bytes_per_token for s in specs],
            rng=self.rng,
        )
        self.policy = policy_class(config.policy)(self.ctx)
        self.now = 0.0
        self.stop_time = float(self.trace.arrival_s[-1]) + config.drain_s
        self.wall_s = 0.0
        self.events_processed = 0
        self.last_event_time = 0.0
        self._heap: list[tuple[float, int, int, int, int, int]] = []
        self._seq = 0
        self._arrivals: list[float] = self.trace.arrival_s.tolist()
        self._next_arrival = 0
        self._log_pos = 0
        self._push(self.policy.start())

    def _push(self, events: list) -> None:
        for t, kind, target, version in events:
            self._seq += 1
            heapq.heappush(self._heap, (t, kind, self._seq, kind, target, version))

    @property
    def done(self) -> bool:
        """True once every request finished or the drain limit passed."""
        idle = not self._heap and self._next_arrival >= len(self._arrivals)
        return idle or self.now >= self.stop_time

    def _run(self, until: float) -> None:
        """Process every event due at or before ``until`` (the hot loop)."""
        heap, arrivals = self._heap, self._arrivals
        n, i, seq = len(arrivals), self._next_arrival, self._seq
        pop, push = heapq.heappop, heapq.heappush
        on_event, on_arrival = self.policy.on_event, self.policy.on_arrival
        arrive = self.ledger.arrive
        stop = min(until, self.stop_time)
        inf = math.inf
        count = 0
        t = self.now
        # At equal times events go first; the artifact's simulator (SimPy) takes the arrivals
        # first (their timeouts were scheduled first), within 0.1 µs of float round-off.
        lead = 1e-7 if self.config.artifact_timing else 0.0
        while True:
            ta = arrivals[i] if i < n else inf
            if heap and heap[0][0] <= ta - lead:
                if heap[0][0] > stop:
                    break
                t, _, _, kind, target, version = pop(heap)
                new = on_event(t, kind, target, version)
            else:
                if ta > stop:
                    break
                t = ta
                arrive(i, t)
                new = on_arrival(t, i)
                i += 1
            count += 1
            for et, ek, eg, ev in new:
                seq += 1
                push(heap, (et, ek, seq, ek, eg, ev))
        self._next_arrival, self._seq = i, seq
        self.events_processed += count
        if count:  # a slice with no event (a live frame, a page's step) moves no event time
            self.last_event_time = max(self.last_event_time, t)
        if until != inf:
            self.now = max(self.now, min(until, self.stop_time))
        elif heap or i < n:
            self.now = max(self.now, self.stop_time)  # stopped at the drain limit
        else:
            self.now = max(self.now, t)

    def advance(self, until: float | None = None) -> tuple[list[SimEvent], Snapshot]:
        """Simulate up to time ``until`` (None: to the end); return new events and a snapshot."""
        start = time.perf_counter()
        self._run(math.inf if until is None else float(until))
        self.wall_s += time.perf_counter() - start
        return self.new_events(), self.snapshot()

    def new_events(self) -> list[SimEvent]:
        """Events logged since the previous call (empty when the log is off)."""
        if self.log is None:
            return []
        names = self.trace.model_names
        out = [
            SimEvent(t, kind, gpu, names[m] if m >= 0 else None, r)
            for t, kind, gpu, m, r in self.log[self._log_pos :]
        ]
        self._log_pos = len(self.log)
        return out

    def snapshot(self) -> Snapshot:
        led, trace = self.ledger, self.trace
        queued = self.policy.queued_by_model()
        models = tuple(
            ModelView(m, trace.model_names[m], trace.model_types[m], queued[m],
                      led.per_model[m], led.per_model[m] > 0)
            for m in range(trace.num_models)
        )  # fmt: skip
        left = led.finished + led.failed  # a dropped request counts, with attainment 0
        att = led.attainment_sum / left if left else math.nan
        return Snapshot(
            time=self.now,
            gpus=tuple(self.policy.views()),
            models=models,
            arrived=self._next_arrival,
            finished=led.finished,
            in_system=led.in_system,
            active_models=led.active_models,
            switches=sum(g.switches for g in self.policy.gpus),
            tokens=led.tokens,
            attainment=att,
            done=self.done,
            failed=led.failed,
        )

    def run(self) -> SimResult:
        """Simulate to the end and summarise."""
        self.advance(None)
        return self.result()

    def state(self) -> RunState:
        """What the summary reads: the run's config, trace, ledger, GPUs and counters."""
        return RunState(
            config=self.config,
            trace=self.trace,
            ledger=self.ledger,
            gpus=tuple(self.policy.gpus),
            gpus_used=self.policy.gpus_used(),
            arrived=self._next_arrival,
            now=self.now,
            last_event_time=self.last_event_time,
            done=self.done,
            wall_s=self.wall_s,
            events=self.events_processed,
        )

    def result(self) -> SimResult:
        """A ``SimResult`` of everything simulated so far."""
        return summarize(self.state())
