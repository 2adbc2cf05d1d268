"""The Tokenization page's model: its state, the link, the encoding menus, the BPE lab's texts.

Pure pieces the page calls (tested without Streamlit); the rows and longer messages it
shows are in ``core.tokenization.tables``:

- :class:`TokView` is what the link holds: the view (Explore, Compare, BPE lab), the text,
  the encoding explored, the encodings compared, and the two toggles. Its fields are named
  as the URL entries, so the page's ``ui.urlstate`` specs map onto it one to one.
- :func:`link_values` is the state back into the link: the tokenizer trained in this session
  (``TRAINED``) cannot be shared, so the link names GPT-2 instead; a text over
  ``LINK_TEXT_CHARS`` stays out of the link and :attr:`TokLink.note` says so.
- :func:`menu`, :func:`explored` and :func:`compared` keep the menus' choices valid when the
  store's tokenizers change or the trained one is not there; :func:`aligned_chars` bounds the
  compare view's aligned text.
- :func:`bpe_name`, :func:`lab_curve` and :func:`merge_caption` are the BPE lab's name for a
  trained tokenizer, the x/y of its compression curve, and its merge-step line.
- :func:`upload_text` is an uploaded .txt within its byte limit (``TEXT_UPLOAD_MAX_BYTES``
  for the text box, ``BPE_UPLOAD_MAX_BYTES`` for a BPE corpus).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.corpus import CorpusError, decode_text
from core.tokenization.analysis import TokenCounts
from core.tokenization.encodings import ENCODING_NAMES
from core.tokenization.examples import EXAMPLES

VIEWS = ("Explore", "Compare", "BPE lab")
RENDER_TOKENS = 2000  # coloured spans drawn at most (counts stay exact)
COMPARE_CHARS = 3000  # characters aligned side by side at most
LINK_TEXT_CHARS = 2000  # a longer text is not put in the link
TEXT_UPLOAD_MAX_BYTES = 5 * 2**20  # a .txt loaded into the text box (tokenized whole: ~1 s)
BPE_UPLOAD_MAX_BYTES = 40 * 2**20  # a BPE corpus: room for MAX_TRAIN_CHARS at 4 bytes each
TRAINED = "trained"  # option id of the tokenizer trained in the BPE lab
FALLBACK = "gpt2"  # what a menu shows when its choice is gone
DEFAULT_TEXT = EXAMPLES["Prose"]
DEFAULT_COMPARED = ENCODING_NAMES  # the three real encodings


@dataclass(frozen=True)
class TokView:
    """What the page shows; fields named as the link's entries."""

    view: str = VIEWS[0]
    text: str = DEFAULT_TEXT
    enc: str = FALLBACK  # the encoding explored (a registry tokenizer id, or TRAINED)
    cmp: tuple[str, ...] = DEFAULT_COMPARED  # the encodings compared
    ws: bool = False  # whitespace shown as ·, →, ↵
    special: bool = False  # <|endoftext|> encoded as one special id


@dataclass(frozen=True)
class TokLink:
    values: dict[str, Any]  # the link's entries (without "text" when it is too long)
    note: str | None = None  # why the text is not in the link
    drop: tuple[str, ...] = field(default=())  # entries to remove from the link


def link_values(state: TokView) -> TokLink:
    """The link of ``state``: GPT-2 for the session's trained tokenizer, a long text left out."""
    values: dict[str, Any] = {
        "view": state.view,
        "enc": state.enc if state.enc != TRAINED else FALLBACK,
        "cmp": tuple(n for n in state.cmp if n != TRAINED),
        "ws": state.ws,
        "special": state.special,
    }
    if len(state.text) > LINK_TEXT_CHARS:
        note = (
            f"The text is {len(state.text):,} characters long: links keep texts of at most "
            f"{LINK_TEXT_CHARS:,}, so this page's link does not include it."
        )
        return TokLink(values, note, drop=("text",))
    return TokLink(values | {"text": state.text})


def menu(known: Iterable[str], trained: bool) -> list[str]:
    """The encodings a menu offers: the registry's, then the trained one if there is one."""
    return [*known, *([TRAINED] if trained else [])]


def explored(choice: str, options: Sequence[str]) -> str:
    """The explored encoding, or GPT-2 when the choice is no longer offered."""
    return choice if choice in options else FALLBACK


def compared(choices: Iterable[str], options: Sequence[str]) -> list[str]:
    """The compared encodings still offered, in their order."""
    return [n for n in choices if n in options]


def option_label(option: str, labels: Mapping[str, str], trained_name: str | None) -> str:
    """A menu entry's text: the registry's label, or the trained tokenizer's name."""
    if option == TRAINED:
        return f"Trained in the BPE lab ({trained_name})" if trained_name else "Trained tokenizer"
    return labels.get(option, option)


def specials_in(text: str, specials: Iterable[str]) -> list[str]:
    """The special tokens (``<|endoftext|>``) written in ``text``, sorted."""
    return sorted(s for s in specials if s in text)


def aligned_chars(text_len: int, covered: Iterable[int]) -> int:
    """Characters the compare view aligns: at most COMPARE_CHARS, and only what every
    encoding's drawn tokens cover (the counts stay exact)."""
    return min([text_len, COMPARE_CHARS, *covered])


def aligned_notice(upto: int, text_len: int) -> str | None:
    if upto >= text_len:
        return None
    return (
        f"Aligned view shows the first {upto:,} of {text_len:,} characters; the token counts "
        "are exact."
    )


# ---------------------------------------------------------------- the BPE lab
def bpe_name(pattern: str, vocab: int, corpus_name: str) -> str:
    """A trained tokenizer's name: ``bpe-gpt4-1024-python-reference-manual``."""
    return f"bpe-{pattern}-{int(vocab)}-{corpus_name[:40]}"


def lab_curve(
    ratios: Sequence[float], n_special: int, k: int
) -> tuple[list[int], list[float], tuple[int, float]]:
    """(vocabulary sizes, chars/token after each merge, the point of merge step k)."""
    base = 256 + n_special
    return [base + i for i in range(len(ratios))], list(ratios), (base + k, ratios[k])


def merge_caption(counts: TokenCounts, k: int) -> str:
    """The sample's line under the merge slider."""
    return (
        f"{counts.tokens:,} tokens for {counts.chars:,} characters "
        f"({counts.chars_per_token:.2f} chars/token) after {k:,} merges. Underlined in red: "
        "the token merge k created."
    )


def upload_text(name: str, data: bytes, max_bytes: int) -> str:
    """An uploaded .txt file's text; :class:`CorpusError` if it is over ``max_bytes`` or
    not UTF-8 text (the upload widget already refuses larger files in the browser)."""
    if len(data) > max_bytes:
        raise CorpusError(
            f"{name[:80]} is {len(data) / 2**20:,.1f} MB; this page takes files up to "
            f"{max_bytes / 2**20:,.0f} MB"
        )
    return decode_text(data, source=name[:80])
