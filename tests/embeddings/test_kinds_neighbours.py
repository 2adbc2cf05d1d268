"""Token kinds from bytes; typed terms; neighbours and a − b + c against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import tiktoken
import torch

from core.embeddings import (
    EmbeddingError,
    TokenKind,
    arithmetic,
    classify,
    nearest,
    neighbours_of,
    resolve_term,
    vocab_of,
)
from tests.sampling.helpers import byte_encoding


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b" the", TokenKind.WORD_START),
        (b"ing", TokenKind.SUBWORD),
        (b"Hello", TokenKind.SUBWORD),
        (b" 42", TokenKind.NUMBER),
        (b"2026", TokenKind.NUMBER),
        (b" (", TokenKind.PUNCTUATION),
        (b"==", TokenKind.PUNCTUATION),
        (b"\n\n", TokenKind.WHITESPACE),
        (b"    ", TokenKind.WHITESPACE),
        (" мир".encode(), TokenKind.NON_LATIN),
        ("的".encode(), TokenKind.NON_LATIN),
        (" café".encode(), TokenKind.WORD_START),
        (b"\xe4", TokenKind.BYTES),
        (b"_init", TokenKind.SUBWORD),
        (b" 3D", TokenKind.WORD_START),
    ],
)
def test_classify(data, kind):
    assert classify(data) is kind


def test_special_wins_over_text():
    assert classify(b"<|endoftext|>", special=True) is TokenKind.SPECIAL


def test_vocab_of_reads_every_row_and_marks_rows_without_a_token():
    vocab = vocab_of(byte_encoding(), 260)
    assert vocab.kinds[ord("a")] is TokenKind.SUBWORD
    assert vocab.kinds[ord(" ")] is TokenKind.WHITESPACE and vocab.texts[ord(" ")] == "·"
    assert vocab.kinds[0xE4] is TokenKind.BYTES and vocab.texts[0xE4] == "\\xe4"
    assert vocab.kinds[256] is TokenKind.SPECIAL
    assert vocab.kinds[257:] == (TokenKind.UNUSED,) * 3
    assert vocab.search("A")[:2] == [ord("A"), ord("a")]
    assert vocab.search("") == []


def words_encoding() -> tiktoken.Encoding:
    """Bytes plus the merged tokens " the", " cat", " cats" (ids 257..)."""
    ranks = {bytes([i]): i for i in range(256)}
    for i, word in enumerate([b" t", b" th", b" the", b" c", b" ca", b" cat", b" cats"]):
        ranks[word] = 256 + i
    return tiktoken.Encoding(
        name="words", pat_str=r" ?\w+| ?[^\w\s]+|\s+", mergeable_ranks=ranks,
        special_tokens={"<|end|>": 263},
    )  # fmt: skip


def test_terms_single_several_ids_and_refusals():
    enc = words_encoding()
    assert resolve_term(" cat", enc, 264).ids == (261,)
    assert resolve_term(" cat", enc, 264).note == ""
    dog = resolve_term(" dog", enc, 264)
    assert dog.ids == (ord(" "), ord("d"), ord("o"), ord("g"))  # no merge for " d…"
    assert "is 4 tokens" in dog.note and "mean" in dog.note
    assert resolve_term("#17", enc, 264).ids == (17,)
    assert resolve_term("<|end|>", enc, 264).ids == (263,)
    with pytest.raises(EmbeddingError, match="not in the vocabulary"):
        resolve_term("#264", enc, 264)
    with pytest.raises(EmbeddingError, match="not in the model's vocabulary"):
        resolve_term(" cats", enc, 262)  # the tokenizer knows it, this model's table does not
    with pytest.raises(EmbeddingError, match="type a word"):
        resolve_term("   ", enc, 264)
    with pytest.raises(EmbeddingError, match="at most 100 characters"):
        resolve_term("x" * 101, enc, 264)
    with pytest.raises(EmbeddingError, match="at most 16"):
        resolve_term("a b d e f g h i j", enc, 264)


def brute_force(table: np.ndarray, q: np.ndarray, k: int, metric: str, exclude=()):
    scores = []
    for i, row in enumerate(table):
        if i in exclude:
            continue
        if metric == "cosine":
            s = float(row @ q / (np.linalg.norm(row) * np.linalg.norm(q)))
        else:
            s = float(np.linalg.norm(row - q))
        scores.append((s, i))
    scores.sort(key=lambda p: -p[0] if metric == "cosine" else p[0])
    return [(i, s) for s, i in scores[:k]]


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_nearest_matches_brute_force(metric):
    rng = np.random.default_rng(0)
    table = rng.normal(size=(300, 12))
    q = rng.normal(size=12)
    got = nearest(torch.from_numpy(table), torch.from_numpy(q), 15, metric, exclude=(4, 9))
    want = brute_force(table, q, 15, metric, exclude=(4, 9))
    assert [n.id for n in got] == [i for i, _ in want]
    assert [n.score for n in got] == pytest.approx([s for _, s in want], rel=1e-5)


def test_neighbours_of_a_several_token_term_use_the_mean_and_leave_it_out():
    rng = np.random.default_rng(1)
    table = torch.from_numpy(rng.normal(size=(264, 8)).astype(np.float32))
    dog = resolve_term(" dog", words_encoding(), 264)
    got = neighbours_of(table, dog, 5, "euclidean")
    mean = table[list(dog.ids)].numpy().mean(0)
    want = brute_force(table.numpy(), mean, 5, "euclidean", exclude=dog.ids)
    assert [n.id for n in got] == [i for i, _ in want]


def test_arithmetic_finds_the_planted_analogy():
    # king − man + woman = queen, planted exactly in a random table
    rng = np.random.default_rng(2)
    table = rng.normal(size=(50, 6))
    table[3] = table[0] - table[1] + table[2]
    enc = byte_encoding()
    terms = [resolve_term(f"#{i}", enc, 50) for i in (0, 1, 2)]
    got = arithmetic(torch.from_numpy(table), *terms, k=3)
    assert got[0].id == 3 and got[0].score == pytest.approx(1.0)
    assert {0, 1, 2}.isdisjoint(n.id for n in got)


def test_nearest_bounds():
    t = torch.eye(4)
    with pytest.raises(EmbeddingError, match="1 to 100"):
        nearest(t, t[0], 0)
    with pytest.raises(EmbeddingError, match="unknown metric"):
        nearest(t, t[0], 1, "manhattan")
    assert len(nearest(t, t[0], 10, exclude=(0,))) == 3
