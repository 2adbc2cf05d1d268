"""Typed configuration of one GPU-pool simulation, with a lossless JSON round trip.

A ``SimConfig`` is passed whole to ``Simulation``/``run``: which policy (Aegaeon §4–5 of the
SOSP'25 paper, or a baseline), the workload (§6.1: per-model arrivals, ShareGPT lengths,
skew), the pool (GPU type and count, Aegaeon's 3:5 prefill:decode split), the SLOs
(TTFT 10 s, TPOT 0.1 s by default) and the switch-cost model. ``SimConfig.from_json(
cfg.to_json()) == cfg`` holds for every config. Checking that a config can run at all lives
in ``validation.py``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class PoolError(ValueError):
    """Base class of every error the pool simulator raises for bad input."""


class ConfigError(PoolError):
    """A configuration value that cannot be simulated (message says which and why)."""


class TraceError(PoolError):
    """A request trace that is empty, malformed or inconsistent with the catalogue."""


class PolicyName(StrEnum):
    """The scheduling policies, one module each in ``core/pool/policies/``."""

    AEGAEON = "aegaeon"  # token-level auto-scaling, disaggregated prefill/decode
    REQUEST_FCFS = "request_fcfs"  # request-level auto-scaling (ServerlessLLM-like), FCFS
    REQUEST_SRTF = "request_srtf"  # request-level auto-scaling, shortest remaining first
    SERVERLESSLLM = "serverlessllm"  # the artifact's simulated ServerlessLLM: bind on arrival
    STATIC = "static_multiplex"  # MuxServe/AlpaServe-like placement, no switching
    DEDICATED = "dedicated"  # one GPU per model: the over-provisioned reference


class Popularity(StrEnum):
    """How the total request rate is split over the models."""

    UNIFORM = "uniform"  # every model gets rate_per_model (the paper's §6 sweeps)
    ZIPF = "zipf"  # rate ∝ (i+1)^-alpha (MuxServe's skewed workloads)
    ALIBABA = "alibaba"  # cold_model_share of models get cold_traffic_share of requests


class ArrivalProcess(StrEnum):
    """Inter-arrival distribution of each model's requests."""

    POISSON = "poisson"  # exponential gaps (CV = 1)
    GAMMA = "gamma"  # shape 1/CV², scale CV²/rate: bursty when CV > 1


@dataclass(frozen=True)
class SLOConfig:
    """Per-token deadlines: token j is due at arrival + ttft_s + j·tpot_s."""

    ttft_s: float = 10.0  # time-to-first-token SLO (paper default 10 s)
    tpot_s: float = 0.1  # time-per-output-token (TBT) SLO (paper default 0.1 s)

    def scaled(self, factor: float) -> SLOConfig:
        """The tighter SLOs of §6 (0.5×, 0.3×) as ``slo.scaled(0.5)``."""
        return SLOConfig(self.ttft_s * factor, self.tpot_s * factor)


