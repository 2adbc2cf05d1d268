"""Checks that a configuration and trace can be simulated, run BEFORE any event is processed.

Each problem raises ``ConfigError`` (or ``TraceError``) with a message a user can act on:
which field, what value, what would work. Covered: unknown names, zero or negative counts
and rates, fractions out of range, a model whose weights do not fit in the GPU's memory
(tensor parallelism is not simulated), and SLOs no token could ever meet (a TTFT below the
fastest possible prefill, a TPOT below the fastest possible decode step).
"""

from __future__ import annotations

import math

from core.pool.catalogue import fits, gpu_spec, length_profiles, model_spec
from core.pool.config import ConfigError, PolicyName, ScaleUpTarget, SimConfig
from core.pool.latency import latency_model
from core.pool.workload import Trace


def _positive(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}")


def _fraction(name: str, value: float, low_open: bool = True, high_open: bool = False) -> None:
    ok = (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not ok:
        raise ConfigError(
            f"{name} must be in {'(' if low_open else '['}0, 1{')' if high_open else ']'}, got {value!r}"
        )


def check_models(cfg: SimConfig, types: tuple[str, ...] | list[str]) -> None:
    """Every catalogue model must fit on the pool's GPU and admit SLOs it could ever meet."""
    gpu = gpu_spec(cfg.pool.gpu)
    for name in sorted(set(types)):
        spec = model_spec(name)
        if not fits(spec, gpu):
            raise ConfigError(
                f"model {name} needs {spec.weight_gb:g} GB of weights (plus KV cache) but a "
                f"{gpu.name} has {gpu.memory_gb:g} GB: pick a larger GPU or a smaller model "
                "(tensor parallelism is not simulated)"
            )
        lat = latency_model(name, gpu.name)
        fastest_prefill = lat.prefill_s(1, 1)
        if cfg.slo.ttft_s <= fastest_prefill:
            raise ConfigError(
                f"TTFT SLO {cfg.slo.ttft_s:g} s can never be met: prefilling even one token of "
                f"{name} on {gpu.name} takes {fastest_prefill * 1e3:.1f} ms"
            )
        fastest_step = lat.decode_s(1, 1)
        if cfg.slo.tpot_s <= fastest_step:
            raise ConfigError(
                f"TPOT SLO {cfg.slo.tpot_s:g} s can never be met: one decode step of {name} "
                f"on {gpu.name} takes {fastest_step * 1e3:.1f} ms even at batch 1"
            )


def validate_config(cfg: SimConfig) -> None:
    """Raise ConfigError for anything that makes ``cfg`` impossible to simulate."""
    if not isinstance(cfg.policy, PolicyName):
        raise ConfigError(f"policy must be a PolicyName, got {cfg.policy!r}")
    pool, wl, slo, sw, ae = cfg.pool, cfg.workload, cfg.slo, cfg.switch, cfg.aegaeon
    gpu_spec(pool.gpu)
    if not isinstance(pool.num_gpus, int) or pool.num_gpus < 1:
        raise ConfigError(f"num_gpus must be an integer ≥ 1, got {pool.num_gpus!r}")
    if cfg.policy is PolicyName.AEGAEON and pool.num_gpus < 2:
        raise ConfigError("Aegaeon needs ≥ 2 GPUs: at least one prefill and one decode instance")
    _fraction("prefill_fraction", pool.prefill_fraction, high_open=True)
    _fraction("kv_memory_fraction", pool.kv_memory_fraction)
    _fraction("static_kv_reserve", pool.static_kv_reserve, low_open=False, high_open=True)
    if not isinstance(pool.max_batch_size, int) or pool.max_batch_size < 1:
        raise ConfigError(f"max_batch_size must be an integer ≥ 1, got {pool.max_batch_size!r}")
    if not isinstance(wl.num_models, int) or wl.num_models < 1:
        raise ConfigError(f"num_models must be an integer ≥ 1, got {wl.num_models!r}")
    _positive("rate_per_model (req/s)", wl.rate_per_model)
    _positive("duration_s", wl.duration_s)
    _positive("cv", wl.cv)
    _positive("burst_factor", wl.burst_factor)
    _positive("burst_period_s", wl.burst_period_s)
    _positive("diurnal_period_s", wl.diurnal_period_s)
    _positive("input_scale", wl.input_scale)
    _positive("output_scale", wl.output_scale)
    if not 0 <= wl.diurnal_amplitude < 1:
        raise ConfigError(f"diurnal_amplitude must be in [0, 1), got {wl.diurnal_amplitude!r}")
    if not 0 <= wl.burst_length_s <= wl.burst_period_s:
        raise ConfigError("burst_length_s must be between 0 and burst_period_s")
    if wl.zipf_alpha < 0:
        raise ConfigError(f"zipf_alpha must be ≥ 0, got {wl.zipf_alpha!r}")
    _fraction("cold_model_share", wl.cold_model_share, high_open=True)
    _fraction("cold_traffic_share", wl.cold_traffic_share, high_open=True)
    if not isinstance(wl.min_output_tokens, int) or wl.min_output_tokens < 1:
        raise ConfigError("min_output_tokens must be an integer ≥ 1")
    if wl.length_profile not in length_profiles():
        known = ", ".join(length_profiles())
        raise ConfigError(f"unknown length_profile {wl.length_profile!r}; known: {known}")
    _positive("ttft_s (TTFT SLO)", slo.ttft_s)
    _positive("tpot_s (TPOT SLO)", slo.tpot_s)
    _positive("switch bandwidth_gb_s", sw.bandwidth_gb_s)
    _positive("switch kv_bandwidth_gb_s", sw.kv_bandwidth_gb_s)
    if sw.overhead_s < 0 or sw.overhead_s_per_gb < 0:
        raise ConfigError("switch overheads must be ≥ 0")
    if not isinstance(ae.prefill_group_cap, int) or ae.prefill_group_cap < 1:
        raise ConfigError("prefill_group_cap must be an integer ≥ 1")
    _positive("q_max_s", ae.q_max_s)
    _positive("alpha_floor", ae.alpha_floor)
    _check_serverlessllm(cfg)
    if cfg.drain_s < 0 or not math.isfinite(cfg.drain_s):
        raise ConfigError(f"drain_s must be ≥ 0, got {cfg.drain_s!r}")
    if not isinstance(cfg.time_bins, int) or cfg.time_bins < 1:
        raise ConfigError("time_bins must be an integer ≥ 1")
    check_models(cfg, [name for name, _ in wl.model_mix])


def _check_serverlessllm(cfg: SimConfig) -> None:
    sl = cfg.serverlessllm
    if not isinstance(sl.queue_cap, int) or sl.queue_cap < 1:
        raise ConfigError(f"serverlessllm queue_cap must be an integer ≥ 1, got {sl.queue_cap!r}")
    if not isinstance(sl.scale_up_below, int) or sl.scale_up_below < 1:
        raise ConfigError(
            f"serverlessllm scale_up_below must be an integer ≥ 1, got {sl.scale_up_below!r}"
        )
    try:
        ScaleUpTarget(sl.scale_up_target)
    except ValueError:
        allowed = ", ".join(v.value for v in ScaleUpTarget)
        raise ConfigError(
            f"serverlessllm scale_up_target={sl.scale_up_target!r} is not one of: {allowed}"
        ) from None
    timeout = sl.first_token_timeout_s
    if timeout is not None and not (timeout > 0 and math.isfinite(timeout)):
        raise ConfigError(
            f"serverlessllm first_token_timeout_s must be > 0 seconds or None, got {timeout!r}"
        )


def validate_trace(cfg: SimConfig, trace: Trace) -> None:
    """Raise TraceError/ConfigError unless ``trace`` can run under ``cfg``."""
    trace.check()
    check_models(cfg, trace.model_types)
