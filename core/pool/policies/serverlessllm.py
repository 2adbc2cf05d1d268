"""ServerlessLLM as the Aegaeon artifact simulates it: each request is bound on arrival.

The baseline the paper plots as "ServerlessLLM" (Figures 11–13) is the artifact's simulation
(``aegaeon/sim``, policy ``SeLLMPolicy`` = ``V02Policy`` with R = 1, QS = 4; read, not
copied). Every GPU ("instance") keeps a FIFO queue. An instance runs the same-model requests
at the head of its queue as one continuous batch (new ones of that model join it while they
fit) and, when they are all done, swaps to the model of the next request in line — there is
no reordering and no preemption, so a request bound behind another model waits for that
model's whole run plus a swap (head-of-line blocking, Aegaeon §3).

Dispatch on arrival of a request of model m (``ServerlessLLMConfig``):

* an instance's *tail* is the model of the last request in its queue (or the model it holds
  or is loading when the queue is empty) and how many requests of that model end the queue;
* if the instances whose tail is m have fewer than R free slots (QS − tail count each) in
  all, scale up: bind the request to an instance that never loaded a model, else to the
  least recently used instance whose tail is not m — the one whose last batch ended earliest,
  *busy or not*, where the request waits behind everything queued there;
* otherwise bind it to the instance with tail m and the shortest same-model tail.

A request with no first token ``first_token_timeout_s`` after its arrival fails: it leaves the
system with attainment 0; we fire it on time, while the artifact checks it only when a
request arrives (``timeout_on_arrival``: up to one inter-arrival gap late, and never after
the last arrival). A prefill it was part of still runs to the end.
Swaps cost ``switch_seconds`` (the artifact: weight bytes / 16 GB/s).
"""

from __future__ import annotations

import math
from collections import deque

from core.pool.catalogue import kv_capacity_bytes
from core.pool.config import PolicyName, ScaleUpTarget
from core.pool.gpu import DECODE, IDLE, SWITCHING, switch_seconds
from core.pool.policies.base import SWITCH_DONE, Event, Policy, SimContext
from core.pool.policies.unified import UnifiedEngine, UnifiedGPU

TIMEOUT = 3  # event kind: a request's first-token deadline (its target is the request id)


