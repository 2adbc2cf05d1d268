"""Measure what the KV cache buys: the same trajectory decoded with and without it.

Without a cache every step re-runs the model over the whole prefix (book ch. 4.7); with a
cache a step feeds only the newest token (its keys and values for earlier positions are
kept). The tokens must be identical; only the per-step latency differs. The page shows the
two latency curves and the benchmark (bench/bench_sampling.py) reports their medians.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import tiktoken

from core.model import GPT, Llama
from core.sampling.config import SamplingConfig
from core.sampling.sampler import Sampler


@dataclass(frozen=True)
class CacheComparison:
    """Per-step latencies of one trajectory decoded both ways."""

    cached_ms: list[float]  # latency of each step with the KV cache (step 0 includes prefill)
    uncached_ms: list[float]  # latency of each step recomputing the whole prefix
    tokens_equal: bool  # both ways chose exactly the same tokens
    tokens: list[int]  # the tokens (of the cached run)

    @property
    def median_cached_ms(self) -> float:
        """Median decode-step latency with the cache (the prefill step 0 excluded)."""
        return statistics.median(self.cached_ms[1:] or self.cached_ms)

    @property
    def median_uncached_ms(self) -> float:
        return statistics.median(self.uncached_ms[1:] or self.uncached_ms)

    @property
    def speedup(self) -> float:
        return self.median_uncached_ms / max(self.median_cached_ms, 1e-9)


def compare_cache(
    model: GPT | Llama,
    tokenizer: tiktoken.Encoding,
    prompt: str,
    config: SamplingConfig,
    n_steps: int,
    top_n: int = 10,
) -> CacheComparison:
    """Decode ``n_steps`` tokens twice (cache on, then off) from the same prompt and seed."""
    on = Sampler(model, tokenizer, prompt, config, use_cache=True, top_n=top_n)
    off = Sampler(model, tokenizer, prompt, config, use_cache=False, top_n=top_n)
    on.run(n_steps)
    off.run(n_steps)
    return CacheComparison(
        cached_ms=[r.latency_ms for r in on.records],
        uncached_ms=[r.latency_ms for r in off.records],
        tokens_equal=on.token_ids == off.token_ids,
        tokens=on.token_ids,
    )
