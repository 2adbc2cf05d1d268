"""Token spans, counts and boundary diffs (their HTML and figures: tests/viz/test_tokens.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.tokenization import ENCODING_NAMES, get_encoding
from core.tokenization.analysis import (
    boundaries,
    boundary_diff,
    covered_chars,
    encode_text,
    span_text,
    token_spans,
    tokenize,
)


def test_split_character_is_owned_by_its_lead_byte():
    enc = get_encoding("gpt2")
    spans = token_spans(enc, enc.encode("你好"))
    assert [(s.token_id, s.hex, s.start, s.end, s.partial) for s in spans] == [
        (19526, "e4 bd", 0, 1, True),
        (254, "a0", 1, 1, True),
        (25001, "e5 a5", 1, 2, True),
        (121, "bd", 2, 2, True),
    ]
    assert [span_text("你好", s) for s in spans] == ["你", "", "好", ""]
    assert boundaries(spans) == {0, 1}


@settings(max_examples=50, deadline=None, database=None)
@given(st.text(max_size=60))
def test_spans_tile_the_text(text):
    for name in ENCODING_NAMES:
        result = tokenize(get_encoding(name), text)
        assert "".join(span_text(text, s) for s in result.spans) == text
        assert b"".join(s.data for s in result.spans) == text.encode()
        assert result.counts.tokens == len(result.ids) and covered_chars(result.spans) == len(text)


def test_special_tokens_only_when_allowed():
    enc = get_encoding("cl100k_base")
    assert encode_text(enc, "<|endoftext|>", allow_special=True) == [100257]
    as_text = encode_text(enc, "<|endoftext|>")
    assert len(as_text) > 1
    spans = tokenize(enc, "x<|endoftext|>", allow_special=True).spans
    assert [s.special for s in spans] == [False, True]


def test_limit_keeps_counts_exact():
    text = "hello world" * 1000  # "hello", then " world" + "hello" pairs: 2,000 tokens
    result = tokenize(get_encoding("gpt2"), text, limit=10)
    assert len(result.spans) == 10 and result.truncated
    assert result.counts.tokens == 2000 and result.counts.chars == len(text)
    assert result.counts.chars_per_token == pytest.approx(5.5)


def test_boundary_diff_between_encodings():
    text = "1234567"
    spans = {n: tokenize(get_encoding(n), text).spans for n in ("gpt2", "cl100k_base")}
    assert boundaries(spans["cl100k_base"]) == {0, 3, 6}  # digits in groups of three
    assert boundary_diff(spans, len(text)) == boundaries(spans["gpt2"]) ^ {0, 3, 6}


def test_lone_surrogates_are_replaced_like_tiktoken_does():
    enc = get_encoding("gpt2")
    result = tokenize(enc, "a\ud800b")
    assert result.ids == enc.encode("a\ud800b") == enc.encode("a\ufffdb")
    assert result.counts.bytes == 5
