"""Tokens as the page shows them: ids with their bytes and character spans, counts, diffs.

A token is a run of UTF-8 *bytes*, not of characters: GPT-2 spends two tokens on "你"
(``e4 bd`` + ``a0``). To colour text by token, each token gets a character range:
a character belongs to the token that holds its first (lead) byte, so a token made only
of continuation bytes has an empty range and is flagged ``partial`` (the page shows its
bytes honestly instead of a replacement character). Comparing encodings "aligned by
character offset" then reduces to comparing their sets of token start offsets.

Only the first ``limit`` tokens get span objects (rendering 250,000 spans would hang a
browser); ``TokenCounts`` are always exact over the whole text.
"""

from __future__ import annotations

from dataclasses import dataclass

import tiktoken

from core.tokenization.errors import TokenizerError


@dataclass(frozen=True)
class TokenSpan:
    """One token of an encoded text."""

    index: int  # position in the id sequence
    token_id: int  # the id
    data: bytes  # the token's bytes
    start: int  # first character (inclusive) owned by this token
    end: int  # last character (exclusive); start == end for a continuation-only token
    partial: bool  # begins or ends inside a multi-byte character
    special: bool  # a special token such as <|endoftext|>

    @property
    def hex(self) -> str:
        """Bytes as hex pairs, ``"e4 bd a0"``."""
        return self.data.hex(" ")


@dataclass(frozen=True)
class TokenCounts:
    """Exact size of a text under one encoding."""

    tokens: int
    chars: int
    bytes: int

    @property
    def chars_per_token(self) -> float:
        return self.chars / self.tokens if self.tokens else 0.0

    @property
    def bytes_per_token(self) -> float:
        return self.bytes / self.tokens if self.tokens else 0.0


@dataclass(frozen=True)
class Tokenized:
    """A text under one encoding: all ids, exact counts, spans of the first tokens."""

    encoding: str  # encoding name
    ids: list[int]  # every id of the text
    counts: TokenCounts  # exact, over the whole text
    spans: list[TokenSpan]  # the first ``limit`` tokens only
    truncated: bool  # True when spans cover only part of the text


def utf8_safe(text: str) -> str:
    """``text`` with lone surrogates (not encodable as UTF-8) replaced by U+FFFD.

    Python strings may hold them (e.g. from ``surrogateescape``); tiktoken replaces them
    the same way before encoding, so counts and spans agree with its ids.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _is_lead(byte: int) -> bool:
    """True unless ``byte`` is a UTF-8 continuation byte (10xxxxxx)."""
    return byte & 0xC0 != 0x80


def encode_text(enc: tiktoken.Encoding, text: str, allow_special: bool = False) -> list[int]:
    """Ids of ``text``; special-token text is plain text unless ``allow_special``.

    ``tiktoken`` refuses ``<|endoftext|>`` in user text by default (so that a prompt cannot
    inject a control token); the page encodes it as ordinary characters instead, or as the
    single special id when the user explicitly allows it.
    """
    if allow_special:
        return enc.encode(text, allowed_special="all")
    return enc.encode(text, disallowed_special=())


def token_spans(
    enc: tiktoken.Encoding, ids: list[int], limit: int | None = None
) -> list[TokenSpan]:
    """Spans of the first ``limit`` ids (all by default), with character offsets.

    >>> [(s.token_id, s.start, s.end, s.partial) for s in token_spans(gpt2, [19526, 254])]
    [(19526, 0, 1, True), (254, 1, 1, True)]   # "你" = e4 bd | a0
    """
    chosen = ids if limit is None else ids[:limit]
    for token_id in set(chosen):
        if token_id >= enc.n_vocab:
            raise TokenizerError(f"id {token_id} is outside the vocabulary of {enc.name}")
    special_ids = {enc.encode_single_token(s) for s in enc.special_tokens_set}
    chunks = [enc.decode_single_token_bytes(t) for t in chosen]
    spans: list[TokenSpan] = []
    chars = 0
    for i, (token_id, data) in enumerate(zip(chosen, chunks, strict=True)):
        starts_mid = bool(data) and not _is_lead(data[0])
        next_data = chunks[i + 1] if i + 1 < len(chunks) else b""
        ends_mid = bool(next_data) and not _is_lead(next_data[0])
        n_chars = sum(1 for b in data if _is_lead(b))
        spans.append(
            TokenSpan(
                index=i,
                token_id=token_id,
                data=data,
                start=chars,
                end=chars + n_chars,
                partial=starts_mid or ends_mid,
                special=token_id in special_ids,
            )
        )
        chars += n_chars
    return spans


def tokenize(
    enc: tiktoken.Encoding, text: str, *, allow_special: bool = False, limit: int = 3000
) -> Tokenized:
    """Encode ``text`` once: ids, exact counts, and spans of the first ``limit`` tokens."""
    text = utf8_safe(text)
    ids = encode_text(enc, text, allow_special)
    counts = TokenCounts(tokens=len(ids), chars=len(text), bytes=len(text.encode("utf-8")))
    spans = token_spans(enc, ids, limit)
    return Tokenized(enc.name, ids, counts, spans, truncated=len(ids) > limit)


def span_text(text: str, span: TokenSpan) -> str:
    """The characters a span owns (empty for a continuation-only token)."""
    return text[span.start : span.end]


def boundaries(spans: list[TokenSpan]) -> set[int]:
    """Character offsets where a token starts (continuation-only tokens add none)."""
    return {s.start for s in spans if s.end > s.start}


def boundary_diff(all_spans: dict[str, list[TokenSpan]], upto: int) -> set[int]:
    """Offsets ``< upto`` where some encodings start a token and others do not."""
    sets = [{b for b in boundaries(spans) if b < upto} for spans in all_spans.values()]
    if not sets:
        return set()
    return set.union(*sets) - set.intersection(*sets)


def covered_chars(spans: list[TokenSpan]) -> int:
    """How many characters the spans cover (for "showing the first N characters")."""
    return spans[-1].end if spans else 0


def describe_char(ch: str) -> str:
    """``'你' U+4F60, 3 bytes e4 bd a0`` for hover text of split characters."""
    data = ch.encode("utf-8")
    return f"{ch!r} U+{ord(ch):04X}, {len(data)} bytes {data.hex(' ')}"
