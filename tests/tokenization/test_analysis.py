"""Token spans, counts, boundary diffs and the HTML/figures built from them."""

from __future__ import annotations

import html
import re

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
from core.tokenization.display import show_whitespace, token_label
from core.viz.tokens import (
    compare_html,
    compression_figure,
    merge_html,
    tokens_html,
    tokens_per_encoding_figure,
)


def _strip(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


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
        assert _strip(tokens_html(text, result.spans)).replace("‹", "").count("›") == sum(
            1 for s in result.spans if s.start == s.end
        )


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


def test_html_escapes_and_shows_whitespace():
    text = "<b onmouseover='x'>&\t\n"
    spans = tokenize(get_encoding("gpt2"), text).spans
    markup = tokens_html(text, spans, visible_whitespace=True)
    assert "<b " not in markup and _strip(markup) == show_whitespace(text, True)
    assert show_whitespace(" \t\r\n", True) == "·→␍↵\n"
    assert token_label(b"\xe4\xbd a") == "\\xe4\\xbd·a"


def test_compare_rows_align_by_character():
    text = "def f(x):\n    return x + 12345  # 你好\n"
    spans = {n: tokenize(get_encoding(n), text).spans for n in ENCODING_NAMES}
    diff = boundary_diff(spans, len(text))
    markup = compare_html(text, spans, upto=len(text), diff=diff, visible_whitespace=True)
    rows = re.findall(r"<div style='white-space:pre;[^']*'>(.*?)</div></div>", markup)
    assert len(rows) == 2 * len(ENCODING_NAMES)
    lines = [show_whitespace(line, True).replace("\n", "") for line in text.splitlines(True)]
    for i, row in enumerate(rows):
        assert _strip(row) == lines[i // len(ENCODING_NAMES)]  # same characters in each row
    marked = sum(len(boundaries(s) & diff) for s in spans.values())  # one bar per row with it
    assert diff and markup.count("inset 2px 0 0 #d62728") == marked


def test_figures_and_merge_line():
    counts = {n: tokenize(get_encoding(n), "hello there").counts for n in ENCODING_NAMES}
    fig = tokens_per_encoding_figure(counts)
    assert list(fig.data[0].y) == [2, 2, 2] and fig.layout.yaxis.title.text == "tokens"
    fig = compression_figure(
        [257, 258, 259], [1.0, 1.2, 1.3], marker=(258, 1.2), references={"gpt2": (50257, 3.3)}
    )
    assert [t.name for t in fig.data] == ["trained BPE", "slider position", "gpt2"]
    assert fig.layout.xaxis.type == "log"
    line = merge_html(b" ", b"<t", b" <t", 300, 12, 45)
    assert "<code>·</code> + <code>&lt;t</code> → <code>·&lt;t</code>" in line


def test_lone_surrogates_are_replaced_like_tiktoken_does():
    enc = get_encoding("gpt2")
    result = tokenize(enc, "a\ud800b")
    assert result.ids == enc.encode("a\ud800b") == enc.encode("a\ufffdb")
    assert result.counts.bytes == 5


def test_highlighted_tokens_are_marked():
    enc = get_encoding("gpt2")
    spans = tokenize(enc, "the cat the").spans
    markup = tokens_html("the cat the", spans, highlight=frozenset({1169}))  # "the"
    assert markup.count("inset 0 -3px 0 #d62728") == 1
