"""Aegaeon's decode side: weighted round-robin over same-model batches with time quotas (§4.3).

Each decode instance keeps same-model batches. A *round* takes the instance's batches in
model order, continuing cyclically after the model that ran last, and gives batch i the
quota (REFERENCE §6)

    n_i = TPOT / d_i,   c₀ = Σ_models switch time,   S = Σ_j 1/n_j
    α = max(c₀ / (min_j n_j · Q_MAX) + S, α_floor),   q_i = c₀ / (n_i · (α − S))

so every batch makes the same number of tokens per round and the round keeps the average
TBT within TPOT iff α ≤ 1. Batch i runs for q_i from its first step; then, if another batch
waits, its KV cache is swapped out and the next model loaded (token-level preemption). A
batch alone on its instance runs without a quota. Decoding is settled in *segments* of equal
steps (one event each, closed-form attainment in the ledger); a segment ends at the quota, at
the first finishing request, or at the next step after a new request joins the running batch.
"""

from __future__ import annotations

import math

from core.pool.catalogue import kv_capacity_bytes
from core.pool.gpu import DECODE, GPU, IDLE, SWITCHING, kv_swap_seconds, switch_seconds
from core.pool.policies.base import DECODE_DONE, SWITCH_DONE, Event, SimContext


class Batch:
    """Requests of one model decoded together on one instance."""

    __slots__ = ("model", "gpu", "reqs", "joining", "kv", "quota", "quota_start", "seq")

    def __init__(self, model: int, gpu: DecodeGPU, seq: int) -> None:
        self.model = model
        self.gpu = gpu
        self.reqs: list[int] = []  # decoding in the current segment
        self.joining: list[int] = []  # arrived while the segment runs; join at its end
        self.kv = 0.0  # KV bytes reserved (prompt + response of every member)
        self.quota = math.inf  # this round's time quota q_i (s)
        self.quota_start = 0.0  # when the quota started counting
        self.seq = seq  # creation order (stable tie-break)


class DecodeGPU(GPU):
    """A decode instance: its batches, the current round and the running segment."""

    __slots__ = ("batches", "round", "pos", "cur", "seg_start", "seg_period", "seg_n", "swap_out")

    def __init__(self, index: int, log: list | None) -> None:
        super().__init__(index, "decode", log)
        self.batches: list[Batch] = []  # every live batch on this instance
        self.round: list[Batch] = []  # batches of the current round, in run order
        self.pos = 0  # index in ``round`` of the batch running or next
        self.cur: Batch | None = None  # batch on the GPU now
        self.seg_start = 0.0
        self.seg_period = 0.0
        self.seg_n = 0
        self.swap_out = 0.0  # KV bytes to swap out before the next batch can start


