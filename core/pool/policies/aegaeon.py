"""Aegaeon (SOSP'25): token-level auto-scaling on disaggregated prefill and decode instances.

The pool is split into prefill and decode instances (``prefill_fraction``: the paper's 3 of
every 8 GPUs). Prefill uses *grouped FCFS* (§4.2): requests are taken in arrival order (the
queue whose head arrived first); a request joins a same-model group with fewer than
``prefill_group_cap`` requests on some instance, else opens a new group on the instance with
the fewest waiting requests. An instance prefills one request at a time, group after group,
switching model when the next group's model differs; the next group's weights are prefetched
while the current group runs. The first token is produced by prefill; the request then moves
to a decode instance, scheduled by ``DecodeScheduler`` (weighted round-robin with quotas).
"""

from __future__ import annotations

from collections import deque

from core.pool.config import PolicyName
from core.pool.gpu import GPU, IDLE, PREFILL, switch_seconds
from core.pool.policies.aegaeon_decode import DecodeGPU, DecodeScheduler
from core.pool.policies.base import DECODE_DONE, PREFILL_DONE, SWITCH_DONE, Event, Policy


class Group:
    """Same-model requests prefilled back to back on one instance."""

    __slots__ = ("model", "gpu", "reqs", "count")

    def __init__(self, model: int, gpu: PrefillGPU) -> None:
        self.model = model
        self.gpu = gpu
        self.reqs: deque[int] = deque()  # not yet prefilled
        self.count = 0  # requests ever assigned (capped)


class PrefillGPU(GPU):
    """A prefill instance: a queue of groups and the request being prefilled."""

    __slots__ = ("groups", "waiting", "current", "run_started")

    def __init__(self, index: int, log: list | None) -> None:
        super().__init__(index, "prefill", log)
        self.groups: deque[Group] = deque()
        self.waiting = 0  # requests assigned and not yet prefilled (incl. current)
        self.current = -1  # request in prefill now (-1: none)
        self.run_started = 0.0  # when the loaded model started running (prefetch window)


class Aegaeon(Policy):
    """Grouped-FCFS prefill + weighted round-robin decode with token-level switching."""

    name = PolicyName.AEGAEON

    def start(self) -> list[Event]:
        cfg = self.ctx.config
        n = cfg.pool.num_gpus
        n_prefill = min(n - 1, max(1, round(n * cfg.pool.prefill_fraction)))
        self.prefill = [PrefillGPU(i, self.log) for i in range(n_prefill)]
        self.decode = [DecodeGPU(i, self.log) for i in range(n_prefill, n)]
        self.gpus = [*self.prefill, *self.decode]
        self.scheduler = DecodeScheduler(self.ctx, self.decode)
        self.cap = cfg.aegaeon.prefill_group_cap
        self.open: list[list[Group]] = [[] for _ in range(self.ctx.trace.num_models)]
        self.lat = self.ctx.latency
        return []

    # -- prefill -----------------------------------------------------------------------------
    def on_arrival(self, t: float, r: int) -> list[Event]:
        m = self.ledger.model[r]
        if self.log is not None:
            self.log.append((t, "arrival", -1, m, r))
        groups = self.open[m]
        if groups:
            grp = groups[0]
        else:
            g = self.prefill[0]
            for x in self.prefill:  # fewest waiting requests (first on ties)
                if x.waiting < g.waiting:
                    g = x
            grp = Group(m, g)
            g.groups.append(grp)
            groups.append(grp)
        grp.reqs.append(r)
        grp.count += 1
        if grp.count >= self.cap:
            groups.remove(grp)
        g = grp.gpu
        g.waiting += 1
        g.served.add(m)
        if g.phase == IDLE and g.current < 0:
            return self._prefill_next(g, t)
        return []

    def _prefill_next(self, g: PrefillGPU, t: float) -> list[Event]:
        while g.groups and not g.groups[0].reqs:
            done = g.groups.popleft()
            if done.count < self.cap:  # still open for joining: close it
                self.open[done.model].remove(done)
        if not g.groups:
            if g.phase != IDLE:
                g.set_phase(IDLE, t)
            return []
        grp = g.groups[0]
        m = grp.model
        if g.loaded != m:
            ran = t - g.run_started if g.loaded >= 0 else 0.0
            dur = switch_seconds(self.ctx.specs[m], self.ctx.config.switch, ran)
            return [(g.begin_switch(m, t, dur), SWITCH_DONE, g.index, g.version)]
        r = grp.reqs.popleft()
        g.current = r
        length = self.ledger.input[r]
        dur = self.lat[m].prefill_s(length, length * length)
        if g.phase != PREFILL:
            g.set_phase(PREFILL, t)
        g.version += 1
        return [(t + dur, PREFILL_DONE, g.index, g.version)]

    def on_event(self, t: float, kind: int, target: int, version: int) -> list[Event]:
        g = self.gpus[target]
        if g.role == "decode":
            if kind == DECODE_DONE:
                return self.scheduler.decode_done(g, t, version)
            return self.scheduler.switch_done(g, t, version)
        if version != g.version:
            return []
        if kind == SWITCH_DONE:
            g.end_switch(g.groups[0].model, t)
            g.run_started = t
            return self._prefill_next(g, t)
        r = g.current
        g.current = -1
        g.waiting -= 1
        events = []
        if not self.ledger.emit(r, t, 0.0, 1, g.index):
            events = self.scheduler.dispatch(r, t)
        return events + self._prefill_next(g, t)

    # -- views -------------------------------------------------------------------------------
    def batch_of(self, g: GPU) -> tuple[tuple[int, ...], int]:
        if isinstance(g, PrefillGPU):
            running = (g.current,) if g.current >= 0 else ()
            return running, g.waiting - len(running)
        cur = g.cur
        running = tuple(cur.reqs) if cur is not None and g.phase != IDLE else ()
        waiting = sum(len(b.reqs) + len(b.joining) for b in g.batches) - len(running)
        return running, waiting

    def queued_by_model(self) -> list[int]:
        counts = [0] * self.ctx.trace.num_models
        for g in self.prefill:
            for grp in g.groups:
                counts[grp.model] += len(grp.reqs)
        for g in self.decode:
            for b in g.batches:
                if b is not g.cur:
                    counts[b.model] += len(b.reqs) + len(b.joining)
        return counts
