"""Nearest neighbours in an embedding table, typed terms, and vector arithmetic a − b + c.

A *term* is what a user types: ``#123`` names token 123; anything else is encoded with
the model's tokenizer. A word the tokenizer splits into several tokens is represented by the
mean of their rows, and :class:`Term` says so (``" unbelievable" is 3 tokens …``).

Neighbours are exact (a full scan, one matrix-vector product: 49,152 × 576 takes a few
milliseconds): cosine similarity ``t·q / (|t||q|)`` (largest first) or Euclidean distance
``|t − q|`` (smallest first). Analogies follow Mikolov et al. 2013 ("king − man + woman"):
the terms themselves are left out of the answer, as in their evaluation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import tiktoken
import torch

from core.embeddings.project import EmbeddingError

METRICS = ("cosine", "euclidean")
MAX_K = 100  # neighbours listed at most
MAX_TERM_CHARS = 100  # a typed term longer than this is refused
MAX_TERM_TOKENS = 16  # … and one that encodes to more tokens
_TOKEN_ID = re.compile(r"#([0-9]{1,9})")


@dataclass(frozen=True)
class Term:
    """A typed term resolved to rows of the table."""

    text: str  # as typed
    ids: tuple[int, ...]  # its token ids; several: the term's vector is their mean

    @property
    def note(self) -> str:
        """What a user should know about how the term was read ('' for a single token)."""
        if len(self.ids) == 1:
            return ""
        return (
            f"“{self.text}” is {len(self.ids)} tokens ({', '.join(map(str, self.ids))}): "
            "using the mean of their embeddings"
        )


@dataclass(frozen=True)
class Neighbour:
    id: int
    score: float  # cosine similarity (higher is nearer) or Euclidean distance (lower is)


def resolve_term(text: str, encoding: tiktoken.Encoding, n_rows: int) -> Term:
    """Read a typed term: ``#id`` or text; :class:`EmbeddingError` when it has no row."""
    if not isinstance(text, str) or not text.strip():
        raise EmbeddingError("type a word, or #id for a token id")
    if len(text) > MAX_TERM_CHARS:
        raise EmbeddingError(f"a term has at most {MAX_TERM_CHARS} characters, got {len(text)}")
    match = _TOKEN_ID.fullmatch(text.strip())
    if match:
        token = int(match.group(1))
        if token >= n_rows:
            raise EmbeddingError(
                f"token id {token} is not in the vocabulary (ids run from 0 to {n_rows - 1})"
            )
        return Term(text, (token,))
    try:
        ids = encoding.encode(text, allowed_special="all")
    except (ValueError, TypeError) as exc:
        raise EmbeddingError(f"“{text}” cannot be encoded by {encoding.name}: {exc}") from exc
    if not ids:
        raise EmbeddingError(f"“{text}” encodes to no token")
    if len(ids) > MAX_TERM_TOKENS:
        raise EmbeddingError(
            f"“{text}” is {len(ids)} tokens; a term has at most {MAX_TERM_TOKENS} (a word or two)"
        )
    outside = [i for i in ids if i >= n_rows]
    if outside:
        raise EmbeddingError(
            f"“{text}” has token ids {outside} that are not in the model's vocabulary of {n_rows}"
        )
    return Term(text, tuple(ids))


def term_vector(table: torch.Tensor, term: Term) -> torch.Tensor:
    """The term's vector (d,): its row, or the mean of its rows."""
    return table[list(term.ids)].float().mean(0)


def nearest(
    table: torch.Tensor,
    query: torch.Tensor,
    k: int = 10,
    metric: str = "cosine",
    exclude: tuple[int, ...] | list[int] = (),
) -> list[Neighbour]:
    """The ``k`` rows of ``table`` (n, d) nearest to ``query`` (d,), ``exclude`` left out."""
    if metric not in METRICS:
        raise EmbeddingError(f"unknown metric {metric!r}: use one of {METRICS}")
    if not 1 <= k <= MAX_K:
        raise EmbeddingError(f"ask for 1 to {MAX_K} neighbours, not {k}")
    t = table.detach().float()  # (n, d)
    q = query.detach().float().to(t.device)  # (d,)
    if q.shape != t.shape[1:]:
        raise EmbeddingError(f"a query of width {q.shape} for a table of width {t.shape[1]}")
    if metric == "cosine":
        norms = t.norm(dim=1).clamp(min=1e-12)  # (n,)
        scores = (t @ q) / (norms * q.norm().clamp(min=1e-12))  # (n,)
        better_first = scores
    else:
        # |t − q|² = |t|² − 2 t·q + |q|², in float64 so near-ties keep their order
        t64, q64 = t.double(), q.double()
        squared = (t64 * t64).sum(1) - 2 * (t64 @ q64) + (q64 @ q64)
        scores = squared.clamp(min=0).sqrt()
        better_first = -scores
    if exclude:
        better_first = better_first.clone()
        better_first[list(exclude)] = -torch.inf
    k = min(k, t.shape[0] - len(set(exclude)))
    if k <= 0:
        return []
    top = torch.topk(better_first, k).indices
    return [Neighbour(int(i), float(scores[i])) for i in top]


def neighbours_of(
    table: torch.Tensor, term: Term, k: int = 10, metric: str = "cosine"
) -> list[Neighbour]:
    """The term's nearest rows, the term's own tokens left out."""
    return nearest(table, term_vector(table, term), k, metric, exclude=term.ids)


def arithmetic(
    table: torch.Tensor, a: Term, b: Term, c: Term, k: int = 10, metric: str = "cosine"
) -> list[Neighbour]:
    """Rows nearest to a − b + c, the three terms' tokens left out."""
    query = term_vector(table, a) - term_vector(table, b) + term_vector(table, c)
    exclude = tuple(dict.fromkeys(a.ids + b.ids + c.ids))
    return nearest(table, query, k, metric, exclude=exclude)