class DecodeScheduler:
    """Dispatch and round-robin for every decode instance of an Aegaeon pool."""

    def __init__(self, ctx: SimContext, gpus: list[DecodeGPU]) -> None:
        cfg = ctx.config
        led = ctx.ledger
        self.ctx, self.gpus, self.led = ctx, gpus, led
        self.model, self.input, self.output, self.done = led.model, led.input, led.output, led.done
        self.latency, self.kv_per_token = ctx.latency, ctx.kv_per_token
        self.tpot, self.q_max, self.floor = (
            cfg.slo.tpot_s,
            cfg.aegaeon.q_max_s,
            cfg.aegaeon.alpha_floor,
        )
        self.switch, self.max_batch = cfg.switch, cfg.pool.max_batch_size
        self.cap = [kv_capacity_bytes(s, ctx.gpu, cfg.pool.kv_memory_fraction) for s in ctx.specs]
        self.switch_s = [switch_seconds(s, cfg.switch) for s in ctx.specs]
        self.open: list[list[Batch]] = [[] for _ in range(ctx.trace.num_models)]
        self.seq = 0

    # -- dispatch --------------------------------------------------------------------------
    def dispatch(self, r: int, t: float) -> list[Event]:
        """Place a prefilled request: a same-model batch that fits, else the emptiest GPU."""
        m = self.model[r]
        need = (self.input[r] + self.output[r]) * self.kv_per_token[m]
        for b in self.open[m]:
            if len(b.reqs) + len(b.joining) < self.max_batch and b.kv + need <= self.cap[m]:
                b.kv += need
                g = b.gpu
                if g.cur is b and g.phase == DECODE:
                    b.joining.append(r)
                    return self._cut(g, t)
                b.reqs.append(r)
                return []
        g = min(self.gpus, key=lambda x: (len(x.batches), x.index))
        b = Batch(m, g, self.seq)
        self.seq += 1
        b.reqs.append(r)
        b.kv = need
        g.batches.append(b)
        if len(g.batches) > g.peak_models:  # distinct models ≤ batches: cheap test first
            g.peak_models = max(g.peak_models, len({x.model for x in g.batches}))
        g.served.add(m)
        self.open[m].append(b)
        if g.phase == IDLE and g.cur is None:
            return self._new_round(g, t)
        if g.phase == DECODE and g.cur is not None and g.cur.quota == math.inf:
            return self._cut(g, t)  # the lone batch yields at its next step: a new round
        return []

    def _cut(self, g: DecodeGPU, t: float) -> list[Event]:
        k = max(0, math.ceil((t - g.seg_start) / g.seg_period - 1e-9))
        if k >= g.seg_n:
            return []
        g.seg_n = k
        g.version += 1
        return [(g.seg_start + k * g.seg_period, DECODE_DONE, g.index, g.version)]

    # -- rounds ----------------------------------------------------------------------------
    def _step_s(self, b: Batch) -> float:
        inp, done = self.input, self.done
        context = sum(inp[r] + done[r] for r in b.reqs)
        return self.latency[b.model].decode_s(context, len(b.reqs))

    def _new_round(self, g: DecodeGPU, t: float) -> list[Event]:
        # Batches by model, cyclically after the model that ran last: every batch gets one
        # quota per round and waits at most one round (no back-to-back quotas at the seam).
        ordered = sorted(g.batches, key=lambda b: (b.model, b.seq))
        last = g.cur.model if g.cur is not None else -1
        k = next((i for i, b in enumerate(ordered) if b.model > last), 0)
        g.round = ordered[k:] + ordered[:k]
        g.pos = 0
        if not g.round:
            g.cur = None
            if g.phase != IDLE:
                g.set_phase(IDLE, t)
            return []
        models = {b.model for b in g.round}
        if len(g.round) == 1:
            c0 = 0.0
        elif len(models) == 1:
            c0 = sum(kv_swap_seconds(2 * self._context_bytes(b), self.switch) for b in g.round)
        else:
            c0 = sum(self.switch_s[m] for m in models)
        if c0 <= 0.0:
            for b in g.round:
                b.quota = math.inf
        else:
            n = [self.tpot / self._step_s(b) for b in g.round]
            s = sum(1.0 / x for x in n)
            alpha = max(c0 / (min(n) * self.q_max) + s, self.floor)
            for b, n_i in zip(g.round, n, strict=True):
                b.quota = c0 / (n_i * (alpha - s))
        return self._run_next(g, t)

    def _context_bytes(self, b: Batch) -> float:
        inp, done = self.input, self.done
        return sum(inp[r] + done[r] for r in b.reqs) * self.kv_per_token[b.model]

    def _run_next(self, g: DecodeGPU, t: float) -> list[Event]:
        """Start the batch at ``g.pos`` (switching model if needed), or a new round."""
        while g.pos < len(g.round) and not g.round[g.pos].reqs:
            g.pos += 1
        if g.pos >= len(g.round):
            return self._new_round(g, t)
        b = g.round[g.pos]
        prev = g.cur
        g.cur = b
        if prev is b and g.loaded == b.model:
            b.quota_start = t
            return self._segment(g, t)
        swap = kv_swap_seconds(g.swap_out + self._context_bytes(b), self.switch)
        g.swap_out = 0.0
        if g.loaded != b.model:
            ran = t - prev.quota_start if prev is not None else 0.0
            dur = switch_seconds(self.ctx.specs[b.model], self.switch, ran) + swap
            return [(g.begin_switch(b.model, t, dur), SWITCH_DONE, g.index, g.version)]
        g.set_phase(SWITCHING, t)  # same model, other batch: only KV moves
        g.version += 1
        return [(t + swap, SWITCH_DONE, g.index, g.version)]

    def switch_done(self, g: DecodeGPU, t: float, version: int) -> list[Event]:
        if version != g.version:
            return []
        b = g.cur
        if g.loaded != b.model:
            g.end_switch(b.model, t)
        b.quota_start = t
        return self._segment(g, t)

    def _segment(self, g: DecodeGPU, t: float) -> list[Event]:
        """Run the current batch for as many equal steps as its quota and members allow."""
        b = g.cur
        if b.quota == math.inf and len(g.batches) > 1:
            return self._new_round(g, t)  # others arrived: share the GPU with quotas
        if b.joining:
            b.reqs.extend(b.joining)
            b.joining = []
        out, done, inp = self.output, self.done, self.input
        n = 1 << 60
        context = 0
        for r in b.reqs:
            k = done[r]
            context += inp[r] + k
            k = out[r] - k
            if k < n:
                n = k
        d = self.latency[b.model].decode_s(context, len(b.reqs))
        if b.quota != math.inf:
            fit = math.floor((b.quota_start + b.quota - t) / d + 1e-9)
            if fit <= 0 and t > b.quota_start:
                return self._end_quota(g, t)
            n = min(n, max(fit, 1))
        g.seg_start, g.seg_period, g.seg_n = t, d, n
        if g.phase != DECODE:
            g.set_phase(DECODE, t)
        g.version += 1
        return [(t + n * d, DECODE_DONE, g.index, g.version)]

    def _end_quota(self, g: DecodeGPU, t: float) -> list[Event]:
        """Quota used up: preempt (swap KV out) when another batch waits, then move on."""
        b = g.cur
        others = any(x is not b and x.reqs for x in g.batches)
        if others:
            g.swap_out = self._context_bytes(b)
            if self.ctx.log is not None:
                self.ctx.log.append((t, "preempt", g.index, b.model, -1))
        g.pos += 1
        return self._run_next(g, t)

    def decode_done(self, g: DecodeGPU, t: float, version: int) -> list[Event]:
        if version != g.version:
            return []
        b = g.cur
        s, d, n, idx = g.seg_start, g.seg_period, g.seg_n, g.index
        if n > 0:
            emit, per_token = self.led.emit, self.kv_per_token[b.model]
            keep = []
            for r in b.reqs:
                if emit(r, s + d, d, n, idx):
                    b.kv -= (self.input[r] + self.output[r]) * per_token
                else:
                    keep.append(r)
            b.reqs = keep
        if b.joining:
            b.reqs.extend(b.joining)
            b.joining = []
        if not b.reqs:
            g.batches.remove(b)
            self.open[b.model].remove(b)
            g.pos += 1
            return self._run_next(g, t)
        return self._segment(g, t)
