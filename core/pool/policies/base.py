"""The interface every scheduling policy implements, and the context the engine hands it.

The engine (``core/pool/engine.py``) owns the clock and the event heap; a policy owns its
GPUs and queues. The engine calls ``start`` once, ``on_arrival`` for each request and
``on_event`` for each due completion the policy scheduled; every handler returns the new
events as ``(time, kind, target, version)`` tuples. A completion whose ``version`` no longer
matches its GPU's was superseded (e.g. a decode segment cut short by a joining request) and
is ignored. Policies report tokens to the shared ``Ledger`` and never touch the heap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from core.pool.catalogue import GPUSpec, ModelSpec
from core.pool.config import PolicyName, SimConfig
from core.pool.gpu import GPU, PHASE_NAMES
from core.pool.latency import LatencyModel
from core.pool.ledger import Ledger
from core.pool.workload import Trace

Event = tuple[float, int, int, int]  # (time, kind, target GPU, version)

# Event kinds shared by the policies (small ints keep heap tuples cheap to compare).
PREFILL_DONE, DECODE_DONE, SWITCH_DONE = 0, 1, 2


@dataclass
class SimContext:
    """Read-mostly facts of one simulation, shared by engine and policy."""

    config: SimConfig  # the whole configuration
    trace: Trace  # the requests
    ledger: Ledger  # token accounting and population counters
    log: list | None  # event log (time, kind, gpu, model, request), None when not recorded
    gpu: GPUSpec  # the GPU type of the pool
    specs: list[ModelSpec]  # catalogue spec of each market model
    latency: list[LatencyModel]  # step-latency model of each market model on this GPU
    kv_per_token: list[float]  # KV bytes per token of each market model
    rng: np.random.Generator  # for policies that randomise (none of the built-ins do)


@dataclass(frozen=True)
class GPUView:
    """What one GPU is doing at a snapshot (for live views)."""

    index: int  # position in the pool
    role: str  # "prefill", "decode" or "unified"
    model: str | None  # market model whose weights are loaded (None: empty)
    resident: tuple[str, ...]  # every model whose weights are loaded (static: several)
    phase: str  # "idle", "prefill", "decode" or "switching"
    batch: tuple[int, ...]  # request ids being processed now
    waiting: int  # requests assigned to this GPU but not in the running batch
    switches: int  # model loads so far


class Policy(ABC):
    """A scheduler for a pool of GPUs. Subclasses set ``name`` and implement the hooks."""

    name: ClassVar[PolicyName]

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.ledger = ctx.ledger
        self.log = ctx.log
        self.gpus: list[GPU] = []

    @abstractmethod
    def start(self) -> list[Event]:
        """Set up GPUs and return initial events (time 0)."""

    @abstractmethod
    def on_arrival(self, t: float, r: int) -> list[Event]:
        """Request ``r`` arrives at ``t`` (the ledger already counts it)."""

    @abstractmethod
    def on_event(self, t: float, kind: int, target: int, version: int) -> list[Event]:
        """A completion this policy scheduled is due."""

    @abstractmethod
    def batch_of(self, gpu: GPU) -> tuple[tuple[int, ...], int]:
        """(request ids running on ``gpu`` now, requests waiting on it)."""

    @abstractmethod
    def queued_by_model(self) -> list[int]:
        """Per market model: requests arrived but not yet prefilled or not yet decoding."""

    def gpus_used(self) -> int:
        """GPUs the policy occupies (dedicated uses one per model)."""
        return len(self.gpus)

    def views(self) -> list[GPUView]:
        names = self.ctx.trace.model_names
        out = []
        for g in self.gpus:
            batch, waiting = self.batch_of(g)
            model = names[g.loaded] if g.loaded >= 0 else None
            resident = tuple(names[m] for m in self.resident_of(g))
            phase = PHASE_NAMES[g.phase]
            out.append(GPUView(g.index, g.role, model, resident, phase, batch, waiting, g.switches))
        return out

    def resident_of(self, gpu: GPU) -> list[int]:
        """Market models whose weights are on ``gpu`` (one at most, except static)."""
        return [gpu.loaded] if gpu.loaded >= 0 else []
