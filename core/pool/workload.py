"""Synthetic multi-model request traces: who calls which model when, with how many tokens.

Follows the Aegaeon paper's evaluation (§6.1): M market models with per-model arrivals
(Poisson, or Gamma with shape 1/CV² for burstiness as in MuxServe), equal rates or a skew —
rate ∝ (i+1)^−α, or Alibaba's split where 94.1% of models get 1.35% of the requests (§2) —
optional bursts and a diurnal swing (by thinning), and ShareGPT-like prompt/response lengths
drawn from a quantile table (``data/lengths.json``). Each market model is served by a
catalogue model assigned in the ``model_mix`` ratio (the paper's 6:2:2). All randomness comes
from the ``numpy.random.Generator`` passed in. CSV import/export lives in ``trace_io.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.pool.catalogue import length_profiles, model_spec
from core.pool.config import ArrivalProcess, ConfigError, Popularity, TraceError, WorkloadConfig


@dataclass(frozen=True, eq=False)
class Trace:
    """Requests sorted by arrival; arrays are index-aligned (one entry per request)."""

    arrival_s: np.ndarray  # float64 (N,), non-decreasing arrival times
    model: np.ndarray  # int64 (N,), index into model_names
    input_tokens: np.ndarray  # int64 (N,), prompt lengths ≥ 1
    output_tokens: np.ndarray  # int64 (N,), response lengths ≥ 1 (the first comes from prefill)
    model_names: tuple[str, ...]  # market model names, e.g. "m07" or "synth_model_07"
    model_types: tuple[str, ...]  # catalogue model serving each market model

    def __len__(self) -> int:
        return int(self.arrival_s.shape[0])

    @property
    def num_models(self) -> int:
        return len(self.model_names)

    @property
    def duration_s(self) -> float:
        return float(self.arrival_s[-1]) if len(self) else 0.0

    def head(self, until_s: float) -> Trace:
        """Only the requests arriving before ``until_s`` (the artifact replays 120 s)."""
        keep = self.arrival_s < until_s
        return Trace(
            self.arrival_s[keep], self.model[keep], self.input_tokens[keep],
            self.output_tokens[keep], self.model_names, self.model_types,
        )  # fmt: skip

    def check(self) -> None:
        """Raise TraceError unless the trace is non-empty, sorted and consistent."""
        n = len(self)
        if n == 0:
            raise TraceError("the trace has no requests: nothing to simulate")
        arrays = (self.model, self.input_tokens, self.output_tokens)
        if any(a.shape != (n,) for a in arrays):
            raise TraceError("trace columns have different lengths")
        if not np.all(np.isfinite(self.arrival_s)) or self.arrival_s[0] < 0:
            raise TraceError("arrival times must be finite and ≥ 0")
        if np.any(np.diff(self.arrival_s) < 0):
            raise TraceError("arrival times must be sorted (non-decreasing)")
        if self.input_tokens.min() < 1 or self.output_tokens.min() < 1:
            raise TraceError("every request needs ≥ 1 input token and ≥ 1 output token")
        if self.model.min() < 0 or self.model.max() >= self.num_models:
            raise TraceError("a request names a model index outside model_names")
        if len(self.model_types) != self.num_models:
            raise TraceError("model_types must give one catalogue model per market model")


def assign_types(
    num_models: int, mix: tuple[tuple[str, float], ...], cycle: bool = False
) -> tuple[str, ...]:
    """Catalogue model per market model, in contiguous blocks of the mix ratio, or with
    ``cycle`` repeating one period of the (whole-number) ratio, as the Aegaeon artifact
    maps its traces' models (model n gets the period's entry n mod 10 for 6:2:2).

    Example: 20 models, mix 6:2:2 -> blocks: 12× qwen2.5-7b, 4× yi-9b, 4× llama2-13b;
    cycle: (6× qwen2.5-7b, 2× yi-9b, 2× llama2-13b) twice.
    """
    if not mix:
        raise ConfigError("model_mix is empty: name at least one catalogue model")
    weights = np.array([w for _, w in mix], dtype=float)
    if np.any(weights < 0) or weights.sum() <= 0:
        raise ConfigError("model_mix weights must be ≥ 0 and not all zero")
    if cycle:
        if np.any(weights != np.round(weights)) or weights.sum() > 1_000:
            raise ConfigError("a cyclic model mapping needs whole-number weights (sum ≤ 1,000)")
        period = [name for (name, _), w in zip(mix, weights, strict=True) for _ in range(int(w))]
        return tuple(period[n % len(period)] for n in range(num_models))
    exact = weights / weights.sum() * num_models
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: num_models - counts.sum()]:
        counts[i] += 1  # largest remainder
    return tuple(name for (name, _), c in zip(mix, counts, strict=True) for _ in range(c))


def model_rates(wl: WorkloadConfig) -> np.ndarray:
    """Mean request rate of each market model (req/s), summing to ``wl.total_rate``."""
    m, total = wl.num_models, wl.total_rate
    if wl.popularity is Popularity.UNIFORM:
        weights = np.ones(m)
    elif wl.popularity is Popularity.ZIPF:
        weights = (np.arange(m) + 1.0) ** -wl.zipf_alpha
    else:
        cold = min(m - 1, int(round(m * wl.cold_model_share)))
        if cold <= 0:
            weights = np.ones(m)
        else:
            hot = m - cold
            weights = np.r_[
                np.full(hot, (1 - wl.cold_traffic_share) / hot),
                np.full(cold, wl.cold_traffic_share / cold),
            ]
    return total * weights / weights.sum()


def measured_rates(trace: Trace) -> list[float]:
    """Each model's arrival rate in a trace (req/s over its duration), for E[m]."""
    window = max(trace.duration_s, 1e-9)
    return (np.bincount(trace.model, minlength=trace.num_models) / window).tolist()


