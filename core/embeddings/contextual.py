"""Contextual embeddings: a text's hidden state after each layer, and each token's path.

A token's input embedding is the same wherever it appears; each block then mixes in its
context (Ethayarajh 2019, "How contextual are contextualized word representations?"). Here
one or two texts run through the model with ``capture=True`` (``ModelOutput.hidden_states``:
the input to the first block, then the state after every block), all those states are
projected together with one PCA, and each token becomes a path through the layers. The same
word in two contexts starts at the same point (layer 0 of a Llama, where no position is
added) and drifts apart; :func:`divergence` gives the cosine similarity of the two states at
every layer.

The residual stream grows with depth (and a few dimensions carry very large values in
Llamas), so by default every state is scaled to unit length before the PCA: the picture
then shows direction, which is what cosine similarity measures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tiktoken
import torch

from core.embeddings.neighbours import Term
from core.embeddings.project import EmbeddingError, pca
from core.tokenization.display import display_token

MAX_CONTEXT_TOKENS = 64  # tokens of one text run through the model
MAX_CONTEXT_CHARS = 1_000  # characters of one text


@dataclass(frozen=True)
class Context:
    """One text's hidden states."""

    text: str
    ids: tuple[int, ...]  # what the model read (its start token first, when it has one)
    tokens: tuple[str, ...]  # each id shown on one line
    states: np.ndarray  # (n_layer + 1, T, d) float32: input to block 1, then after each block


def encode_context(text: str, encoding: tiktoken.Encoding, start_token: int | None) -> list[int]:
    """The ids the model reads for ``text``; refuses empty and over-long texts."""
    if not text.strip():
        raise EmbeddingError("type a sentence to see its contextual embeddings")
    if len(text) > MAX_CONTEXT_CHARS:
        raise EmbeddingError(
            f"a text has at most {MAX_CONTEXT_CHARS:,} characters here, got {len(text):,}"
        )
    ids = ([start_token] if start_token is not None else []) + encoding.encode(
        text, disallowed_special=()
    )
    if len(ids) > MAX_CONTEXT_TOKENS:
        raise EmbeddingError(
            f"the text is {len(ids)} tokens; the contextual view takes at most "
            f"{MAX_CONTEXT_TOKENS} (shorten it)"
        )
    return ids


@torch.no_grad()
def run_context(model: torch.nn.Module, encoding: tiktoken.Encoding, text: str) -> Context:
    """Run ``text`` through ``model`` and keep every layer's hidden state."""
    start_token = getattr(getattr(model, "config", None), "start_token", None)
    ids = encode_context(text, encoding, start_token)
    idx = torch.tensor([ids], dtype=torch.long, device=model.device)  # (1, T)
    out = model(idx, capture=True)
    states = torch.stack([h[0] for h in out.hidden_states]).float().cpu().numpy()  # (L+1, T, d)
    tokens = tuple(
        display_token(encoding.decode_single_token_bytes(i).decode("utf-8", "backslashreplace"))
        for i in ids
    )
    return Context(text, tuple(ids), tokens, states)


def project_contexts(
    contexts: list[Context], dims: int = 2, normalise: bool = True
) -> tuple[list[np.ndarray], tuple[float, ...]]:
    """Every state of every context in one PCA: per context (L+1, T, dims); explained."""
    if not contexts:
        raise EmbeddingError("no text to project")
    stacked = [c.states.reshape(-1, c.states.shape[-1]) for c in contexts]
    x = torch.from_numpy(np.concatenate(stacked)).double()  # (points, d)
    if normalise:
        x = x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)
    result = pca(x, dims)
    scores = result.scores.numpy().astype(np.float32)
    out, start = [], 0
    for c in contexts:
        n = c.states.shape[0] * c.states.shape[1]
        out.append(scores[start : start + n].reshape(c.states.shape[0], c.states.shape[1], dims))
        start += n
    return out, tuple(float(v) for v in result.explained)


def find_term(context: Context, term: Term) -> int:
    """Index of the last token of the term's first occurrence in ``context`` (its word's
    state after the model has read all of it); :class:`EmbeddingError` if absent."""
    ids, want = context.ids, term.ids
    for i in range(len(ids) - len(want) + 1):
        if ids[i : i + len(want)] == want:
            return i + len(want) - 1
    raise EmbeddingError(
        f"“{term.text}” (tokens {list(want)}) does not occur in “{context.text[:60]}”; "
        "a word inside a sentence usually starts with a space"
    )


def divergence(a: Context, i: int, b: Context, j: int) -> np.ndarray:
    """Cosine similarity, layer by layer, of token ``i`` of ``a`` and token ``j`` of ``b``."""
    x = torch.from_numpy(a.states[:, i]).double()  # (L+1, d)
    y = torch.from_numpy(b.states[:, j]).double()
    cos = (x * y).sum(1) / (x.norm(dim=1) * y.norm(dim=1)).clamp(min=1e-12)
    return cos.numpy()
