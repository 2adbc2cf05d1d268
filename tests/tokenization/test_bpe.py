"""The incremental BPE trainer: equal to the naive reference, exact tiktoken export, errors."""

from __future__ import annotations

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from core.corpus import builtin_corpus
from core.tokenization import (
    BPETokenizer,
    BPETrainingError,
    merge_pair,
    pattern_of,
    pretokenize,
    train_bpe,
)

MIXED = (
    "def add(x, y):\n    return x + y  # 12345 + 678\n\n"
    "Hello, world! Hello, world!! 你好，世界 🙂🙂 naïve café — ünïcödé\t\ttabs\r\n"
    "the theme then thereafter; the cat sat on the mat <|endoftext|> the end. "
) * 3


def _merges(tok: BPETokenizer) -> list[tuple[tuple[int, int], bytes, int]]:
    return [(m.pair, m.token_bytes, m.count) for m in tok.merges]


@pytest.mark.parametrize("pattern", ["gpt2", "gpt4", "gpt4o"])
@pytest.mark.parametrize("min_frequency", [1, 2])
def test_merges_equal_naive_reference(pattern, min_frequency, naive_train):
    text = builtin_corpus()[:3000] + MIXED
    tok = train_bpe(text, 257 + 120, pattern, min_frequency=min_frequency, allow_smaller_vocab=True)
    from core.tokenization.bpe import PATTERNS

    expected = naive_train(
        text, 120, pattern_of(PATTERNS[pattern]), ("<|endoftext|>",), min_frequency
    )
    assert _merges(tok) == expected
    assert len(expected) == 120


@settings(max_examples=40, deadline=None, database=None)
@given(st.text(alphabet="ab c\né🙂", min_size=1, max_size=80), st.integers(1, 40))
def test_merges_equal_naive_on_random_text(naive_train, text, n_merges):
    tok = train_bpe(text, 256 + n_merges, "gpt2", (), min_frequency=1, allow_smaller_vocab=True)
    assert _merges(tok) == naive_train(text, n_merges, pattern_of("gpt2"), (), 1)
    token_bytes = [m.token_bytes for m in tok.merges]
    assert len(set(token_bytes)) == len(token_bytes)  # never two tokens with the same bytes


def test_first_merges_of_builtin_corpus():
    tok = train_bpe(builtin_corpus()[:20000], 260, "gpt4", ())
    assert [(m.rank, m.token_id) for m in tok.merges] == [(0, 256), (1, 257), (2, 258), (3, 259)]
    assert tok.merges[0].token_bytes == b"  "  # indentation dominates the manual
    assert all(a.count >= b.count for a, b in zip(tok.merges, tok.merges[1:], strict=False))


def test_tiktoken_export_reproduces_training_segmentation():
    text = builtin_corpus()[:60000]
    tok = train_bpe(text, 1024, "gpt4")
    enc = tok.encoding()
    assert enc.n_vocab == 1024 == tok.n_vocab
    ids = enc.encode_ordinary(text)
    assert len(ids) == tok.corpus_tokens[-1]  # the trainer's own count of corpus tokens
    assert enc.decode(ids) == text
    # Each merge-by-merge segmentation of a word equals tiktoken's, at every stage.
    for k in (0, 10, 300, len(tok.merges)):
        enc_k = tok.encoding(n_merges=k)
        for word in ["    return", " the", " interpreter", " __init__", "12345"]:
            ids_k = []
            for chunk in regex.findall(tok.pat_str, word):
                chunk_ids = list(chunk.encode())
                for m in tok.merges[:k]:
                    chunk_ids = merge_pair(chunk_ids, m.pair, m.token_id)
                ids_k += chunk_ids
            assert enc_k.encode_ordinary(word) == ids_k


def test_special_tokens_get_ids_after_merges_and_are_never_merged():
    tok = train_bpe("ab<|endoftext|>ab ab ab<|endoftext|>", 259, "gpt2", min_frequency=1)
    assert tok.special_tokens == {"<|endoftext|>": 258}
    assert all(b"<|" not in m.token_bytes for m in tok.merges)
    enc = tok.encoding()
    assert enc.encode("<|endoftext|>", allowed_special="all") == [258]
    with pytest.raises(ValueError, match="disallowed special token"):
        enc.encode("<|endoftext|>")


def test_progress_is_reported_until_done():
    calls = []
    train_bpe(builtin_corpus()[:20000], 256 + 1 + 400, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 400) and calls[-1] == (400, 400)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert 2 < len(calls) <= 202


def test_compression_curve_is_monotone():
    tok = train_bpe(builtin_corpus()[:20000], 600)
    ratios = tok.chars_per_token()
    assert len(ratios) == len(tok.merges) + 1
    assert ratios[0] == pytest.approx(20000 / len(builtin_corpus()[:20000].encode()), rel=0.01)
    assert all(a < b for a, b in zip(ratios, ratios[1:], strict=False))


def test_pretokenize_cuts_out_special_tokens():
    counts = pretokenize("hi hi<|endoftext|>hi", pattern_of("gpt2"), ["<|endoftext|>"])
    assert counts == {"hi": 2, " hi": 1}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": "", "vocab_size": 300}, "corpus is empty"),
        ({"text": "abc", "vocab_size": 200}, "vocab size 200 is too small"),
        ({"text": "abc", "vocab_size": 256}, "already need 257 ids"),
        ({"text": "abc", "vocab_size": 300, "pattern": "bert"}, "unknown pattern 'bert'"),
        ({"text": "abc", "vocab_size": 300, "min_frequency": 0}, "min_frequency must be"),
        ({"text": "abc", "vocab_size": 300, "special_tokens": ("", "x")}, "non-empty"),
        ({"text": "a" * 10000, "vocab_size": 4096}, "supports only 12 merges.*at most 269"),
        ({"text": "the cat", "vocab_size": 400}, "vocab size of at most 257"),
    ],
)
def test_bad_settings_have_clear_messages(kwargs, message):
    with pytest.raises(BPETrainingError, match=message):
        train_bpe(**kwargs)


def test_one_repeated_character_with_smaller_vocab_allowed():
    tok = train_bpe("a" * 10000, 4096, allow_smaller_vocab=True)
    assert [m.token_bytes for m in tok.merges][:3] == [b"aa", b"aaaa", b"aaaaaaaa"]
    assert tok.n_vocab == 256 + len(tok.merges) + 1


def test_lone_surrogates_do_not_break_training():
    tok = train_bpe("ab\udc80ab ab", 258, "gpt2", (), min_frequency=1)
    assert tok.merges[0].token_bytes == b"ab"
