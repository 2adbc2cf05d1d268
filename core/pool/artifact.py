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

import csv
import dataclasses
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

import numpy as np

from core.pool.catalogue import ModelSpec
from core.pool.config import ConfigError, SimConfig, SwitchConfig
from core.pool.latency import LatencyModel, WholeMsLatency
from core.pool.trace_io import DEFAULT_MIX, parse_clock, read_trace_csv
from core.pool.workload import Trace, assign_types

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


def artifact_switch() -> SwitchConfig:
    """The artifact simulator's model swap: weight bytes / 16 GB/s, no overhead, no prefetch
    (what its ServerlessLLM pays)."""
    return SwitchConfig(bandwidth_gb_s=16.0, overhead_s=0.0, overhead_s_per_gb=0.0, prefetch=False)


# ---------------------------------------------------------------- the artifact's simulator
# What the artifact's simulator assumes (its ``ModelType``): weights in GB (swap = weights /
# 16 GB/s, cut to whole ms) and the context limit its trace reader shrinks requests to.
ARTIFACT_WEIGHTS_GB = MappingProxyType({"qwen2.5-7b": 14.0, "yi-9b": 18.0, "llama2-13b": 26.0})
ARTIFACT_MAX_SEQ = MappingProxyType({"qwen2.5-7b": 8192, "yi-9b": 4096, "llama2-13b": 4096})
_LENGTHS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_BATCHES = (1, 2, 4, 8, 16, *range(30, 210, 10))


@cache
def artifact_latency(model: str) -> LatencyModel:
    """The artifact simulator's latency fit for ``model`` on H100: ordinary least squares
    (with intercept, no sign constraint) on its training profiles — every (length, batch)
    with length·batch ≤ the context limit and (length + 10)·batch < 10,240, leaving out
    every third as its test set — prefill on (Σlen, Σlen²), decode on (Σcontext, batch)."""
    folder = artifact_profiles(model)
    grid = [
        (n, b)
        for n in _LENGTHS
        for b in _BATCHES
        if n * b <= ARTIFACT_MAX_SEQ[model] and (n + 10) * b < 10_240
    ]
    pre, dec = [], []
    for k, (n, b) in enumerate(grid):
        path = folder / f"i{n}b{b}.json"
        if k % 3 == 0 or not path.exists():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        pre.append((1.0, n * b, n * n * b, float(data["avg_prefill_latency"])))
        dec.append((1.0, n * b, b, float(data["avg_decode_latency"])))
    fits = []
    for rows in (np.array(pre), np.array(dec)):
        coef, *_ = np.linalg.lstsq(rows[:, :3], rows[:, 3], rcond=None)
        fits.append(tuple(float(c) for c in coef))
    return ArtifactLatency(fits[0], fits[1], "artifact")


@dataclass(frozen=True)
class ArtifactLatency(WholeMsLatency):
    """The artifact's fit as its simulator evaluates it: whole milliseconds, and a decode step
    whose batch-size term always sees −1 (its ``DecodeEstimator.predict`` is called with
    ``batch_size=-1`` and a list of context lengths, and keeps that −1 as the batch size)."""

    def raw_decode_s(self, sum_context: float, batch: int) -> float:
        return LatencyModel.decode_s(self, sum_context, -1)


def read_artifact_trace(name: str, redraw: bool = False) -> Trace:
    """The vendored trace ``name`` as the artifact's simulator replays it: its first 120 s,
    market models mapped cyclically onto the 6:2:2 mix in order of first appearance (model n
    gets Qwen2.5-7B for n mod 10 < 6, Yi-9B for 6–7, Llama-2-13B for 8–9).

    ``redraw=False`` takes the rows as they are (lengths clipped to Glassbox's context
    limits). ``redraw=True`` builds the artifact's very requests: arrival times cut to whole
    milliseconds, and each request's (input, output) pair drawn again at random from the
    window's own pairs — ``numpy.random.default_rng(0)``, one ``choice`` over the pair indices
    for all requests, handed out model by model in order of first appearance — then shrunk
    by max_seq / max(input + output + 32, 16,384) when longer than the artifact's context
    limit (and kept ≥ 1 token each).
    """
    if not redraw:
        return read_trace_csv(
            artifact_trace(name), model_mix=DEFAULT_MIX, until_s=WINDOW_S, cycle=True
        )
    rows = list(csv.reader(artifact_trace(name).read_text(encoding="utf-8").splitlines()))
    arrivals: dict[str, list[int]] = {}
    pairs: list[tuple[int, int]] = []
    for row in rows[1:]:
        ms = int(parse_clock(row[0]) * 1000)
        if ms >= WINDOW_S * 1000:
            break  # the artifact stops at the first row past the window
        pairs.append((int(row[2]), int(row[3])))
        arrivals.setdefault(row[1].strip(), []).append(ms)
    names = tuple(arrivals)
    types = assign_types(len(names), DEFAULT_MIX, cycle=True)
    pick = np.random.default_rng(0).choice(np.arange(0, len(pairs), 1), size=len(pairs))
    reqs: list[tuple[int, int, int, int]] = []
    k = 0
    for m, model in enumerate(names):
        limit = ARTIFACT_MAX_SEQ[types[m]]
        for ms in arrivals[model]:
            i, o = pairs[pick[k]]
            if i + o > limit:
                scale = limit / max(i + o + 32, 16_384)
                i, o = int(i * scale), max(1, int(o * scale))
            reqs.append((ms, m, max(1, i), o))
            k += 1
    reqs.sort(key=lambda r: r[0])
    a = np.array(reqs, dtype=np.int64)
    trace = Trace(a[:, 0] / 1000.0, a[:, 1], a[:, 2], a[:, 3], names, types)
    trace.check()
    return trace


def artifact_faithful(config: SimConfig) -> SimConfig:
    """``config`` as the artifact's simulator would run it: 16 H100s, its timing
    (``SimConfig.artifact_timing``), its swap cost, and ServerlessLLM's first-token timeout
    checked only when a request arrives."""
    sllm = dataclasses.replace(config.serverlessllm, timeout_on_arrival=True)
    return config.replace(
        pool=dataclasses.replace(config.pool, gpu="H100", num_gpus=16),
        switch=artifact_switch(),
        serverlessllm=sllm,
        artifact_timing=True,
    )


def artifact_timing(
    specs: list[ModelSpec], latency: dict[str, LatencyModel], gpu: str
) -> tuple[list[ModelSpec], dict[str, LatencyModel]]:
    """``SimConfig.artifact_timing``: the artifact's weight sizes and latency fits (on H100,
    for the models it profiled; other pairs keep their coefficients), every step cut to
    whole milliseconds."""
    specs = [
        dataclasses.replace(s, weight_gb=ARTIFACT_WEIGHTS_GB.get(s.name, s.weight_gb))
        for s in specs
    ]
    out = {
        name: artifact_latency(name)
        if gpu == "H100" and name in PROFILED_MODELS
        else WholeMsLatency(lat.prefill, lat.decode, lat.source)
        for name, lat in latency.items()
    }
    return specs, out
