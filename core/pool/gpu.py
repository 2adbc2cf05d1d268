"""One simulated GPU's bookkeeping (phase, time spent per phase, switches) and switch costs.

Phases follow what a dashboard draws: idle, prefill, decode, switching. A model switch
(Aegaeon §5: scale-down, then scale-up) costs
    weight_gb · overhead_s_per_gb + overhead_s + max(0, weight_gb / bandwidth − prefetched)
where ``prefetched`` is how long the previous work overlapped the next model's weight load
(Aegaeon prefetches the following group's model); KV-cache swaps cost bytes / PCIe bandwidth.
"""

from __future__ import annotations

from core.pool.catalogue import GB, ModelSpec
from core.pool.config import SwitchConfig

IDLE, PREFILL, DECODE, SWITCHING = 0, 1, 2, 3
PHASE_NAMES = ("idle", "prefill", "decode", "switching")


class GPU:
    """A GPU instance: which model it holds, what it is doing since when, and totals."""

    __slots__ = (
        "index", "role", "loaded", "phase", "since", "time_in", "version", "switches", "served",
        "peak_models", "log",
    )  # fmt: skip

    def __init__(self, index: int, role: str, log: list | None) -> None:
        self.index = index  # position in the pool
        self.role = role  # "prefill", "decode" or "unified"
        self.loaded = -1  # market model whose weights are on the GPU (-1: none)
        self.phase = IDLE  # one of IDLE, PREFILL, DECODE, SWITCHING
        self.since = 0.0  # when the current phase began
        self.time_in = [0.0, 0.0, 0.0, 0.0]  # seconds spent in each phase so far
        self.version = 0  # bumped to invalidate this GPU's scheduled completion event
        self.switches = 0  # model loads performed
        self.served: set[int] = set()  # market models that ran on this GPU
        self.peak_models = 0  # most models holding work on this GPU at one time
        self.log = log  # shared event log or None

    def set_phase(self, phase: int, now: float) -> None:
        """Close the current phase at ``now`` and enter ``phase``."""
        self.time_in[self.phase] += now - self.since
        self.phase = phase
        self.since = now

    def totals(self, end: float) -> list[float]:
        """Seconds per phase up to ``end`` (the current phase counted until then)."""
        out = list(self.time_in)
        out[self.phase] += max(0.0, end - self.since)
        return out

    def begin_switch(self, model: int, now: float, seconds: float) -> float:
        """Start loading ``model``; returns the completion time."""
        self.set_phase(SWITCHING, now)
        self.switches += 1
        self.version += 1
        if self.log is not None:
            self.log.append((now, "switch_start", self.index, model, -1))
        return now + seconds

    def end_switch(self, model: int, now: float) -> None:
        """Weights of ``model`` are in place; the GPU is idle until given work."""
        self.loaded = model
        self.set_phase(IDLE, now)
        if self.log is not None:
            self.log.append((now, "switch_done", self.index, model, -1))


def switch_seconds(spec: ModelSpec, cfg: SwitchConfig, prefetched_s: float = 0.0) -> float:
    """Time to make ``spec`` runnable on a GPU (load weights + re-initialise the engine)."""
    load = spec.weight_gb / cfg.bandwidth_gb_s
    if cfg.prefetch:
        load = max(0.0, load - prefetched_s)
    return cfg.overhead_s + spec.weight_gb * cfg.overhead_s_per_gb + load


def kv_swap_seconds(num_bytes: float, cfg: SwitchConfig) -> float:
    """Time to move ``num_bytes`` of KV cache between GPU and host memory."""
    return num_bytes / (cfg.kv_bandwidth_gb_s * GB)
