"""What kind of token each vocabulary entry is, and its text as a plot or table shows it.

A token is classified from its bytes (the tokenizer's view, not a guess from an id):

=============  ==========================================================================
special        a control token of the tokenizer (``<|endoftext|>``, ``<|im_start|>``)
unused         a row of the model's table that no token of the tokenizer uses
bytes          not valid UTF-8 on its own: a piece of a multi-byte character
whitespace     only spaces, tabs, line breaks
number         digits, possibly after a space (``" 42"``, ``"2026"``)
punctuation    only punctuation and symbols, possibly after a space (``" ("``, ``"=="``)
non-Latin      has a letter from a script other than Latin (``"的"``, ``" мир"``)
word start     a space, then a word (``" the"``): the token begins a word
subword        letters with no space before them (``"ing"``, ``"Hello"`` at a line start)
=============  ==========================================================================

Mixed tokens are decided by their first non-space character: ``" 3D"`` is a number if all
of it is digits, else a word start; ``"_init"`` counts as a subword (it has letters and no
leading space).
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass

import tiktoken

from core.tokenization.display import display_token


class TokenKind(enum.StrEnum):
    WORD_START = "word start"
    SUBWORD = "subword"
    NUMBER = "number"
    PUNCTUATION = "punctuation"
    WHITESPACE = "whitespace"
    SPECIAL = "special"
    NON_LATIN = "non-Latin script"
    BYTES = "byte piece"
    UNUSED = "unused row"


KIND_ORDER = tuple(TokenKind)  # legend order; a kind's index is its code in :class:`Vocab`


def _is_latin_letter(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN")


def classify(data: bytes, *, special: bool = False) -> TokenKind:
    """The kind of one token from its bytes (``special``: a control token)."""
    if special:
        return TokenKind.SPECIAL
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return TokenKind.BYTES
    if not text.strip():
        return TokenKind.WHITESPACE
    core = text.lstrip()
    if all(unicodedata.category(ch) == "Nd" for ch in core):
        return TokenKind.NUMBER
    if all(unicodedata.category(ch)[0] in "PS" for ch in core):
        return TokenKind.PUNCTUATION
    if any(ch.isalpha() and not _is_latin_letter(ch) for ch in core):
        return TokenKind.NON_LATIN
    if text[0].isspace() and (core[0].isalpha() or core[0].isdigit()):
        return TokenKind.WORD_START
    return TokenKind.SUBWORD


@dataclass(frozen=True)
class Vocab:
    """Every row of a model's table as text and kind (what plots, tables and search read)."""

    texts: tuple[str, ...]  # one line each, whitespace visible (" the" -> "·the")
    raw: tuple[str, ...]  # decoded text (bytes shown as \\x escapes), for search
    kinds: tuple[TokenKind, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def codes(self) -> list[int]:
        """Each row's kind as its index in :data:`KIND_ORDER`."""
        index = {kind: i for i, kind in enumerate(KIND_ORDER)}
        return [index[k] for k in self.kinds]

    def search(self, query: str, limit: int = 50_000) -> list[int]:
        """Rows whose text contains ``query`` (case-insensitive), at most ``limit``."""
        needle = query.casefold()
        if not needle:
            return []
        out = [i for i, t in enumerate(self.raw) if needle in t.casefold()]
        return out[:limit]


def vocab_of(encoding: tiktoken.Encoding, n_rows: int) -> Vocab:
    """Text and kind of rows ``0..n_rows-1`` of a model whose tokenizer is ``encoding``."""
    specials = set(encoding._special_tokens.values())
    texts: list[str] = []
    raw: list[str] = []
    kinds: list[TokenKind] = []
    for i in range(n_rows):
        try:
            data = encoding.decode_single_token_bytes(i)
        except KeyError:
            texts.append(f"<unused {i}>")
            raw.append("")
            kinds.append(TokenKind.UNUSED)
            continue
        decoded = data.decode("utf-8", errors="backslashreplace")
        texts.append(display_token(decoded))
        raw.append(decoded)
        kinds.append(classify(data, special=i in specials))
    return Vocab(tuple(texts), tuple(raw), tuple(kinds))
