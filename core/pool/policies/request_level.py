"""Request-level auto-scaling (ServerlessLLM-like), the baseline Aegaeon §3 argues against.

A GPU loads one model and keeps it while that model has requests: new requests of the model
join its running batch (continuous batching); requests of other models wait in per-model
queues until some GPU drains completely, then that GPU switches to the next model — the
model whose queue head arrived first (FCFS) or whose head request needs the least work
(SRTF, with the response length known, i.e. an oracle). A drained GPU keeps its weights, so
a later request of the same model starts warm. Because a GPU is held until every request of
its model finishes, a busy pool blocks short jobs behind long ones (head-of-line blocking)
and needs about one GPU per active model — Theorem 3.1's E[m].
"""

from __future__ import annotations

from collections import deque

from core.pool.catalogue import kv_capacity_bytes
from core.pool.config import PolicyName
from core.pool.gpu import switch_seconds
from core.pool.policies.base import SWITCH_DONE, Event, Policy, SimContext
from core.pool.policies.unified import UnifiedEngine, UnifiedGPU


class RequestLevelFCFS(Policy):
    """One model per GPU at a time; a drained GPU takes the oldest waiting model."""

    name = PolicyName.REQUEST_FCFS

    def __init__(self, ctx: SimContext) -> None:
        super().__init__(ctx)
        self.engine = UnifiedEngine(ctx, self._refill, self._on_empty)
        self.queues: list[deque[int]] = [deque() for _ in range(ctx.trace.num_models)]
        self.serving: list[list[UnifiedGPU]] = [[] for _ in range(ctx.trace.num_models)]
        self.switch_s = [switch_seconds(s, ctx.config.switch) for s in ctx.specs]
        self.free: list[UnifiedGPU] = []  # drained GPUs, longest-idle first
        self.target: dict[int, int] = {}  # GPU index -> model being loaded
        self.loading = [0] * ctx.trace.num_models  # GPUs switching to each model

    def start(self) -> list[Event]:
        cfg = self.ctx.config.pool
        for i in range(cfg.num_gpus):
            g = UnifiedGPU(i, self.log, 0.0)
            self.gpus.append(g)
            self.free.append(g)
        return []

    # -- choosing work -------------------------------------------------------------------
    def _needs_gpu(self, m: int) -> bool:
        """Model ``m`` has queued requests that no loading or serving GPU will take."""
        q = self.queues[m]
        if not q or self.loading[m]:
            return False
        return not any(self.engine.can_admit(g, q[0]) for g in self.serving[m])

    def _pick_model(self) -> int:
        """The waiting model to load next (-1 if none): oldest queue head first."""
        best, best_t = -1, float("inf")
        arrival = self.ledger.arrival
        for m, q in enumerate(self.queues):
            if q and arrival[q[0]] < best_t and self._needs_gpu(m):
                best, best_t = m, arrival[q[0]]
        return best

    def _refill(self, g: UnifiedGPU, t: float) -> None:
        """Admit queued requests of g's model while they fit (continuous batching)."""
        m = g.loaded
        if m < 0 or g.index in self.target:
            return
        q = self.queues[m]
        eng = self.engine
        while q and eng.can_admit(g, q[0]):
            r = q.popleft()
            g.pending.append(r)
            g.kv_used += eng.need(r)
            g.count += 1
            g.served.add(m)

    def _assign(self, g: UnifiedGPU, m: int, t: float) -> list[Event]:
        """Point drained GPU ``g`` at model ``m``: warm start or switch."""
        self.free.remove(g)
        if g.loaded == m:
            g.peak_models = 1
            self.serving[m].append(g)
            self._refill(g, t)
            return self.engine.start(g, t)
        if g.loaded >= 0 and g in self.serving[g.loaded]:
            self.serving[g.loaded].remove(g)
        self.target[g.index] = m
        self.loading[m] += 1
        g.kv_cap = kv_capacity_bytes(
            self.ctx.specs[m], self.ctx.gpu, self.ctx.config.pool.kv_memory_fraction
        )
        done = g.begin_switch(m, t, self.switch_s[m])
        return [(done, SWITCH_DONE, g.index, g.version)]

    def _on_empty(self, g: UnifiedGPU, t: float) -> list[Event]:
        """``g`` has no requests left: release it, then give it the next waiting model."""
        if g.loaded >= 0 and g in self.serving[g.loaded]:
            self.serving[g.loaded].remove(g)
        self.free.append(g)
        m = self._pick_model()
        return self._assign(g, m, t) if m >= 0 else []

    # -- engine hooks ----------------------------------------------------------------------
    def on_arrival(self, t: float, r: int) -> list[Event]:
        m = self.ledger.model[r]
        if self.log is not None:
            self.log.append((t, "arrival", -1, m, r))
        for g in self.serving[m]:
            if not self.queues[m] and self.engine.can_admit(g, r):
                return self.engine.admit(g, r, t)
        self.queues[m].append(r)
        if not self.free or not self._needs_gpu(m):
            return []
        for g in self.free:  # a warm GPU that still holds this model
            if g.loaded == m:
                return self._assign(g, m, t)
        return self._assign(self.free[0], self._pick_model(), t)

    def on_event(self, t: float, kind: int, target: int, version: int) -> list[Event]:
        g = self.gpus[target]
        if kind == SWITCH_DONE:
            if version != g.version:
                return []
            m = self.target.pop(target)
            self.loading[m] -= 1
            g.end_switch(m, t)
            g.peak_models = 1
            self.serving[m].append(g)
            self._refill(g, t)
            return self.engine.start(g, t)
        return self.engine.handle(g, t, kind, version)

    def batch_of(self, g: UnifiedGPU) -> tuple[tuple[int, ...], int]:
        return self.engine.batch(g)

    def queued_by_model(self) -> list[int]:
        counts = [len(q) for q in self.queues]
        for g in self.gpus:
            for r in g.pending:
                counts[self.ledger.model[r]] += 1
        return counts


class RequestLevelSRTF(RequestLevelFCFS):
    """As FCFS, but a drained GPU takes the model whose head request needs the least work."""

    name = PolicyName.REQUEST_SRTF

    def _pick_model(self) -> int:
        best, best_w = -1, float("inf")
        led = self.ledger
        for m, q in enumerate(self.queues):
            if not q:
                continue
            r = q[0]
            lat = self.ctx.latency[m]
            work = lat.prefill_s(led.input[r], led.input[r] ** 2) + led.output[r] * lat.decode_s(
                led.input[r], 1
            )
            if work < best_w and self._needs_gpu(m):
                best, best_w = m, work
        return best