@dataclass(frozen=True)
class WorkloadConfig:
    """A synthetic multi-model workload (ignored when a trace is given)."""

    num_models: int = 40  # M: models in the market
    rate_per_model: float = 0.1  # mean req/s per model; total rate = M × this
    duration_s: float = 120.0  # arrivals are generated over [0, duration_s)
    popularity: Popularity = Popularity.UNIFORM  # split of the total rate over models
    zipf_alpha: float = 0.9  # skew exponent for Popularity.ZIPF
    cold_model_share: float = 0.941  # Alibaba: share of models that are rarely called
    cold_traffic_share: float = 0.0135  # Alibaba: share of requests those models get
    arrival: ArrivalProcess = ArrivalProcess.POISSON  # inter-arrival distribution
    cv: float = 1.0  # coefficient of variation of gaps (GAMMA only)
    burst_factor: float = 1.0  # rate multiplier inside bursts (1 = no bursts)
    burst_period_s: float = 600.0  # a burst starts every burst_period_s
    burst_length_s: float = 60.0  # and lasts burst_length_s
    diurnal_amplitude: float = 0.0  # rate × (1 + A·sin(2πt/period)), 0 ≤ A < 1
    diurnal_period_s: float = 86400.0  # period of the diurnal swing
    length_profile: str = "sharegpt"  # length distribution in data/lengths.json
    input_scale: float = 1.0  # multiply prompt lengths (the paper's 2× input runs)
    output_scale: float = 1.0  # multiply response lengths (the paper's 2× output runs)
    min_output_tokens: int = 16  # the paper keeps responses of ≥ 16 tokens
    model_mix: tuple[tuple[str, float], ...] = (
        ("qwen2.5-7b", 6.0),
        ("yi-9b", 2.0),
        ("llama2-13b", 2.0),
    )  # catalogue models assigned to the M market models in this ratio (paper: 6:2:2)

    @property
    def total_rate(self) -> float:
        """Mean arrival rate over all models (req/s), before bursts and diurnal swing."""
        return self.num_models * self.rate_per_model


@dataclass(frozen=True)
class PoolConfig:
    """The GPUs and how a policy may use them."""

    gpu: str = "H100"  # GPU type from data/gpus.json
    num_gpus: int = 16  # GPUs in the pool (dedicated uses one per model instead)
    prefill_fraction: float = 0.375  # Aegaeon: share of GPUs doing prefill (3 of 8)
    max_batch_size: int = 128  # requests per decode batch at most
    kv_memory_fraction: float = 0.9  # share of memory left after weights usable for KV
    static_kv_reserve: float = 0.25  # static multiplexing keeps this share of memory for KV


@dataclass(frozen=True)
class SwitchConfig:
    """Cost of loading a model: weight_gb / bandwidth_gb_s + overhead (+ KV swap)."""

    bandwidth_gb_s: float = 16.0  # host→GPU weight load rate (artifact simulator: 16 GB/s)
    overhead_s: float = 0.1  # fixed cost per switch (engine re-init, GC, allocation)
    overhead_s_per_gb: float = 0.0  # size-proportional overhead (s per GB of weights)
    kv_bandwidth_gb_s: float = 32.0  # KV-cache swap between GPU and host (PCIe)
    prefetch: bool = True  # overlap the next model's weight load with the current work

    @classmethod
    def aegaeon(cls) -> SwitchConfig:
        """Aegaeon's optimised auto-scaling (component reuse, explicit memory management)."""
        return cls()

    @classmethod
    def unoptimized(cls) -> SwitchConfig:
        """A stock engine restart: ≈ 33× slower (the paper cuts overhead by 97%)."""
        return cls(
            bandwidth_gb_s=4.8, overhead_s=50.0, overhead_s_per_gb=0.0, kv_bandwidth_gb_s=16.0,
            prefetch=False,
        )  # fmt: skip


@dataclass(frozen=True)
class AegaeonConfig:
    """Knobs of the token-level scheduler (§4.2–4.3 of the paper)."""

    prefill_group_cap: int = 8  # a prefill group takes at most this many requests
    q_max_s: float = 4.0  # Q_MAX: the longest decode time quota
    alpha_floor: float = 0.5  # lower bound of α in the quota formula


class ScaleUpTarget(StrEnum):
    """Which instance ServerlessLLM scales up (swaps) when a model has no free queue slot."""

    LRU = "lru"  # the artifact: the instance whose last batch ended earliest, busy or not
    LEAST_LOADED = "least_loaded"  # the instance with the fewest bound requests (ties: LRU)


