"""The sampler's one-token steps on the decoder picked for its cache: the same trajectory.

On the CPU a GPT's steps run on :class:`NativeGPTDecoder`, on CUDA on :class:`GraphDecoder`
(run here eagerly on the CPU, as its CPU tests do); ``native=False`` keeps the plain model.
Every branch gets its own decoder, bound to its own cache.
"""

from __future__ import annotations

import pytest

from core.model.gpt_decoder import NativeGPTDecoder
from core.model.graphs import GraphDecoder
from core.model.kernels import native_kernels, native_status
from core.sampling import Sampler, SamplingConfig
from tests.conftest import missing_service

CONFIGS = [
    SamplingConfig(seed=1),
    SamplingConfig(temperature=0.8, top_k=50, top_p=0.9, seed=2),
    SamplingConfig(temperature=0.0),
]


def count_steps(monkeypatch, cls) -> list:
    """Record every ``cls.step`` call (the decoder really ran)."""
    calls, real = [], cls.step

    def step(self, token):
        calls.append(int(token))
        return real(self, token)

    monkeypatch.setattr(cls, "step", step)
    return calls


def trajectory(sampler: Sampler) -> tuple[list[int], list[int]]:
    """Tokens of 10 steps, then of a branch from step 4 that forces a token and runs on."""
    sampler.run(10)
    twin = sampler.branch(at_step=4)
    twin.force(ord("q"))
    twin.run(5)
    sampler.rewind(3)
    sampler.run(3)
    return sampler.token_ids, twin.token_ids


@pytest.mark.parametrize("config", CONFIGS)
def test_a_gpt_on_the_cpu_samples_on_the_native_decoder_with_the_same_tokens(
    model, enc, monkeypatch, config
):
    if native_kernels() is None:
        missing_service(f"native kernels unavailable: {native_status()}")
    plain = trajectory(Sampler(model, enc, "Hello!", config, native=False))
    calls = count_steps(monkeypatch, NativeGPTDecoder)
    sampler = Sampler(model, enc, "Hello!", config)
    assert trajectory(sampler) == plain
    assert len(calls) == 9 + 6 + 3  # every step but the prompt's, the branch's force too
    twin = sampler.branch()
    assert isinstance(sampler._decoder, NativeGPTDecoder)
    assert twin._decoder is not sampler._decoder and twin._decoder.cache is twin._cache


def test_the_sampler_runs_graph_decoder_steps_where_it_picks_them(model, enc, monkeypatch):
    config = SamplingConfig(temperature=0.9, seed=5)
    plain = trajectory(Sampler(model, enc, "Hello!", config, native=False))
    monkeypatch.setattr(
        "core.sampling.sampler.pick_decoder",
        lambda m, cache: GraphDecoder(m, cache, use_graphs=False),  # what CUDA gets, eagerly
    )
    calls = count_steps(monkeypatch, GraphDecoder)
    assert trajectory(Sampler(model, enc, "Hello!", config)) == plain
    assert len(calls) == 9 + 6 + 3
