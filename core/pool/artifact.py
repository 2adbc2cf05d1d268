"""The Aegaeon artifact's published traces and H100 profiles, vendored in ``data/aegaeon/``.

Copied unchanged from the public artifact of "Aegaeon: Effective GPU Pooling for Concurrent
LLM Serving on the Market" (SOSP'25; Apache-2.0, see ``data/aegaeon/NOTICE`` and
``LICENSE``). The simulator does not need them (it ships its own catalogue and fitted
coefficients); tests, ``bench/validate_aegaeon.py`` and anyone replaying a published trace
read them through these helpers::

    trace = read_artifact_trace("synth-20-0.5-1.0-1.0")  # as the artifact's simulator sees it
    prefill, decode = read_profiles(artifact_profiles("qwen2.5-7b"))
"""

from __future__ import annotations

from pathlib import Path

from core.pool.config import ConfigError, SwitchConfig
from core.pool.trace_io import DEFAULT_MIX, read_trace_csv
from core.pool.workload import Trace

ARTIFACT_DIR = Path(__file__).resolve().parent / "data" / "aegaeon"
PROFILED_MODELS = ("qwen2.5-7b", "yi-9b", "llama2-13b")
WINDOW_S = 120.0  # the artifact's simulator replays the first two minutes of a trace


def artifact_trace_names() -> list[str]:
    """Names of the vendored traces (``synth-<M>-<rate>-<inscale>-<outscale>``), sorted."""
    return sorted(p.stem for p in (ARTIFACT_DIR / "traces").glob("synth-*.csv"))


def artifact_trace(name: str) -> Path:
    """The CSV file of the vendored trace ``name``; ConfigError naming the choices if none."""
    path = ARTIFACT_DIR / "traces" / f"{name}.csv"
    if name not in artifact_trace_names():
        raise ConfigError(
            f"no artifact trace {name!r}; the vendored ones are "
            + ", ".join(artifact_trace_names())
        )
    return path


def artifact_profiles(model: str) -> Path:
    """The folder of ``model``'s H100 profiles (``i<len>b<batch>.json``)."""
    if model not in PROFILED_MODELS:
        raise ConfigError(f"the artifact profiles {', '.join(PROFILED_MODELS)}, not {model!r}")
    return ARTIFACT_DIR / "profiles" / model


def read_artifact_trace(name: str) -> Trace:
    """The vendored trace ``name`` as the artifact's simulator replays it: its first 120 s,
    market models mapped cyclically onto the 6:2:2 mix in order of first appearance (model n
    gets Qwen2.5-7B for n mod 10 < 6, Yi-9B for 6–7, Llama-2-13B for 8–9). Rows are taken as
    they are (the artifact redraws lengths; see docs/pool-results.md)."""
    return read_trace_csv(artifact_trace(name), model_mix=DEFAULT_MIX, until_s=WINDOW_S, cycle=True)


def artifact_switch() -> SwitchConfig:
    """The artifact simulator's model swap: weight bytes / 16 GB/s, no overhead, no prefetch
    (what its ServerlessLLM pays)."""
    return SwitchConfig(bandwidth_gb_s=16.0, overhead_s=0.0, overhead_s_per_gb=0.0, prefetch=False)
