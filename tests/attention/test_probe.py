"""The induction probe: on constructed weights, and on a model with a planted circuit."""

from __future__ import annotations

import numpy as np
import pytest
import tiktoken

from core.attention import (
    AttentionInputError,
    capture_attention,
    head_labels,
    head_statistics,
    induction_scores,
    prepare_ids,
    probe_ids,
    run_induction_probe,
)
from tests.attention.planted import PlantedConfig, PlantedInduction


def test_probe_ids_are_two_copies_of_distinct_tokens():
    ids, offset = probe_ids(50, 10, seed=3, exclude={0, 1}, start_token=49)
    assert offset == 1 and ids[0] == 49 and len(ids) == 21
    first, second = ids[1:11], ids[11:]
    assert first == second and len(set(first)) == 10
    assert not {0, 1, 49} & set(first)
    assert probe_ids(50, 10, seed=3, exclude={0, 1}, start_token=49)[0] == ids  # seeded
    with pytest.raises(AttentionInputError, match="distinct tokens"):
        probe_ids(5, 6)


def test_induction_score_of_a_perfect_and_an_off_by_one_pattern():
    n, offset = 4, 1
    T = offset + 2 * n
    perfect = np.zeros((T, T))
    perfect[np.arange(T), np.arange(T)] = 1.0  # self everywhere ...
    for i in range(n):  # ... except the second copy, which looks at the next token's first copy
        q = offset + n + i
        perfect[q] = 0.0
        perfect[q, offset + i + 1] = 1.0
    off = np.zeros((T, T))
    off[np.arange(T), np.arange(T)] = 1.0
    for i in range(n):  # a duplicate-token head: the first occurrence itself
        q = offset + n + i
        off[q] = 0.0
        off[q, offset + i] = 1.0
    scores = induction_scores(np.stack([perfect, off])[None], n, offset)
    assert scores.tolist() == [[1.0, 0.0]]
    half = 0.5 * perfect + 0.5 * off
    assert induction_scores(half[None, None], n, offset).tolist() == [[0.5]]
    with pytest.raises(AttentionInputError, match="two copies"):
        induction_scores(perfect[None, None], n + 1, offset)


def test_probe_finds_the_planted_induction_head():
    model = PlantedInduction()
    result = run_induction_probe(model, seed=0)
    assert result.length == 20  # context 40 holds two copies of 20
    scores = result.scores
    assert scores.shape == (2, 2)
    assert scores[1, 0] > 0.999  # layer 1 head 0: the induction head
    assert scores[0, 0] < 1e-6 and scores[0, 1] < 1e-6 and scores[1, 1] < 0.1
    assert np.unravel_index(scores.argmax(), scores.shape) == (1, 0)


def test_planted_heads_get_their_labels():
    model = PlantedInduction()
    probe = run_induction_probe(model, seed=1)
    stats = head_statistics(capture_attention(model, probe.ids), probe.ids)
    labels = [head_labels(s, float(probe.scores[s.layer, s.head]))[0] for s in stats]
    assert labels == ["previous-token", "first-token/sink", "induction", "broad"]
    prev = stats[0]
    assert prev.previous > 0.999 and prev.mean_distance == pytest.approx(1.0, abs=1e-3)


def test_probe_length_shrinks_to_the_context():
    model = PlantedInduction(PlantedConfig(vocab_size=30, context_length=9))
    result = run_induction_probe(model, length=50)
    assert result.length == 4 and len(result.ids) == 8
    assert result.scores[1, 0] > 0.999


def _bytes_encoding() -> tiktoken.Encoding:
    return tiktoken.Encoding(
        name="bytes",
        pat_str=r"""\s?\w+|\s?[^\w\s]+|\s+""",
        mergeable_ranks={bytes([i]): i for i in range(256)},
        special_tokens={"<|endoftext|>": 256},
    )


def test_prepare_ids_crops_marks_specials_and_refuses_blank():
    enc = _bytes_encoding()
    got = prepare_ids(enc, "abcdef", context_length=100, start_token=256, max_tokens=4)
    assert got.ids == [256, 97, 98, 99]
    assert "only the first 3 are used" in got.notices[0]
    got = prepare_ids(enc, "a<|endoftext|>b", context_length=100)
    assert got.ids == [97, 256, 98]
    assert "Special tokens" in got.notices[0]
    one = prepare_ids(enc, "a", context_length=100)
    assert one.ids == [97] and "One token" in one.notices[0]
    for blank in ("", "  \n\t "):
        with pytest.raises(AttentionInputError, match="whitespace"):
            prepare_ids(enc, blank, context_length=100)
