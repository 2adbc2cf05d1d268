"""Attention weights out of a model, the text it reads, and the induction probe.

The models already return their weights: ``model(ids, capture=True).attentions`` is one
(B, H, T, T) tensor per layer, from the explicit ``softmax(QK^T/sqrt(d))`` path (GPT:
``core/model/attention.py``; Llama: one map per *query* head, the key/value head it reads
being ``model.kv_head_of(h)``). This module turns a text into bounded token ids, runs the
model once and returns the weights as one numpy array (L, H, T, T).

The induction probe (Olsson et al. 2022, section "Per-token loss analysis"; TransformerLens'
``induction score``): a sequence of ``n`` distinct random tokens, repeated twice. At a
position ``t`` of the second copy, an induction head attends to the token *after* the first
occurrence of the current token, i.e. to ``t - n + 1``; a head's score is its mean weight
there over the second copy. Example, n = 3, no prefix: ids ``[a, b, c, a, b, c]``; query 3
(``a``) should look at key 1 (``b``), query 4 at key 2, query 5 at key 3.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tiktoken
import torch

from core.attention.stats import AttentionInputError, check_weights

MAX_TOKENS = 256  # the most tokens one analysis reads (cost grows with T^2 per head)
PROBE_LENGTH = 50  # random tokens in each copy of the induction probe
MAX_PROBE_LENGTH = 128


@dataclass(frozen=True)
class HeadLayout:
    """How many layers and heads a model has, and which query heads share a key/value head."""

    n_layer: int
    n_head: int  # query heads per layer
    n_kv_head: int  # key/value heads per layer (= n_head without grouped-query attention)

    @property
    def group_size(self) -> int:
        return self.n_head // self.n_kv_head

    def kv_head_of(self, head: int) -> int:
        """The key/value head query head ``head`` reads (``head // group_size``)."""
        return head // self.group_size

    def sharing(self, head: int) -> tuple[int, ...]:
        """The query heads that read the same key/value head as ``head`` (itself included)."""
        kv = self.kv_head_of(head)
        return tuple(range(kv * self.group_size, (kv + 1) * self.group_size))


def head_layout(model: Any) -> HeadLayout:
    """The layout of a GPT or Llama (anything whose config has n_layer and n_head)."""
    c = model.config
    return HeadLayout(c.n_layer, c.n_head, getattr(c, "n_kv_head", c.n_head))


@dataclass(frozen=True)
class Prepared:
    """Token ids ready for the model, with what was changed and why."""

    ids: list[int]
    notices: list[str] = field(default_factory=list)


def prepare_ids(
    tokenizer: tiktoken.Encoding,
    text: str,
    *,
    context_length: int,
    start_token: int | None = None,
    max_tokens: int = MAX_TOKENS,
) -> Prepared:
    """Encode ``text`` for an analysis: special tokens read as such, start token first, cut.

    Keeps the *first* ``min(max_tokens, context_length)`` tokens (an attention map reads
    from the start) and says so. Raises AttentionInputError for an empty or blank text.
    """
    if not text.strip():
        raise AttentionInputError(
            "The text is empty or only whitespace: type a sentence to see its attention maps."
        )
    notices = []
    special = set(tokenizer.special_tokens_set)
    ids = tokenizer.encode(text, allowed_special=special, disallowed_special=())
    special_ids = {tokenizer.encode_single_token(s) for s in special}
    specials = sorted({t for t in ids if t in special_ids})
    if specials:
        names = ", ".join(tokenizer.decode([t]) for t in specials)
        notices.append(f"Special tokens in the text are read as such (one id each): {names}.")
    room = max(1, min(max_tokens, context_length) - (start_token is not None))
    if len(ids) > room:
        notices.append(
            f"The text has {len(ids)} tokens; this page reads at most {room}"
            + (" after the model's start token" if start_token is not None else "")
            + f" (model context {context_length}, page limit {max_tokens}): only the first "
            f"{room} are used."
        )
        ids = ids[:room]
    if start_token is not None:
        ids = [start_token, *ids]
    if len(ids) < 2:
        notices.append(
            "One token attends only to itself (every map is a single 1): add a word to see "
            "how tokens attend to each other."
        )
    return Prepared(ids, notices)


@torch.no_grad()
def capture_attention(model: Any, ids: list[int]) -> np.ndarray:
    """Every layer's attention weights for one sequence, float32 (L, H, T, T)."""
    if not ids:
        raise AttentionInputError("no tokens to attend over")
    idx = torch.tensor([ids], dtype=torch.long, device=model.device)
    # last_only: the output head for one position, not T (SmolLM2: 49,152 x 576 per token)
    out = model(idx, capture=True, last_only=True)
    stacked = torch.stack([w[0] for w in out.attentions])  # (L, H, T, T)
    return stacked.float().cpu().numpy()


def probe_ids(
    vocab_size: int,
    length: int = PROBE_LENGTH,
    *,
    seed: int = 0,
    exclude: Collection[int] = (),
    start_token: int | None = None,
) -> tuple[list[int], int]:
    """(ids, offset): ``length`` distinct random tokens twice, after the start token if any.

    ``offset`` is where the first copy begins (1 after a start token, else 0).
    """
    pool = np.setdiff1d(np.arange(vocab_size), np.asarray(sorted(exclude), dtype=np.int64))
    if start_token is not None:
        pool = pool[pool != start_token]
    if not 2 <= length <= len(pool):
        raise AttentionInputError(
            f"the probe needs 2 to {len(pool)} distinct tokens per copy, got {length}"
        )
    chosen = np.random.default_rng(seed).choice(pool, size=length, replace=False).tolist()
    prefix = [] if start_token is None else [start_token]
    return prefix + chosen + chosen, len(prefix)


def induction_scores(attn: np.ndarray, length: int, offset: int = 0) -> np.ndarray:
    """Mean weight from each second-copy position to the token after its first occurrence.

    attn: (L, H, T, T) weights of a probe sequence (``length`` tokens twice from ``offset``).
    Returns (L, H) scores in [0, 1].
    """
    a = check_weights(attn)
    if offset + 2 * length > a.shape[-1]:
        raise AttentionInputError(
            f"weights over {a.shape[-1]} positions cannot hold two copies of {length} tokens"
        )
    queries = offset + length + np.arange(length)  # second copy
    keys = queries - length + 1  # the token after the first occurrence
    return a[:, :, queries, keys].mean(-1)


@dataclass(frozen=True)
class ProbeResult:
    scores: np.ndarray  # (L, H) induction scores
    ids: list[int]  # the probe sequence
    offset: int
    length: int


def run_induction_probe(
    model: Any,
    *,
    length: int = PROBE_LENGTH,
    seed: int = 0,
    exclude: Collection[int] = (),
) -> ProbeResult:
    """Run the probe on ``model``; the length shrinks to fit its context (at least 2)."""
    c = model.config
    start = getattr(c, "start_token", None)
    fit = (c.context_length - (start is not None)) // 2
    length = max(2, min(length, MAX_PROBE_LENGTH, fit))
    ids, offset = probe_ids(c.vocab_size, length, seed=seed, exclude=exclude, start_token=start)
    scores = induction_scores(capture_attention(model, ids), length, offset)
    return ProbeResult(scores=scores, ids=ids, offset=offset, length=length)
