"""The Aegaeon artifact's published traces and H100 profiles, vendored in ``data/aegaeon/``.

Copied unchanged from the public artifact of "Aegaeon: Effective GPU Pooling for Concurrent
LLM Serving on the Market" (SOSP'25; Apache-2.0, see ``data/aegaeon/NOTICE`` and
``LICENSE``). The simulator does not need them (it ships its own catalogue and fitted
coefficients); tests, ``bench/validate_aegaeon.py`` and anyone replaying a published trace
read them through these helpers::

    trace = read_trace_csv(artifact_trace("synth-20-0.5-1.0-1.0"), until_s=120.0)
    prefill, decode = read_profiles(artifact_profiles("qwen2.5-7b"))
"""

from __future__ import annotations

from pathlib import Path

from core.pool.config import ConfigError

ARTIFACT_DIR = Path(__file__).resolve().parent / "data" / "aegaeon"
PROFILED_MODELS = ("qwen2.5-7b", "yi-9b", "llama2-13b")


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
