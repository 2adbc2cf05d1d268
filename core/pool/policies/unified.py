"""A GPU that runs prefill and decode itself, with continuous batching (vLLM-style).

Shared machinery of the request-level, static-multiplexing and dedicated policies (not a
policy itself). Admitted requests wait in ``pending``; when the GPU is free it prefills all of
them at once (first token at the end), then decodes every resident model's batch step after
step. A *cycle* runs one decode step of each model with running requests, so each model's
tokens come every P = Σ_m d_m seconds (d_m from the latency model at the cycle's context
sizes) — one *segment* covers cycles until the first request finishes and is settled in
closed form by the ledger. A request admitted mid-segment cuts the segment at the next cycle
boundary, so newcomers are prefilled promptly, as in continuous batching.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from core.pool.gpu import DECODE, GPU, IDLE, PREFILL
from core.pool.policies.base import DECODE_DONE, PREFILL_DONE, Event, SimContext


class UnifiedGPU(GPU):
    """A GPU with its own continuous-batching engine for one or more resident models."""

    __slots__ = (
        "resident", "running", "pending", "prefilling", "kv_used", "kv_cap", "count",
        "seg_start", "seg_period", "seg_n", "seg_offsets",
    )  # fmt: skip

    def __init__(self, index: int, log: list | None, kv_cap: float) -> None:
        super().__init__(index, "unified", log)
        self.resident: set[int] = set()  # market models whose weights are loaded
        self.running: dict[int, list[int]] = {}  # model -> requests decoding
        self.pending: list[int] = []  # admitted, waiting for prefill
        self.prefilling: list[int] = []  # in the prefill running now
        self.kv_used = 0.0  # KV bytes reserved by admitted requests (prompt + response)
        self.kv_cap = kv_cap  # KV bytes available
        self.count = 0  # admitted requests not finished
        self.seg_start = 0.0  # current decode segment: start time,
        self.seg_period = 0.0  # cycle length P,
        self.seg_n = 0  # cycles planned,
        self.seg_offsets: list[tuple[int, float]] = []  # (model, offset of its token in a cycle)


class UnifiedEngine:
    """Runs ``UnifiedGPU``s; ``refill(gpu, t)`` and ``on_empty(gpu, t)`` come from the policy."""

    def __init__(
        self,
        ctx: SimContext,
        refill: Callable[[UnifiedGPU, float], None],
        on_empty: Callable[[UnifiedGPU, float], list[Event]],
    ) -> None:
        self.ctx = ctx
        led = ctx.ledger
        self.emit = led.emit
        self.model, self.input, self.output, self.done = led.model, led.input, led.output, led.done
        self.latency = ctx.latency
        self.whole_ms = ctx.config.artifact_timing  # latency models are WholeMsLatency
        self.kv_per_token = ctx.kv_per_token
        self.max_batch = ctx.config.pool.max_batch_size
        self.refill = refill
        self.on_empty = on_empty

    def need(self, r: int) -> float:
        """KV bytes request ``r`` reserves for its whole life."""
        return (self.input[r] + self.output[r]) * self.kv_per_token[self.model[r]]

    def can_admit(self, g: UnifiedGPU, r: int) -> bool:
        if g.count == 0:
            return True  # an empty GPU always takes one request (no deadlock on huge prompts)
        return g.count < self.max_batch and g.kv_used + self.need(r) <= g.kv_cap

    def admit(self, g: UnifiedGPU, r: int, t: float) -> list[Event]:
        """Give ``r`` to ``g`` (whose weights for r's model must be resident or loading)."""
        g.pending.append(r)
        g.kv_used += self.need(r)
        g.count += 1
        g.served.add(self.model[r])
        if g.phase == IDLE:
            return self.start(g, t)
        if g.phase == DECODE:
            return self.cut(g, t)
        return []

    def release(self, g: UnifiedGPU, r: int) -> None:
        g.kv_used -= self.need(r)
        g.count -= 1

    def start(self, g: UnifiedGPU, t: float) -> list[Event]:
        """Begin the next piece of work on a free GPU: prefill, a decode segment, or nothing."""
        if g.pending:
            reqs, g.pending = g.pending, []
            g.prefilling = reqs
            sums: dict[int, list[int]] = {}
            for r in reqs:
                length = self.input[r]
                acc = sums.setdefault(self.model[r], [0, 0])
                acc[0] += length
                acc[1] += length * length
            dur = sum(self.latency[m].prefill_s(s1, s2) for m, (s1, s2) in sums.items())
            g.set_phase(PREFILL, t)
            g.version += 1
            return [(t + dur, PREFILL_DONE, g.index, g.version)]
        if g.running:
            period = 0.0
            offsets = []
            n = 1 << 60
            done, inp, out = self.done, self.input, self.output
            for m in sorted(g.running):
                reqs = g.running[m]
                context = 0
                for r in reqs:
                    context += inp[r] + done[r]
                    left = out[r] - done[r]
                    if left < n:
                        n = left
                lat = self.latency[m]
                period += lat.decode_s(context, len(reqs))
                if self.whole_ms:  # the artifact's steps change length with the context
                    n = min(n, lat.steady_steps(context, len(reqs)))
                offsets.append((m, period))
            g.seg_start, g.seg_period, g.seg_n, g.seg_offsets = t, period, n, offsets
            if g.phase != DECODE:
                g.set_phase(DECODE, t)
            g.version += 1
            return [(t + n * period, DECODE_DONE, g.index, g.version)]
        if g.phase != IDLE:
            g.set_phase(IDLE, t)
        return self.on_empty(g, t)

    def cut(self, g: UnifiedGPU, t: float) -> list[Event]:
        """End the running segment at the first cycle boundary at or after ``t``."""
        k = max(0, math.ceil((t - g.seg_start) / g.seg_period - 1e-9))
        if k >= g.seg_n:
            return []
        g.seg_n = k
        g.version += 1
        return [(g.seg_start + k * g.seg_period, DECODE_DONE, g.index, g.version)]

    def prefill_done(self, g: UnifiedGPU, t: float) -> list[Event]:
        emit, model, idx = self.emit, self.model, g.index
        for r in g.prefilling:
            if emit(r, t, 0.0, 1, idx):
                self.release(g, r)
            else:
                g.running.setdefault(model[r], []).append(r)
        g.prefilling = []
        self.refill(g, t)
        return self.start(g, t)

    def decode_done(self, g: UnifiedGPU, t: float) -> list[Event]:
        s, period, n, idx, emit = g.seg_start, g.seg_period, g.seg_n, g.index, self.emit
        if n > 0:
            for m, off in g.seg_offsets:
                keep = []
                t1 = s + off
                for r in g.running[m]:
                    if emit(r, t1, period, n, idx):
                        self.release(g, r)
                    else:
                        keep.append(r)
                if keep:
                    g.running[m] = keep
                else:
                    del g.running[m]
        self.refill(g, t)
        return self.start(g, t)

    def handle(self, g: UnifiedGPU, t: float, kind: int, version: int) -> list[Event]:
        """Dispatch a due PREFILL_DONE / DECODE_DONE event (stale versions are ignored)."""
        if version != g.version:
            return []
        if kind == PREFILL_DONE:
            return self.prefill_done(g, t)
        return self.decode_done(g, t)

    def batch(self, g: UnifiedGPU) -> tuple[tuple[int, ...], int]:
        running = [r for reqs in g.running.values() for r in reqs] + g.prefilling
        return tuple(running), len(g.pending)
