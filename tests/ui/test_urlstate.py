"""ui/urlstate.py: typed, bounded parsing of link entries, and ui/text.py: escaping."""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from ui.text import md, quoted
from ui.urlstate import MAX_RAW, Choice, Flag, Float, Int, Items, Text, parse_query, query_of

SPECS = {
    "n": Int(20, 1, 200),
    "t": Float(0.5, 0.0, 2.0),
    "view": Choice("Live", ("Live", "Compare")),
    "speed": Choice(10, (1, 10, 60)),
    "cache": Flag(True),
    "prompt": Text("fox", 10),
    "pols": Items(("a",), Choice("a", ("a", "b", "c")), max_items=2),
    "ids": Items((), Int(0, 1, 10**9), max_items=3, allow_empty=True),
}
DEFAULTS = {k: s.default for k, s in SPECS.items()}


def test_good_entries_round_trip_and_missing_ones_take_the_default():
    values = {"n": 7, "t": 1.25, "view": "Compare", "speed": 60, "cache": False,
              "prompt": "a, b & c", "pols": ("c", "b"), "ids": (3, 9)}  # fmt: skip
    assert parse_query(SPECS, query_of(SPECS, values)) == (values, [])
    assert parse_query(SPECS, {}) == (DEFAULTS, [])
    assert query_of(SPECS, {"t": 2.0, "n": 5}) == {"n": "5", "t": "2"}


@pytest.mark.parametrize(
    ("key", "raw", "expects"),
    [
        ("n", "²", "a whole number from 1 to 200"),  # str.isdigit says yes, int() says no
        ("n", "١٢", "a whole number from 1 to 200"),  # Arabic-Indic digits: int() accepts
        ("n", "0", "a whole number from 1 to 200"),
        ("n", "201", "a whole number from 1 to 200"),
        ("n", "9" * 5000, "a whole number from 1 to 200"),
        ("n", "3.0", "a whole number from 1 to 200"),
        ("t", "nan", "a number from 0 to 2"),
        ("t", "inf", "a number from 0 to 2"),
        ("t", "1e308", "a number from 0 to 2"),
        ("t", "0x1", "a number from 0 to 2"),
        ("t", "½", "a number from 0 to 2"),
        ("view", "live", "one of Live, Compare"),
        ("speed", "²", "one of 1, 10, 60"),
        ("cache", "yes", "1 (on) or 0 (off)"),
        ("prompt", "x" * 11, "a value of at most 10 characters (got 11)"),
        ("pols", "d,e", "a comma-separated list of up to 2 items"),
        ("ids", "x" * (MAX_RAW + 1), "a value of at most 10,000 characters (got 10,001)"),
    ],
)
def test_a_bad_entry_is_named_and_keeps_the_default(key, raw, expects):
    values, problems = parse_query(SPECS, {key: raw})
    assert values == DEFAULTS
    shown = repr(raw if len(raw) <= 40 else raw[:40] + "…")
    assert problems == [f"{key}={shown} is not {expects} (kept the default)"]


def test_lists_drop_bad_items_and_are_cut_to_their_length():
    values, problems = parse_query(SPECS, {"pols": "b,zz,a,b,c", "ids": ["4", "²", "5"]})
    assert values["pols"] == ("b", "a") and values["ids"] == (4, 5)
    assert problems == [
        "pols: ignored 'zz', '1 item(s) beyond the first 2'",
        "ids: ignored '²'",
    ]
    assert parse_query(SPECS, {"ids": ""}) == (DEFAULTS, [])  # an empty list is allowed


def test_a_repeated_key_takes_its_last_value():
    assert parse_query(SPECS, {"n": ["3", "4"]})[0]["n"] == 4


_PARSER = MarkdownIt("commonmark")


@pytest.mark.parametrize(
    "text",
    [
        "[Click here to log in](http://example.invalid/login)",
        "![t](http://example.invalid/x.png)",
        "<img src=http://example.invalid/x.png>",
        "<a href='http://example.invalid'>x</a>",
        "[x]: http://example.invalid\n\n[x]",
        "line\n\n# heading\n- item",
        "&lt;b&gt; **bold** `code` :red[colour] :material/home: \\",
    ],
)
def test_escaped_text_renders_as_the_same_literal_text(text):
    rendered = _PARSER.render(md(text))
    assert re.findall(r"<(\w+)", rendered) == ["p"]  # one paragraph, no other element
    shown = html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip()
    assert shown.replace("\u2060", "") == text.replace("\n", " ")


@pytest.mark.parametrize(
    "text", ["http://example.invalid", "see HTTPS://x.y/z", "www.example.invalid", "me@x.io"]
)
def test_bare_urls_and_addresses_cannot_become_autolinks(text):
    # Streamlit's Markdown (GitHub flavour) links these even when their punctuation is
    # escaped; a word joiner inside "://", after "www" and after "@" stops it.
    unescaped = re.sub(r"\\(.)", r"\1", md(text))
    assert not re.search(r"(?i)://|www\.|@[a-z]", unescaped)
    assert unescaped.replace("\u2060", "") == text


def test_escaping_cuts_long_values_and_quotes():
    assert md("a" * 500) == "a" * 300 + "…"
    assert md("a.b", max_chars=2) == "a\\.…"
    assert quoted("[x]") == "“\\[x\\]”"