class ServerlessLLM(Policy):
    """Per-instance FIFO queues filled on arrival; LRU scale-up; first-token timeout."""

    name = PolicyName.SERVERLESSLLM

    def __init__(self, ctx: SimContext) -> None:
        super().__init__(ctx)
        self.cfg = ctx.config.serverlessllm
        self.engine = UnifiedEngine(ctx, self._refill, self._on_empty)
        self.switch_s = [switch_seconds(s, ctx.config.switch) for s in ctx.specs]
        if ctx.config.artifact_timing:  # the artifact's swaps last whole milliseconds
            self.switch_s = [math.floor(1000 * s) / 1000 for s in self.switch_s]
        self.unstarted: deque[int] = deque()  # timeout_on_arrival: arrived, in arrival order
        n = ctx.config.pool.num_gpus
        self.queue: list[deque[int]] = [deque() for _ in range(n)]  # bound, not yet admitted
        self.holds = [-1] * n  # model each instance holds or is loading (-1: never loaded)
        self.last_end = [0.0] * n  # when each instance's last batch (prefill/decode) ended
        self.bound = [-1] * len(ctx.trace)  # instance each request was bound to

    def start(self) -> list[Event]:
        for i in range(self.ctx.config.pool.num_gpus):
            self.gpus.append(UnifiedGPU(i, self.log, 0.0))
        return []

    # -- the artifact's view of an instance -------------------------------------------------
    def tail(self, i: int) -> tuple[int, int]:
        """(model, count): the model ending instance ``i``'s queue and how many requests of it
        end the queue, the running batch included (the artifact's queue holds both)."""
        q, model = self.queue[i], self.ledger.model
        if not q:
            return self.holds[i], self.gpus[i].count
        m = model[q[-1]]
        count = 0
        for r in reversed(q):
            if model[r] != m:
                return m, count
            count += 1
        return m, count + (self.gpus[i].count if self.holds[i] == m else 0)

    def last_batch_end(self, i: int, t: float) -> float:
        """When instance ``i`` last finished a batch step, as of ``t`` (swaps do not count)."""
        g = self.gpus[i]
        if g.phase == DECODE and g.seg_period > 0:
            # a step ending exactly now has ended, unless arrivals go first (artifact timing)
            tie = -1e-6 if self.ctx.config.artifact_timing else 1e-9
            k = min(g.seg_n, max(0, math.floor((t - g.seg_start) / g.seg_period + tie)))
            return g.seg_start + k * g.seg_period
        return self.last_end[i]

    def choose(self, m: int, t: float) -> int:
        """The instance a new request of model ``m`` is bound to (``V02Policy.schedule``)."""
        cap = self.cfg.queue_cap
        tails = [self.tail(i) for i in range(len(self.gpus))]
        slots = sum(max(0, cap - c) for tm, c in tails if tm == m)
        if slots < self.cfg.scale_up_below:
            best, best_key = -1, (math.inf, math.inf)
            least_loaded = self.cfg.scale_up_target == ScaleUpTarget.LEAST_LOADED
            for i, (tm, _) in enumerate(tails):
                if tm < 0:
                    return i  # an instance that never loaded a model
                if tm == m:
                    continue
                lru = self.last_batch_end(i, t)
                key = (self.gpus[i].count + len(self.queue[i]), lru) if least_loaded else (lru, 0)
                if key < best_key:
                    best, best_key = i, key
            if best >= 0:
                return best
        best, best_count = -1, math.inf
        for i, (tm, c) in enumerate(tails):
            if tm == m and c < best_count:
                best, best_count = i, c
        return best

    # -- running an instance ---------------------------------------------------------------
    def _refill(self, g: UnifiedGPU, t: float) -> None:
        """A batch step ended at ``t``: note it (for LRU) and admit head-of-queue requests."""
        if g.phase != SWITCHING:
            self.last_end[g.index] = t
        self._admit_head(g)

    def _admit_head(self, g: UnifiedGPU) -> None:
        m, q, eng, model = g.loaded, self.queue[g.index], self.engine, self.ledger.model
        if m < 0 or g.phase == SWITCHING:
            return
        while q and model[q[0]] == m and eng.can_admit(g, q[0]):
            r = q.popleft()
            g.pending.append(r)
            g.kv_used += eng.need(r)
            g.count += 1
            g.served.add(m)
            g.peak_models = 1

    def _swap(self, g: UnifiedGPU, m: int, t: float) -> list[Event]:
        """Load model ``m`` on the drained instance ``g``."""
        self.holds[g.index] = m
        g.kv_cap = kv_capacity_bytes(
            self.ctx.specs[m], self.ctx.gpu, self.ctx.config.pool.kv_memory_fraction
        )
        done = g.begin_switch(m, t, self.switch_s[m])
        return [(done, SWITCH_DONE, g.index, g.version)]

    def _on_empty(self, g: UnifiedGPU, t: float) -> list[Event]:
        """Its batch is done: swap to the model of the next request in line, if any."""
        q = self.queue[g.index]
        return self._swap(g, self.ledger.model[q[0]], t) if q else []

    # -- engine hooks ------------------------------------------------------------------------
    def on_arrival(self, t: float, r: int) -> list[Event]:
        m = self.ledger.model[r]
        if self.log is not None:
            self.log.append((t, "arrival", -1, m, r))
        timeout = self.cfg.first_token_timeout_s
        out: list[Event] = []
        if timeout is not None and self.cfg.timeout_on_arrival:
            self._timeouts_at_arrival(t, timeout)
            self.unstarted.append(r)
        elif timeout is not None:
            out.append((t + timeout, TIMEOUT, r, 0))
        i = self.choose(m, t)
        self.bound[r] = i
        g, q = self.gpus[i], self.queue[i]
        if not q and g.phase != SWITCHING and g.loaded == m and self.engine.can_admit(g, r):
            g.peak_models = 1
            return out + self.engine.admit(g, r, t)  # joins the running batch
        q.append(r)
        if g.phase == IDLE and len(q) == 1:
            out += self._swap(g, m, t)  # a drained instance holding another model (or none)
        return out

    def on_event(self, t: float, kind: int, target: int, version: int) -> list[Event]:
        if kind == TIMEOUT:
            return self._timeout(t, target)
        g = self.gpus[target]
        if kind == SWITCH_DONE:
            if version != g.version:
                return []
            g.end_switch(self.holds[target], t)
            self._admit_head(g)
            return self.engine.start(g, t)
        return self.engine.handle(g, t, kind, version)

    def _timeouts_at_arrival(self, t: float, timeout: float) -> None:
        """The artifact's check, run when a request arrives: drop every earlier request
        still without a first token more than ``timeout`` after its arrival."""
        arrival, done, q = self.ledger.arrival, self.ledger.done, self.unstarted
        while q and t - arrival[q[0]] > timeout + 1e-9:  # strictly later (ms ties: no)
            self._timeout(t, q.popleft())
        if len(q) > 64:  # forget the ones that have started (they never time out)
            self.unstarted = deque(r for r in q if done[r] == 0)

    def _timeout(self, t: float, r: int) -> list[Event]:
        """Drop ``r`` if it still has no token; the instance carries on with the rest."""
        led = self.ledger
        if led.done[r] > 0:
            return []
        i = self.bound[r]
        g, q = self.gpus[i], self.queue[i]
        if r in g.pending:
            g.pending.remove(r)
            self.engine.release(g, r)
        elif r in g.prefilling:
            g.prefilling.remove(r)  # the prefill runs on: its time is spent anyway
            self.engine.release(g, r)
        else:
            q.remove(r)
        led.fail(r, t, i)
        return []

    def batch_of(self, g: UnifiedGPU) -> tuple[tuple[int, ...], int]:
        batch, waiting = self.engine.batch(g)
        return batch, waiting + len(self.queue[g.index])

    def queued_by_model(self) -> list[int]:
        counts = [0] * self.ctx.trace.num_models
        model = self.ledger.model
        for g in self.gpus:
            for r in g.pending:
                counts[model[r]] += 1
            for r in self.queue[g.index]:
                counts[model[r]] += 1
        return counts
