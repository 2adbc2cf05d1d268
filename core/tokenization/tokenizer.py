"""A trained byte-level BPE tokenizer: its merge history, a tiktoken export, JSON I/O.

The tokenizer is the list of merges learned by ``core.tokenization.bpe.train_bpe``
(Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword Units";
byte-level as in GPT-2, Radford et al. 2019, §2.2; Raschka, *Build a Large Language Model
(From Scratch)*, §2.5). Ids 0..255 are the single bytes, merge ``r`` creates id
``256 + r``, and special tokens take the ids after the last merge.

Encoding is delegated to ``tiktoken``: merge ``r`` becomes the mergeable token of rank
``256 + r``, so tiktoken's "merge the adjacent pair of lowest rank" loop reproduces the
merge-by-merge segmentation (the trainer never creates two tokens with the same bytes,
which is what makes this exact; tests check it on a corpus). ``encoding(n_merges=k)``
gives the tokenizer as it was after ``k`` merges, which the page's merge slider uses.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tiktoken

from core.tokenization.errors import TokenizerError

FORMAT_NAME = "glassbox-bpe"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Merge:
    """One learned merge: the pair ``(left, right)`` of ids became ``token_id``."""

    rank: int  # 0-based position in the merge history (merge 0 was learned first)
    pair: tuple[int, int]  # ids of the two tokens that were merged
    token_id: int  # id of the new token, always 256 + rank
    token_bytes: bytes  # the new token's bytes: bytes(left) + bytes(right)
    count: int  # how often the pair occurred in the corpus when it was chosen


@dataclass(frozen=True)
class BPETokenizer:
    """A trained tokenizer. Immutable, so one instance can be shared by every session."""

    name: str  # shown in menus and stored in checkpoints' tokenizer specs
    pattern: str  # pre-tokenization pattern name: "gpt2", "gpt4" or "gpt4o"
    pat_str: str  # the regex itself (tiktoken's definition of that pattern)
    merges: tuple[Merge, ...]  # merge history, in rank order
    special_tokens: dict[str, int] = field(default_factory=dict)  # text -> id (after merges)
    corpus_tokens: tuple[int, ...] = ()  # corpus length in tokens after 0, 1, ... merges
    training: dict[str, Any] = field(default_factory=dict)  # corpus chars, settings, seconds

    @property
    def n_vocab(self) -> int:
        """Number of ids: 256 bytes + merges + special tokens."""
        return 256 + len(self.merges) + len(self.special_tokens)

    def token_bytes(self, token_id: int) -> bytes:
        """Bytes of a (non-special) token id."""
        if 0 <= token_id < 256:
            return bytes([token_id])
        if 256 <= token_id < 256 + len(self.merges):
            return self.merges[token_id - 256].token_bytes
        raise TokenizerError(f"id {token_id} is not a byte or merged token of {self.name}")

    def mergeable_ranks(self, n_merges: int | None = None) -> dict[bytes, int]:
        """tiktoken's rank table after the first ``n_merges`` merges (all by default)."""
        k = len(self.merges) if n_merges is None else n_merges
        if not 0 <= k <= len(self.merges):
            raise TokenizerError(f"n_merges must be between 0 and {len(self.merges)}, not {k}")
        ranks = {bytes([b]): b for b in range(256)}
        for merge in self.merges[:k]:
            ranks[merge.token_bytes] = merge.token_id
        return ranks

    def encoding(self, n_merges: int | None = None) -> tiktoken.Encoding:
        """A fast ``tiktoken.Encoding`` of this tokenizer (as of ``n_merges`` merges).

        Special tokens keep their final ids whatever ``n_merges`` is, so ids stay
        comparable along the merge slider.
        """
        k = len(self.merges) if n_merges is None else n_merges
        suffix = "" if k == len(self.merges) else f"@{k}"
        return tiktoken.Encoding(
            name=f"{self.name}{suffix}",
            pat_str=self.pat_str,
            mergeable_ranks=self.mergeable_ranks(k),
            special_tokens=dict(self.special_tokens),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; token bytes are implied by the pairs and not stored."""
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "name": self.name,
            "pattern": self.pattern,
            "pat_str": self.pat_str,
            "merges": [[m.pair[0], m.pair[1], m.count] for m in self.merges],
            "special_tokens": dict(self.special_tokens),
            "corpus_tokens": list(self.corpus_tokens),
            "training": dict(self.training),
        }

    def to_json(self) -> str:
        """Deterministic JSON text (sorted keys), so equal tokenizers have equal sha256."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def sha256(self) -> str:
        """sha256 of ``to_json()``: the identity recorded in checkpoints."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BPETokenizer:
        """Rebuild from ``to_dict()`` output, validating every merge."""
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise TokenizerError("this is not a Glassbox BPE tokenizer file (format field)")
        if data.get("version") != FORMAT_VERSION:
            raise TokenizerError(
                f"tokenizer file version {data.get('version')!r} is not supported "
                f"(this Glassbox reads version {FORMAT_VERSION})"
            )
        try:
            vocab = [bytes([b]) for b in range(256)]
            merges = []
            for rank, (left, right, count) in enumerate(data["merges"]):
                if not (0 <= left < len(vocab) and 0 <= right < len(vocab)):
                    raise TokenizerError(f"merge {rank} refers to an id not yet defined")
                token = vocab[left] + vocab[right]
                merges.append(Merge(rank, (left, right), 256 + rank, token, int(count)))
                vocab.append(token)
            return cls(
                name=str(data["name"]),
                pattern=str(data["pattern"]),
                pat_str=str(data["pat_str"]),
                merges=tuple(merges),
                special_tokens={str(k): int(v) for k, v in data["special_tokens"].items()},
                corpus_tokens=tuple(int(n) for n in data.get("corpus_tokens", [])),
                training=dict(data.get("training", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, TokenizerError):
                raise
            raise TokenizerError(f"tokenizer file is malformed: {exc!r}") from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> BPETokenizer:
        """Parse JSON text written by ``to_json``/``save``."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TokenizerError(f"tokenizer file is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    def save(self, path: str | Path) -> str:
        """Write the tokenizer as JSON to ``path``; returns the file's sha256."""
        text = self.to_json()
        Path(path).write_text(text, encoding="utf-8")
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        """Read a tokenizer written by ``save``."""
        path = Path(path)
        if not path.is_file():
            raise TokenizerError(f"tokenizer file {path} does not exist")
        return cls.from_json(path.read_bytes())

    def chars_per_token(self) -> list[float]:
        """Training-corpus compression after 0, 1, ... merges (characters per token)."""
        chars = int(self.training.get("corpus_chars", 0))
        return [chars / n if n else 0.0 for n in self.corpus_tokens]
