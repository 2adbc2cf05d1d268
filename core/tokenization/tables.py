"""Rows and messages the tokenization page shows: pure functions, testable without Streamlit.

Each function turns tokenizer objects into plain ``list[dict]`` rows (a DataFrame each on
the page) or into the explanatory text the page prints, so the page file only lays out
widgets. Bytes are shown with ``core.tokenization.display.token_label`` (UTF-8 where valid,
``\\xe4`` escapes otherwise, whitespace visible).
"""

from __future__ import annotations

from collections.abc import Mapping

import tiktoken

from core.tokenization.analysis import Tokenized, TokenSpan
from core.tokenization.dataset import SlidingWindowDataset
from core.tokenization.display import token_label
from core.tokenization.tokenizer import BPETokenizer


def bytes_rows(text: str, spans: list[TokenSpan]) -> list[dict[str, object]]:
    """One row per token: id, the characters it owns, its bytes (text, hex, count)."""
    return [
        {
            "#": s.index,
            "id": s.token_id,
            "characters": token_label(text[s.start : s.end].encode("utf-8")),
            "token bytes as text": token_label(s.data),
            "bytes": s.hex,
            "n bytes": len(s.data),
            "splits a character": s.partial,
        }
        for s in spans
    ]


def window_rows(
    ds: SlidingWindowDataset, enc: tiktoken.Encoding, limit: int = 8
) -> list[dict[str, object]]:
    """The first ``limit`` (input, target) pairs, as ids and decoded text.

    A window can start or end inside a character (o200k splits many): its partial bytes are
    shown as ``\\xe4`` escapes, as on the rest of the page, not as replacement characters.
    """
    rows = []
    for i in range(min(len(ds), limit)):
        x, y = ds[i]
        rows.append(
            {
                "window": i,
                "input ids": str(x.tolist()),
                "target ids": str(y.tolist()),
                "input text": _text(enc.decode_bytes(x.tolist())),
                "next token": _text(enc.decode_bytes(y.tolist()[-1:])),
            }
        )
    return rows


def _text(data: bytes) -> str:
    """Bytes as text; a window that cuts a character shows ``\\xf0`` escapes, never ``�``."""
    return data.decode("utf-8", errors="backslashreplace")


def count_rows(results: Mapping[str, Tokenized]) -> list[dict[str, object]]:
    """Tokens, chars/token and bytes/token per encoding, for the Compare view."""
    return [
        {
            "encoding": name,
            "tokens": r.counts.tokens,
            "chars/token": round(r.counts.chars_per_token, 2),
            "bytes/token": round(r.counts.bytes_per_token, 2),
        }
        for name, r in results.items()
    ]


def merge_rows(tok: BPETokenizer) -> list[dict[str, object]]:
    """Every merge in order: step, new id, left + right -> new token, pair count."""
    return [
        {
            "step": m.rank + 1,
            "new id": m.token_id,
            "left": token_label(tok.token_bytes(m.pair[0])),
            "right": token_label(tok.token_bytes(m.pair[1])),
            "new token": token_label(m.token_bytes),
            "pair count": m.count,
        }
        for m in tok.merges
    ]


def reference_compression(
    corpus: str, encodings: Mapping[str, tiktoken.Encoding]
) -> dict[str, tuple[int, float]]:
    """(vocab size, chars/token on ``corpus``) of each real encoding, for the BPE chart."""
    return {
        name: (enc.n_vocab, len(corpus) / max(1, len(enc.encode_ordinary(corpus))))
        for name, enc in encodings.items()
    }


def special_token_message(found: list[str], allowed: bool) -> str:
    """Why typed special tokens are text by default, or what allowing them means."""
    names = ", ".join(f"`{s}`" for s in found)
    if allowed:
        return (
            f"Special tokens allowed: {names} became single control ids. A model reads "
            "`<|endoftext|>` as 'the document ended here', so only allow it for text you "
            "wrote yourself, never for text from users."
        )
    return (
        f"Your text contains {names}. It is encoded as **ordinary text** (several tokens), "
        "because tiktoken, like OpenAI's APIs, refuses special tokens in user text by "
        "default: otherwise anyone could end a document or inject a control token just by "
        "typing it. Turn on *Allow special tokens* to get the single id."
    )


def truncation_message(result: Tokenized, covered: int) -> str:
    """Notice for a text whose coloured view is capped; the counts stay exact."""
    return (
        f"Showing the first {len(result.spans):,} of {result.counts.tokens:,} tokens "
        f"({covered:,} of {result.counts.chars:,} characters); the counts above are exact "
        "for the whole text."
    )
