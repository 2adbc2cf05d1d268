"""Named scenarios from the Aegaeon paper (and MuxServe's skewed workloads) as SimConfigs.

Each preset is a function of nothing that returns a fresh ``SimConfig``; ``preset(name)``
looks one up and ``PRESETS`` lists them with a one-line description for menus. Paper
setups (§6.1): per-model Poisson arrivals at equal rates, ShareGPT lengths, models 6:2:2
Qwen2.5-7B / Yi-9B / Llama-2-13B, 16 GPUs (2 nodes × 8), TTFT 10 s, TPOT 0.1 s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

from core.pool.config import (
    ArrivalProcess,
    ConfigError,
    PolicyName,
    PoolConfig,
    Popularity,
    SimConfig,
    SLOConfig,
    SwitchConfig,
    WorkloadConfig,
)

_MARKET_MIX = (
    ("qwen1.5-1.8b", 2.0),
    ("qwen2.5-7b", 4.0),
    ("yi-9b", 1.0),
    ("llama2-13b", 1.0),
    ("qwen2.5-14b", 2.0),
)


def _paper(models: int, rate: float, duration: float = 120.0) -> SimConfig:
    wl = WorkloadConfig(num_models=models, rate_per_model=rate, duration_s=duration)
    return SimConfig(workload=wl, pool=PoolConfig(gpu="H800", num_gpus=16))


@dataclass(frozen=True)
class Preset:
    """A named scenario."""

    name: str  # menu key
    description: str  # one line for a menu
    build: Callable[[], SimConfig]  # makes the config


def _alibaba() -> SimConfig:
    wl = WorkloadConfig(
        num_models=100, rate_per_model=0.1, duration_s=600.0, popularity=Popularity.ALIBABA,
        model_mix=_MARKET_MIX,
    )  # fmt: skip
    return SimConfig(workload=wl, pool=PoolConfig(gpu="H20", num_gpus=16))


def _zipf() -> SimConfig:
    wl = WorkloadConfig(
        num_models=32, rate_per_model=0.15, duration_s=300.0, popularity=Popularity.ZIPF,
        zipf_alpha=0.9,
    )  # fmt: skip
    return SimConfig(workload=wl, pool=PoolConfig(gpu="H100", num_gpus=16))


def _bursty() -> SimConfig:
    wl = WorkloadConfig(
        num_models=40, rate_per_model=0.1, duration_s=600.0, arrival=ArrivalProcess.GAMMA,
        cv=4.0, burst_factor=3.0, burst_period_s=300.0, burst_length_s=30.0,
    )  # fmt: skip
    return SimConfig(workload=wl, pool=PoolConfig(gpu="H100", num_gpus=16))


def _theorem() -> SimConfig:
    wl = WorkloadConfig(num_models=100, rate_per_model=0.037, duration_s=3600.0)
    return SimConfig(
        policy=PolicyName.DEDICATED, workload=wl, pool=PoolConfig(num_gpus=100),
        record_events=False,
    )  # fmt: skip


PRESETS: MappingProxyType[str, Preset] = MappingProxyType(
    {
        p.name: p
        for p in (
            Preset("paper-40x0.1", "Paper: 40 models × 0.1 req/s on 16 H800s", lambda: _paper(40, 0.1)),
            Preset("paper-80x0.1", "Paper: 80 models × 0.1 req/s on 16 H800s", lambda: _paper(80, 0.1)),
            Preset("paper-20x0.5", "Paper: 20 models × 0.5 req/s on 16 H800s", lambda: _paper(20, 0.5)),
            Preset("paper-40x0.3", "Paper: 40 models × 0.3 req/s (a rate sweep's middle)", lambda: _paper(40, 0.3)),
            Preset(
                "paper-tight-slo", "Paper: 40 × 0.1 with 0.5× SLOs (TTFT 5 s, TPOT 50 ms)",
                lambda: _paper(40, 0.1).replace(slo=SLOConfig().scaled(0.5)),
            ),
            Preset(
                "paper-2x-output", "Paper: 40 × 0.1 with responses twice as long",
                lambda: _paper(40, 0.1).replace(workload=WorkloadConfig(num_models=40, output_scale=2.0)),
            ),
            Preset("alibaba-market", "Alibaba's market: 100 models, 94% of them get 1.35% of requests", _alibaba),
            Preset("zipf-0.9", "MuxServe skew: rate ∝ (i+1)^-0.9 over 32 models", _zipf),
            Preset("bursty", "Gamma arrivals (CV 4) with 3× bursts every 5 min", _bursty),
            Preset("theorem-3.1", "Theorem 3.1: 100 models × 0.037 req/s, dedicated, 1 h", _theorem),
            Preset(
                "serverlessllm-32x0.1",
                "Figure 11(a): 32 × 0.1 req/s, the artifact's ServerlessLLM (binds on arrival)",
                lambda: _paper(32, 0.1).replace(policy=PolicyName.SERVERLESSLLM),
            ),
            Preset(
                "unoptimized-switch", "40 × 0.1 with a stock engine restart per switch",
                lambda: _paper(40, 0.1).replace(switch=SwitchConfig.unoptimized()),
            ),
        )
    }
)  # fmt: skip


def preset(name: str) -> SimConfig:
    """A fresh config for the named scenario (ConfigError lists the names if unknown)."""
    try:
        return PRESETS[name].build()
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None