@dataclass(frozen=True)
class ServerlessLLMConfig:
    """The Aegaeon artifact's simulated ServerlessLLM (its ``V02Policy`` with R = 1, QS = 4).

    Each request is bound on arrival to one instance's FIFO queue; an instance runs the
    same-model requests at its queue's head as one continuous batch, then swaps to the model
    of the next request in line.
    """

    queue_cap: int = 4  # QS: same-model requests at the tail of an instance's queue, at most
    scale_up_below: int = 1  # R ≥ 1: scale up when the model's instances have < R free slots
    scale_up_target: ScaleUpTarget = ScaleUpTarget.LRU  # which instance a scale-up takes
    first_token_timeout_s: float | None = 15.0  # no first token by then: fail (None: never)
    # The artifact checks the timeout only when a request arrives (so nothing is dropped
    # after the last arrival); False fires it on time.
    timeout_on_arrival: bool = False


@dataclass(frozen=True)
class SimConfig:
    """Everything one simulation needs; passed whole and stored as the run's config."""

    policy: PolicyName = PolicyName.AEGAEON  # which scheduler
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)  # synthetic arrivals
    pool: PoolConfig = field(default_factory=PoolConfig)  # the GPUs
    slo: SLOConfig = field(default_factory=SLOConfig)  # deadlines
    switch: SwitchConfig = field(default_factory=SwitchConfig)  # model-switch cost
    aegaeon: AegaeonConfig = field(default_factory=AegaeonConfig)  # Aegaeon's knobs
    serverlessllm: ServerlessLLMConfig = field(default_factory=ServerlessLLMConfig)  # SLLM's knobs
    seed: int = 0  # seeds the numpy Generator when the caller passes none
    drain_s: float = 600.0  # keep simulating this long after the last arrival, then stop
    record_events: bool = True  # keep the event log (needed for live views and replays)
    time_bins: int = 60  # resolution of the over-time series in the result
    # The Aegaeon artifact simulator's timing (core.pool.artifact): its latency fit for the
    # models it profiled on H100, every prefill/decode step and swap cut to whole
    # milliseconds, its weight sizes (14/18/26 GB) for swaps and KV memory.
    artifact_timing: bool = False

    def replace(self, **changes: Any) -> SimConfig:
        """A copy with top-level fields changed (``cfg.replace(policy=...)``)."""
        return dataclasses.replace(self, **changes)

    def with_rate(self, rate_per_model: float) -> SimConfig:
        """A copy at another per-model arrival rate (what sweeps vary)."""
        wl = dataclasses.replace(self.workload, rate_per_model=rate_per_model)
        return dataclasses.replace(self, workload=wl)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (enums as their values, tuples as lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimConfig:
        """Inverse of ``to_dict``; unknown keys raise ConfigError naming them."""
        data = dict(data)
        nested = {
            "workload": WorkloadConfig,
            "pool": PoolConfig,
            "slo": SLOConfig,
            "switch": SwitchConfig,
            "aegaeon": AegaeonConfig,
            "serverlessllm": ServerlessLLMConfig,
        }
        kwargs: dict[str, Any] = {}
        for key, sub in nested.items():
            if key in data:
                kwargs[key] = _build(sub, data.pop(key))
        top = _build(cls, data)
        return dataclasses.replace(top, **kwargs)

    @classmethod
    def from_json(cls, text: str) -> SimConfig:
        return cls.from_dict(json.loads(text))


_ENUM_FIELDS = {
    "policy": PolicyName,
    "popularity": Popularity,
    "arrival": ArrivalProcess,
    "scale_up_target": ScaleUpTarget,
}


def _build(kind: type, data: dict[str, Any]) -> Any:
    """Construct dataclass ``kind`` from a JSON dict, restoring enums and tuples."""
    if not isinstance(data, dict):
        raise ConfigError(f"{kind.__name__} must be a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown {kind.__name__} field(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in _ENUM_FIELDS:
            try:
                value = _ENUM_FIELDS[key](value)
            except ValueError:
                allowed = ", ".join(v.value for v in _ENUM_FIELDS[key])
                raise ConfigError(f"{key}={value!r} is not one of: {allowed}") from None
        elif key == "model_mix":
            value = tuple((str(name), float(w)) for name, w in value)
        values[key] = value
    return kind(**values)
