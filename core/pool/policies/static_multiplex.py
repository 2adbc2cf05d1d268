"""Static multiplexing (MuxServe/AlpaServe-like): models placed once by memory and popularity.

Placement (before the run): models in decreasing request rate go to the GPU with the least
rate placed so far among those whose weights still fit in ``memory × (1 − static_kv_reserve)``
(the rest is kept for KV caches); GPUs left empty host replicas of the hottest models. A
model that fits nowhere is not served at all: its requests never get a token (attainment 0).
Every resident model stays loaded, so there is no switching; a GPU time-shares its compute
between resident models step by step (``UnifiedEngine``'s cycles), and requests that do not
fit in the GPU's KV memory wait in its FIFO backlog. This is why memory-based multiplexing
tops out at 2–3 mid-size models per 80 GB GPU (Aegaeon §2).
"""

from __future__ import annotations

from collections import deque

from core.pool.catalogue import GB
from core.pool.config import PolicyName
from core.pool.policies.base import Event, Policy, SimContext
from core.pool.policies.unified import UnifiedEngine, UnifiedGPU


class StaticMultiplex(Policy):
    """Fixed placement of several models per GPU; no model switching."""

    name = PolicyName.STATIC

    def __init__(self, ctx: SimContext) -> None:
        super().__init__(ctx)
        self.engine = UnifiedEngine(ctx, self._refill, self._on_empty)
        self.replicas: list[list[UnifiedGPU]] = [[] for _ in range(ctx.trace.num_models)]
        self.backlog: list[deque[int]] = []
        self.unplaced: list[int] = []  # market models that fit on no GPU

    def model_rates(self) -> list[float]:
        """Request rate of each market model as seen in the trace (popularity)."""
        counts = [0] * self.ctx.trace.num_models
        for m in self.ledger.model:
            counts[m] += 1
        span = max(self.ctx.trace.duration_s, 1e-9)
        return [c / span for c in counts]

    def placement(self) -> list[list[int]]:
        """Models per GPU: greedy by rate onto the least-loaded GPU with room."""
        ctx = self.ctx
        n_gpus = ctx.config.pool.num_gpus
        budget = ctx.gpu.memory_gb * (1.0 - ctx.config.pool.static_kv_reserve)
        rates = self.model_rates()
        order = sorted(range(len(rates)), key=lambda m: (-rates[m], m))
        load = [0.0] * n_gpus
        used = [0.0] * n_gpus
        placed: list[list[int]] = [[] for _ in range(n_gpus)]
        for m in order:
            w = ctx.specs[m].weight_gb
            room = [i for i in range(n_gpus) if used[i] + w <= budget]
            if not room:
                self.unplaced.append(m)
                continue
            i = min(room, key=lambda j: (load[j], used[j], j))
            placed[i].append(m)
            load[i] += rates[m]
            used[i] += w
        empty = [i for i in range(n_gpus) if not placed[i]]
        hot = [m for m in order if m not in self.unplaced and ctx.specs[m].weight_gb <= budget]
        for k, i in enumerate(empty):
            if hot:
                placed[i].append(hot[k % len(hot)])
        return placed

    def start(self) -> list[Event]:
        ctx = self.ctx
        frac = ctx.config.pool.kv_memory_fraction
        for i, models in enumerate(self.placement()):
            weights = sum(ctx.specs[m].weight_gb for m in models)
            g = UnifiedGPU(i, self.log, max(0.0, (ctx.gpu.memory_gb - weights) * GB * frac))
            g.resident = set(models)
            g.peak_models = len(models)
            g.loaded = models[0] if models else -1
            self.gpus.append(g)
            self.backlog.append(deque())
            for m in models:
                self.replicas[m].append(g)
        return []

    def _refill(self, g: UnifiedGPU, t: float) -> None:
        q = self.backlog[g.index]
        eng = self.engine
        while q and eng.can_admit(g, q[0]):
            r = q.popleft()
            g.pending.append(r)
            g.kv_used += eng.need(r)
            g.count += 1
            g.served.add(self.ledger.model[r])

    def _on_empty(self, g: UnifiedGPU, t: float) -> list[Event]:
        return []

    def on_arrival(self, t: float, r: int) -> list[Event]:
        m = self.ledger.model[r]
        if self.log is not None:
            self.log.append((t, "arrival", -1, m, r))
        hosts = self.replicas[m]
        if not hosts:
            if self.log is not None:
                self.log.append((t, "reject", -1, m, r))
            return []
        g = min(hosts, key=lambda h: (h.count + len(self.backlog[h.index]), h.index))
        q = self.backlog[g.index]
        if not q and self.engine.can_admit(g, r):
            return self.engine.admit(g, r, t)
        q.append(r)
        return []

    def on_event(self, t: float, kind: int, target: int, version: int) -> list[Event]:
        return self.engine.handle(self.gpus[target], t, kind, version)

    def batch_of(self, g: UnifiedGPU) -> tuple[tuple[int, ...], int]:
        batch, pending = self.engine.batch(g)
        return batch, pending + len(self.backlog[g.index])

    def resident_of(self, gpu: UnifiedGPU) -> list[int]:
        return sorted(gpu.resident)

    def queued_by_model(self) -> list[int]:
        counts = [0] * self.ctx.trace.num_models
        model = self.ledger.model
        for g, q in zip(self.gpus, self.backlog, strict=True):
            for r in list(q) + g.pending:
                counts[model[r]] += 1
        return counts
