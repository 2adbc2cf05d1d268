"""User-controlled text made safe for Streamlit's Markdown: one escaping helper for the pages.

Everything a user (or a shared link, an upload, a stored run) controls and a page puts into
``st.markdown``, ``st.warning``/``st.error``/``st.info``/``st.success``, ``st.caption``,
a subheader or a widget label goes through :func:`md` first. It backslash-escapes every
ASCII punctuation character (CommonMark lets any of them be escaped), so a value can never
become a link ``[t](http://…)``, an image ``![t](http://…)`` (the browser would fetch it),
raw HTML ``<img …>``, an entity ``&lt;``, emphasis, a heading, a list, or one of
Streamlit's own directives (``:red[…]``, ``:material/icon:``); line breaks become spaces
(a value cannot start a new block) and very long values are cut. Streamlit's Markdown also
turns bare ``http://…``, ``www.…`` and ``name@host`` into links (GitHub's "autolink
literals", which backslash escapes do not stop), so an invisible WORD JOINER (U+2060) goes
after ``:`` in ``://``, after ``www`` and after ``@``.

    md("[Click](http://x)")  ->  "\\[Click\\]\\(http\\:\u2060\\/\\/x\\)"

Text for ``st.html`` uses :func:`html.escape` instead (``core.viz`` builds that HTML).
"""

from __future__ import annotations

import re
import string

MAX_SHOWN = 300  # characters of one user value shown in a message; the rest is "…"
_SPECIAL = frozenset(string.punctuation)  # ASCII punctuation: all escapable in CommonMark
_BREAKS = str.maketrans({c: " " for c in "\r\n\t\v\f\x85\u2028\u2029"})
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?i:(?<=www)(?=\.))|(?<=@)")


def md(value: object, max_chars: int = MAX_SHOWN) -> str:
    """``value`` as literal Markdown text: escaped, on one line, at most ``max_chars`` long."""
    text = str(value).translate(_BREAKS)
    if len(text) > max_chars:
        text = text[:max_chars] + "…"
    text = _AUTOLINK.sub(WORD_JOINER, text)
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in text)


def quoted(value: object, max_chars: int = 60) -> str:
    """``md(value)`` in quotes, for naming a bad value in a message: ``“[x](y)”``."""
    return f"“{md(value, max_chars)}”"