def rate_shape(wl: WorkloadConfig, t: np.ndarray) -> np.ndarray:
    """Multiplier of the base rate at times ``t`` (diurnal swing × bursts)."""
    f = 1.0 + wl.diurnal_amplitude * np.sin(2 * np.pi * t / wl.diurnal_period_s)
    if wl.burst_factor != 1.0:
        f = f * np.where(np.mod(t, wl.burst_period_s) < wl.burst_length_s, wl.burst_factor, 1.0)
    return f


def _arrivals(wl: WorkloadConfig, rate: float, rng: np.random.Generator) -> np.ndarray:
    """One model's arrival times in [0, duration) by generating at peak rate and thinning."""
    peak = (1.0 + wl.diurnal_amplitude) * max(wl.burst_factor, 1.0)
    lam = rate * peak
    expected = lam * wl.duration_s
    chunk = int(expected + 6 * np.sqrt(expected + 1) + 16)
    times: list[np.ndarray] = []
    start = 0.0
    while start < wl.duration_s:
        if wl.arrival is ArrivalProcess.POISSON:
            gaps = rng.exponential(1.0 / lam, chunk)
        else:
            cv2 = wl.cv**2
            gaps = rng.gamma(1.0 / cv2, cv2 / lam, chunk)
        t = start + np.cumsum(gaps)
        times.append(t)
        start = float(t[-1])
    t = np.concatenate(times)
    t = t[t < wl.duration_s]
    if peak != 1.0:
        t = t[rng.random(t.shape[0]) * peak < rate_shape(wl, t)]
    return t


def sample_lengths(
    profile: str, n: int, rng: np.random.Generator, scale: float = 1.0, which: str = "input"
) -> np.ndarray:
    """Draw ``n`` lengths from a quantile table (log-linear between knots), times ``scale``."""
    try:
        table = length_profiles()[profile]
    except KeyError:
        known = ", ".join(length_profiles())
        raise ConfigError(f"unknown length profile {profile!r}; known: {known}") from None
    q = np.asarray(table["quantiles"], dtype=float)
    v = np.log(np.asarray(table[which], dtype=float))
    draws = np.exp(np.interp(rng.random(n) * 100.0, q, v)) * scale
    return np.maximum(1, np.rint(draws)).astype(np.int64)


def clip_to_context(
    inputs: np.ndarray, outputs: np.ndarray, limits: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Shrink prompts (then responses) so prompt + response ≤ the model's context limit."""
    outputs = np.minimum(outputs, limits // 2)
    inputs = np.maximum(1, np.minimum(inputs, limits - outputs))
    return inputs, outputs


def generate_trace(wl: WorkloadConfig, rng: np.random.Generator) -> Trace:
    """A seeded synthetic trace for ``wl`` (raises ConfigError for impossible settings)."""
    rates = model_rates(wl)
    per_model = [_arrivals(wl, float(r), rng) for r in rates]
    arrival = np.concatenate(per_model)
    model = np.concatenate([np.full(len(t), i, dtype=np.int64) for i, t in enumerate(per_model)])
    order = np.argsort(arrival, kind="stable")
    arrival, model = arrival[order], model[order]
    n = arrival.shape[0]
    if n == 0:
        raise TraceError(
            f"the workload produced no requests ({wl.total_rate:g} req/s for {wl.duration_s:g} s):"
            " raise the rate or the duration"
        )
    inputs = sample_lengths(wl.length_profile, n, rng, wl.input_scale, "input")
    outputs = sample_lengths(wl.length_profile, n, rng, wl.output_scale, "output")
    outputs = np.maximum(outputs, wl.min_output_tokens)
    types = assign_types(wl.num_models, wl.model_mix)
    limits = np.array([model_spec(t).max_context for t in types], dtype=np.int64)[model]
    inputs, outputs = clip_to_context(inputs, outputs, limits)
    names = tuple(f"m{i:02d}" for i in range(wl.num_models))
    return Trace(arrival, model, inputs, outputs, names, types)
