"""Text corpora available offline on every machine.

The built-in corpus is CPython's own reference manual: ``pydoc_data.topics.topics`` maps
each help topic ("assert", "assignment", ...) to its text, about 465,000 characters in all
(PSF licence). Shipping it with Python means the project can train its built-in tokenizer
and model without downloading or committing anyone's prose. Users add their own ``.txt``.
"""

from __future__ import annotations

from pathlib import Path

BUILTIN_CORPUS_NAME = "python-reference-manual"

# Documents are joined by a blank line; the GPT's end-of-text token is added by the
# training code, not here, so the corpus stays plain text that any tokenizer can read.
_DOC_SEPARATOR = "\n\n"


class CorpusError(ValueError):
    """A corpus that cannot be used, with a message a user can act on."""


def builtin_documents() -> list[str]:
    """The Python reference manual's topic pages, sorted by topic name, one string each."""
    from pydoc_data.topics import topics

    return [topics[name].strip() for name in sorted(topics)]


def builtin_corpus() -> str:
    """The Python reference manual's topic pages, sorted by topic name, as one string."""
    return _DOC_SEPARATOR.join(builtin_documents())


def read_text_file(path: str | Path, *, max_bytes: int = 200_000_000) -> str:
    """Read a user's ``.txt`` corpus as UTF-8, refusing binary or oversized files clearly."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"corpus file {path} does not exist")
    size = path.stat().st_size
    if size > max_bytes:
        raise CorpusError(f"corpus file {path} is {size:,} bytes; the limit is {max_bytes:,}")
    return decode_text(path.read_bytes(), source=str(path))


def decode_text(data: bytes, *, source: str = "upload") -> str:
    """Decode uploaded bytes as UTF-8 text; invalid UTF-8 or NUL bytes raise CorpusError."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{source} is not valid UTF-8 text (bad byte at offset {exc.start}); "
            "save it as UTF-8 and try again"
        ) from exc
    if "\x00" in text:
        raise CorpusError(f"{source} contains NUL bytes: it looks like a binary file, not text")
    return text
