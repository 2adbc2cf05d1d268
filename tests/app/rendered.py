"""What an AppTest run shows as Markdown, rendered by an independent parser (markdown-it).

``live_markup(at)`` lists the links, images and raw HTML that Streamlit's Markdown would
turn the page's texts into; a page that escapes user text shows none of them.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

_PARSER = MarkdownIt("commonmark")
_LIVE = re.compile(r"<a |<img |<script|<iframe", re.IGNORECASE)
# GitHub's autolink literals, which Streamlit's Markdown renders as links (markdown-it's
# CommonMark does not): a bare scheme URL, www., or an e-mail address.
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp|mailto|xmpp)://|\bwww\.|[\w.+-]@[a-z0-9]")


def markdown_texts(at: AppTest) -> list[str]:
    """Every Markdown body and widget label the last run produced."""
    out: list[str] = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "title"):
        out += [e.value for e in getattr(at, kind)]
    out += [e.value for e in at.subheader] + [e.value for e in at.header]
    for kind in ("text_input", "text_area", "number_input", "selectbox", "multiselect",
                 "button", "checkbox", "toggle", "slider", "radio"):  # fmt: skip
        out += [e.label for e in getattr(at, kind)]
    return [str(t) for t in out]


def live_markup(at: AppTest) -> list[str]:
    """The texts whose Markdown renders as a link, an image or HTML (should be none)."""
    return [
        t
        for t in markdown_texts(at)
        if _LIVE.search(_PARSER.render(t)) or _AUTOLINK.search(_unescaped(t))
    ]


def _unescaped(markdown: str) -> str:
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def plain(markdown: str) -> str:
    """The text a user reads from escaped Markdown (backslash escapes and the invisible
    word joiners that stop autolinks removed)."""
    return _unescaped(markdown).replace("\u2060", "")
