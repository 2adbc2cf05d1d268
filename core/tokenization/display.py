"""Tokens as readable text: whitespace made visible, bytes shown where UTF-8 is invalid.

Plain strings in, plain strings out (no HTML, no Markdown: the caller escapes for the place
it renders). Tables, the command lines and the figure builders all show tokens this way.

- `show_whitespace`: spaces, tabs and carriage returns as one glyph each, newlines as a
  glyph *and* a line break (multi-line views keep their lines);
- `token_label`: a token's bytes as text (UTF-8 where valid, ``\\xe4`` escapes otherwise),
  whitespace visible;
- `display_token`: a token's text on one line (a newline is only a glyph), ``∅`` if empty.
"""

from __future__ import annotations

VISIBLE_WHITESPACE = {" ": "·", "\t": "→", "\r": "␍", "\n": "↵\n"}
_INLINE_WHITESPACE = {" ": "·", "\t": "⇥", "\r": "␍", "\n": "↵"}


def show_whitespace(text: str, visible: bool) -> str:
    """Make spaces, tabs and line breaks visible (one glyph each; newlines still break)."""
    if not visible:
        return text
    return "".join(VISIBLE_WHITESPACE.get(ch, ch) for ch in text)


def token_label(data: bytes) -> str:
    """A token's bytes as readable text: UTF-8 where valid, ``\\xe4`` escapes otherwise."""
    return show_whitespace(data.decode("utf-8", errors="backslashreplace"), True)


def display_token(text: str) -> str:
    """Make whitespace visible on one line: ``" the"`` -> ``"·the"``, ``"\\n"`` -> ``"↵"``."""
    shown = "".join(_INLINE_WHITESPACE.get(ch, ch) for ch in text)
    return shown or "∅"
