"""Position views (learned table, rotary frequencies) and contextual hidden states."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.embeddings import (
    EmbeddingError,
    LearnedPositions,
    RotaryPositions,
    divergence,
    find_term,
    learned_positions,
    position_view,
    project_contexts,
    resolve_term,
    rotary_positions,
    run_context,
)
from core.embeddings.contextual import MAX_CONTEXT_TOKENS
from core.model.llama import Llama, LlamaConfig, rotary_tables
from tests.sampling.helpers import byte_encoding, tiny_gpt


def test_learned_positions_similarity_and_components():
    # positions on a circle: neighbours alike, the two PCs are cos and sin of the angle
    angles = torch.arange(16) * (2 * math.pi / 16)
    table = torch.stack([angles.cos(), angles.sin(), torch.zeros(16)], 1)
    view = learned_positions(table, k=2)
    assert view.similarity.shape == (16, 16)
    assert view.similarity[0, 0] == pytest.approx(1.0)
    assert view.similarity[0, 8] == pytest.approx(-1.0, abs=1e-6)
    assert view.similarity[3, 4] == pytest.approx(math.cos(2 * math.pi / 16), abs=1e-6)
    assert sum(view.explained) == pytest.approx(1.0)
    radii = np.linalg.norm(view.components, axis=1)
    assert radii == pytest.approx(np.ones(16), abs=1e-6)


def test_learned_positions_are_capped():
    view = learned_positions(torch.randn(40, 8, generator=torch.Generator().manual_seed(0)), 3, 10)
    assert view.shown == 10 and view.total == 40 and view.similarity.shape == (10, 10)


def test_rotary_frequencies_match_the_model_tables():
    config = LlamaConfig(vocab_size=50, context_length=32, n_layer=1, n_head=2, n_kv_head=1,
                         n_embd=16, ffn_hidden=32, rope_theta=10_000.0)  # fmt: skip
    view = rotary_positions(config.rope_theta, config.head_dim, positions=32)
    cos, _ = rotary_tables(config)  # (T, hd): pairs (i, i + hd/2) share an angle
    assert view.cosines == pytest.approx(cos[:, : config.head_dim // 2].numpy(), abs=1e-6)
    assert view.frequencies[0] == 1.0
    assert view.wavelengths[-1] == pytest.approx(2 * math.pi * 10_000 ** (6 / 8))
    with pytest.raises(EmbeddingError, match="even"):
        rotary_positions(10_000.0, 7)


def test_position_view_fits_the_model():
    assert isinstance(position_view(tiny_gpt()), LearnedPositions)
    config = LlamaConfig(vocab_size=50, context_length=16, n_layer=1, n_head=2, n_kv_head=1,
                         n_embd=16, ffn_hidden=32)  # fmt: skip
    assert isinstance(position_view(Llama(config)), RotaryPositions)
    with pytest.raises(EmbeddingError, match="neither"):
        position_view(torch.nn.Linear(2, 2))


def test_contexts_paths_and_divergence():
    model, enc = tiny_gpt(context_length=64).eval(), byte_encoding()
    a = run_context(model, enc, "a bank by a river")
    b = run_context(model, enc, "a bank of money")
    L = model.config.n_layer
    assert a.states.shape == (L + 1, len("a bank by a river"), 32)
    assert a.tokens[1] == "·"
    paths, explained = project_contexts([a, b], dims=2)
    assert paths[0].shape == (L + 1, 17, 2) and paths[1].shape == (L + 1, 15, 2)
    assert 0 < sum(explained) <= 1
    term = resolve_term(" bank", enc, 257)
    i, j = find_term(a, term), find_term(b, term)
    assert (i, j) == (5, 5)  # the last letter of " bank"
    cos = divergence(a, i, b, j)
    # the same word at the same position: identical input, then contexts differ (causal:
    # "a bank" precedes both, so every layer still agrees at this token)
    assert cos == pytest.approx(np.ones(L + 1), abs=1e-5)
    later = divergence(a, 7, b, 7)  # " b" of "by" vs " o" of "of": different tokens
    assert later[0] < 0.99


def test_context_bounds():
    model, enc = tiny_gpt(context_length=128).eval(), byte_encoding()
    with pytest.raises(EmbeddingError, match="type a sentence"):
        run_context(model, enc, "  ")
    with pytest.raises(EmbeddingError, match=f"at most {MAX_CONTEXT_TOKENS}"):
        run_context(model, enc, "x" * (MAX_CONTEXT_TOKENS + 1))
    a = run_context(model, enc, "hello")
    with pytest.raises(EmbeddingError, match="does not occur"):
        find_term(a, resolve_term(" bank", enc, 257))
