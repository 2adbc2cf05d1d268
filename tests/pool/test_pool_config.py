"""Configs round-trip through JSON; impossible inputs fail before the run with clear messages."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.pool import (
    AegaeonConfig,
    ArrivalProcess,
    ConfigError,
    PolicyName,
    PoolConfig,
    Popularity,
    SimConfig,
    Simulation,
    SLOConfig,
    SwitchConfig,
    Trace,
    TraceError,
    WorkloadConfig,
)
from core.pool.presets import PRESETS, preset


def test_default_and_custom_configs_round_trip() -> None:
    custom = SimConfig(
        policy=PolicyName.REQUEST_SRTF,
        workload=WorkloadConfig(
            num_models=7, popularity=Popularity.ZIPF, arrival=ArrivalProcess.GAMMA, cv=2.5,
            model_mix=(("yi-9b", 1.0), ("qwen2.5-14b", 3.0)),
        ),
        pool=PoolConfig(gpu="H200", num_gpus=3),
        slo=SLOConfig(5.0, 0.05),
        switch=SwitchConfig.unoptimized(),
        aegaeon=AegaeonConfig(prefill_group_cap=4),
        seed=9,
    )  # fmt: skip
    for cfg in (SimConfig(), custom):
        text = cfg.to_json()
        back = SimConfig.from_json(text)
        assert back == cfg
        assert isinstance(back.policy, PolicyName) and isinstance(back.workload.model_mix, tuple)


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_round_trip_and_validate(name: str) -> None:
    cfg = preset(name)
    assert SimConfig.from_json(cfg.to_json()) == cfg
    from core.pool.validation import validate_config

    validate_config(cfg)


def test_unknown_fields_and_values_are_named() -> None:
    with pytest.raises(ConfigError, match="unknown PoolConfig field"):
        SimConfig.from_dict({"pool": {"gpus": 3}})
    with pytest.raises(ConfigError, match="policy='fifo' is not one of"):
        SimConfig.from_dict({"policy": "fifo"})
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("nope")


def wl(**kw) -> SimConfig:
    return SimConfig(workload=dataclasses.replace(WorkloadConfig(duration_s=10), **kw))


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (SimConfig(pool=PoolConfig(num_gpus=0)), "num_gpus must be an integer ≥ 1"),
        (SimConfig(pool=PoolConfig(num_gpus=1)), "Aegaeon needs ≥ 2 GPUs"),
        (SimConfig(pool=PoolConfig(gpu="TPU")), "unknown GPU type 'TPU'"),
        (wl(rate_per_model=0.0), "rate_per_model"),
        (wl(rate_per_model=-1.0), "rate_per_model"),
        (wl(rate_per_model=float("nan")), "rate_per_model"),
        (wl(num_models=0), "num_models"),
        (wl(duration_s=0.0), "duration_s"),
        (wl(cv=0.0), "cv"),
        (wl(diurnal_amplitude=1.0), "diurnal_amplitude"),
        (wl(length_profile="books"), "unknown length_profile"),
        (wl(model_mix=(("gpt-5", 1.0),)), "unknown model 'gpt-5'"),
        (wl(model_mix=(("qwen2.5-72b", 1.0),)), "needs 145.4 GB of weights"),
        (SimConfig(slo=SLOConfig(ttft_s=0.001)), "TTFT SLO 0.001 s can never be met"),
        (SimConfig(slo=SLOConfig(tpot_s=0.005)), "TPOT SLO 0.005 s can never be met"),
        (SimConfig(slo=SLOConfig(tpot_s=-1.0)), "tpot_s"),
        (SimConfig(switch=SwitchConfig(bandwidth_gb_s=0.0)), "bandwidth_gb_s"),
        (SimConfig(pool=PoolConfig(prefill_fraction=1.0)), "prefill_fraction"),
        (SimConfig(aegaeon=AegaeonConfig(q_max_s=0.0)), "q_max_s"),
    ],
)
def test_bad_configs_fail_before_running(cfg: SimConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Simulation(cfg)


def test_model_fits_a_larger_gpu() -> None:
    """72B in FP8 (72.7 GB) runs on 141-GB H200s; in BF16 (145.4 GB) it fits no single GPU."""
    cfg = wl(model_mix=(("qwen2.5-72b-fp8", 1.0),), num_models=2)
    res = Simulation(cfg.replace(pool=PoolConfig(gpu="H200", num_gpus=2))).run()
    assert (res.num_requests, res.finished, res.failed, res.gpus_used) == (3, 3, 0, 2)
    bf16 = wl(model_mix=(("qwen2.5-72b", 1.0),), num_models=2)
    with pytest.raises(ConfigError, match="needs 145.4 GB of weights .* a H200 has 141 GB"):
        Simulation(bf16.replace(pool=PoolConfig(gpu="H200", num_gpus=2)))


def trace(**kw) -> Trace:
    base = dict(
        arrival_s=np.array([0.0, 1.0]), model=np.array([0, 0]), input_tokens=np.array([5, 5]),
        output_tokens=np.array([3, 3]), model_names=("a",), model_types=("qwen2.5-7b",),
    )  # fmt: skip
    base.update(kw)
    return Trace(**base)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            trace(
                arrival_s=np.array([]),
                model=np.array([]),
                input_tokens=np.array([]),
                output_tokens=np.array([]),
            ),
            "no requests",
        ),  # fmt: skip
        (trace(arrival_s=np.array([2.0, 1.0])), "sorted"),
        (trace(output_tokens=np.array([3, 0])), "≥ 1 output token"),
        (trace(model=np.array([0, 1])), "outside model_names"),
        (trace(model_types=("qwen2.5-72b",)), "needs 145.4 GB"),
    ],
)
def test_bad_traces_fail_before_running(bad: Trace, message: str) -> None:
    with pytest.raises((TraceError, ConfigError), match=message):
        Simulation(SimConfig(), trace=bad)
