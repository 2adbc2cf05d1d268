"""Tokens as readable text: visible whitespace, bytes where UTF-8 is invalid."""

from __future__ import annotations

from core.tokenization.display import display_token, show_whitespace, token_label


def test_show_whitespace_keeps_line_breaks():
    assert show_whitespace(" \t\r\n", True) == "·→␍↵\n"
    assert show_whitespace(" a\n", False) == " a\n"


def test_token_label_shows_bytes_that_are_not_utf8():
    assert token_label(b"\xe4\xbd a") == "\\xe4\\xbd·a"
    assert token_label("你\n".encode()) == "你↵\n"


def test_display_token_stays_on_one_line():
    assert display_token(" the\n") == "·the↵"
    assert display_token("\t\r") == "⇥␍"
    assert display_token("") == "∅"
