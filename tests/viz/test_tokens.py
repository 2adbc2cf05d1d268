"""Token views: coloured token HTML (escaped), side-by-side rows aligned by character, charts."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from core.tokenization import ENCODING_NAMES, get_encoding
from core.tokenization.analysis import boundaries, boundary_diff, tokenize
from core.tokenization.display import show_whitespace
from core.viz.tokens import (
    compare_html,
    compression_figure,
    merge_html,
    tokens_html,
    tokens_per_encoding_figure,
)


def _strip(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


@settings(max_examples=50, deadline=None, database=None)
@given(st.text(max_size=60))
def test_token_html_shows_continuation_bytes_as_hex(text):
    for name in ENCODING_NAMES:
        spans = tokenize(get_encoding(name), text).spans
        assert _strip(tokens_html(text, spans)).replace("‹", "").count("›") == sum(
            1 for s in spans if s.start == s.end
        )


def test_html_escapes_and_shows_whitespace():
    text = "<b onmouseover='x'>&\t\n"
    spans = tokenize(get_encoding("gpt2"), text).spans
    markup = tokens_html(text, spans, visible_whitespace=True)
    assert "<b " not in markup and _strip(markup) == show_whitespace(text, True)


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


def test_highlighted_tokens_are_marked():
    enc = get_encoding("gpt2")
    spans = tokenize(enc, "the cat the").spans
    markup = tokens_html("the cat the", spans, highlight=frozenset({1169}))  # "the"
    assert markup.count("inset 0 -3px 0 #d62728") == 1


def test_every_token_span_is_bidi_isolated():
    text = "2025-12-05 — مرحبا بالعالم 🎉"
    for name in ("cl100k_base", "o200k_base"):
        spans = tokenize(get_encoding(name), text).spans
        styles = re.findall(
            r"data-id='\d+' data-tip='[^']*' style='([^']*)'", tokens_html(text, spans)
        )
        assert len(styles) == len(spans)
        assert all("unicode-bidi:isolate;" in style for style in styles)
