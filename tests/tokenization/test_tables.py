"""Page rows and messages built from tokenizers (pure functions of core.tokenization.tables)."""

from __future__ import annotations

import pytest

from core.tokenization import SlidingWindowDataset, get_encoding, train_bpe
from core.tokenization.analysis import covered_chars, tokenize
from core.tokenization.tables import (
    bytes_rows,
    count_rows,
    merge_rows,
    reference_compression,
    special_token_message,
    truncation_message,
    window_rows,
)


def test_bytes_rows_show_owned_characters_and_bytes():
    enc = get_encoding("gpt2")
    text = "a 你"
    rows = bytes_rows(text, tokenize(enc, text).spans)
    assert [(r["id"], r["characters"], r["bytes"], r["splits a character"]) for r in rows] == [
        (64, "a", "61", False),
        (220, "·", "20", False),
        (19526, "你", "e4 bd", True),
        (254, "", "a0", True),
    ]
    assert rows[2]["token bytes as text"] == "\\xe4\\xbd"


def test_window_rows_decode_inputs_and_next_token():
    enc = get_encoding("gpt2")
    ds = SlidingWindowDataset(enc.encode("one two three four five"), max_length=2, stride=2)
    rows = window_rows(ds, enc)
    assert [r["input text"] for r in rows] == ["one two", " three four"]
    assert [r["next token"] for r in rows] == [" three", " five"]


def test_count_rows_and_truncation_message():
    enc = get_encoding("cl100k_base")
    result = tokenize(enc, " hello" * 200, limit=5)
    assert count_rows({"cl100k_base": result}) == [
        {"encoding": "cl100k_base", "tokens": 200, "chars/token": 6.0, "bytes/token": 6.0}
    ]
    message = truncation_message(result, covered_chars(result.spans))
    assert message.startswith("Showing the first 5 of 200 tokens (30 of 1,200 characters)")


def test_merge_rows_and_reference_points():
    tok = train_bpe("the then there " * 50, 260, "gpt2", ())
    rows = merge_rows(tok)
    # (h, e) and (t, h) both occur 150 times: the smaller id pair (104, 101) wins the tie.
    assert rows[0] == {
        "step": 1,
        "new id": 256,
        "left": "h",
        "right": "e",
        "new token": "he",
        "pair count": 150,
    }
    assert [r["new token"] for r in rows] == ["he", "the", "·the", "re"]
    refs = reference_compression("hello world", {"gpt2": get_encoding("gpt2")})
    assert refs == {"gpt2": (50257, pytest.approx(11 / 2))}


def test_special_token_messages():
    assert "ordinary text" in special_token_message(["<|endoftext|>"], allowed=False)
    assert "never for text from users" in special_token_message(["<|endoftext|>"], allowed=True)


def test_window_rows_show_a_split_character_as_escapes_not_replacement_characters():
    enc = get_encoding("o200k_base")
    ids = enc.encode("𝔘𝔫 ok")  # each fraktur letter: 3 tokens (f0 9d | 94 | 98)
    rows = window_rows(SlidingWindowDataset(ids, max_length=2, stride=1), enc, limit=3)
    assert [(r["input text"], r["next token"]) for r in rows] == [
        ("\\xf0\\x9d\\x94", "\\x98"),
        ("\\x94\\x98", "\\xf0\\x9d"),
        ("\\x98\\xf0\\x9d", "\\x94"),
    ]
    assert not any("\ufffd" in str(v) for r in rows for v in r.values())
