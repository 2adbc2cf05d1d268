"""Per-head attention statistics and head labels, from attention weights (L, H, T, T).

What a head does is read off where its weight goes (Clark et al. 2019, "What does BERT look
at?", section 3; Olsson et al. 2022, "In-context learning and induction heads"): how spread
its weights are (entropy), how far back it looks (mean distance), and how much it puts on
the first token (an "attention sink", Xiao et al. 2023), the previous token, its own
position and earlier copies of the same token. Every statistic is a mean over the query
rows 1 .. T-1: row 0 can only see itself, so it says nothing about the head.

Labels follow from explicit thresholds (:class:`Thresholds`, shown on the page); a head may
satisfy several, and its *label* is the first in :data:`LABEL_ORDER`. Example: a head
whose every row puts 0.9 on the previous token has ``previous = 0.9``, ``mean_distance``
about 1 and is labelled ``previous-token`` (and is also ``local``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


class AttentionInputError(ValueError):
    """Attention weights or token ids that statistics cannot be computed from."""


# The labels, in priority order: a head's label is the first one it qualifies for.
INDUCTION, PREVIOUS, SINK, LOCAL, BROAD, MIXED = (
    "induction",
    "previous-token",
    "first-token/sink",
    "local",
    "broad",
    "mixed",
)
LABEL_ORDER = (INDUCTION, PREVIOUS, SINK, LOCAL, BROAD)


@dataclass(frozen=True)
class Thresholds:
    """When a head earns a label; every value is shown next to the statistics table."""

    induction: float = 0.4  # induction score (probe) at least this
    previous: float = 0.5  # mean weight on the previous token at least this
    sink: float = 0.5  # mean weight on the first token at least this
    local_distance: float = 2.5  # mean distance attended (tokens) at most this
    broad_entropy: float = 0.75  # entropy / log(visible keys) at least this (1 = uniform)

    def describe(self) -> dict[str, str]:
        """Label -> the rule, in words, for the page."""
        return {
            INDUCTION: f"induction score ≥ {self.induction:g}",
            PREVIOUS: f"weight on the previous token ≥ {self.previous:g}",
            SINK: f"weight on the first token ≥ {self.sink:g}",
            LOCAL: f"mean distance attended ≤ {self.local_distance:g} tokens (and not broad)",
            BROAD: f"normalised entropy ≥ {self.broad_entropy:g}",
            MIXED: "none of the above",
        }


@dataclass(frozen=True)
class HeadStats:
    """One head's statistics (means over the query rows 1 .. T-1)."""

    layer: int
    head: int
    entropy: float  # bits: -sum w log2 w, 0 = all weight on one key
    norm_entropy: float  # entropy / log2(number of visible keys): 1 = uniform
    mean_distance: float  # sum_j w_ij (i - j): how many tokens back the weight sits
    sink: float  # weight on position 0
    previous: float  # weight on position i - 1
    same: float  # weight on the query's own position i
    duplicate: float | None  # weight on earlier copies of the query's token (None: no repeat)

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def check_weights(attn: np.ndarray) -> np.ndarray:
    """``attn`` as float64 (L, H, T, T) causal attention weights, or AttentionInputError."""
    a = np.asarray(attn, dtype=np.float64)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise AttentionInputError(f"expected weights (layers, heads, T, T), got {a.shape}")
    if a.shape[-1] < 2:
        raise AttentionInputError(
            "one token has nothing to attend to but itself: give at least two tokens"
        )
    if not np.isfinite(a).all():
        raise AttentionInputError("attention weights contain NaN or infinity")
    return a


def head_statistics(attn: np.ndarray, ids: Sequence[int]) -> list[HeadStats]:
    """Statistics of every head, layer-major, from weights (L, H, T, T) and the T token ids."""
    a = check_weights(attn)
    L, H, T, _ = a.shape
    if len(ids) != T:
        raise AttentionInputError(f"{len(ids)} token ids for {T} attended positions")
    rows = a[:, :, 1:, :]  # (L, H, T-1, T): query rows 1 .. T-1
    q = np.arange(1, T)  # query positions
    k = np.arange(T)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(rows > 0, rows * np.log2(np.where(rows > 0, rows, 1.0)), 0.0)
    entropy = -plogp.sum(-1)  # (L, H, T-1)
    norm_entropy = entropy / np.log2(q + 1)  # q+1 keys are visible from query q
    distance = (rows * np.clip(q[:, None] - k[None, :], 0, None)).sum(-1)  # (L, H, T-1)
    sink = rows[..., 0]
    previous = rows[:, :, np.arange(T - 1), np.arange(T - 1)]  # w[q, q-1]
    same = rows[:, :, np.arange(T - 1), q]  # w[q, q]
    ids_arr = np.asarray(ids)
    earlier_same = (ids_arr[None, :] == ids_arr[q][:, None]) & (k[None, :] < q[:, None])
    has_copy = earlier_same.any(-1)  # (T-1,)
    dup = (rows * earlier_same).sum(-1)  # (L, H, T-1)
    out = []
    for layer in range(L):
        for head in range(H):
            out.append(
                HeadStats(
                    layer=layer,
                    head=head,
                    entropy=float(entropy[layer, head].mean()),
                    norm_entropy=float(norm_entropy[layer, head].mean()),
                    mean_distance=float(distance[layer, head].mean()),
                    sink=float(sink[layer, head].mean()),
                    previous=float(previous[layer, head].mean()),
                    same=float(same[layer, head].mean()),
                    duplicate=float(dup[layer, head][has_copy].mean()) if has_copy.any() else None,
                )
            )
    return out


def head_labels(
    stats: HeadStats, induction: float | None = None, thresholds: Thresholds | None = None
) -> tuple[str, ...]:
    """Every label the head qualifies for, in :data:`LABEL_ORDER` (``("mixed",)`` if none)."""
    th = thresholds or Thresholds()
    found = []
    if induction is not None and induction >= th.induction:
        found.append(INDUCTION)
    if stats.previous >= th.previous:
        found.append(PREVIOUS)
    if stats.sink >= th.sink:
        found.append(SINK)
    if stats.mean_distance <= th.local_distance and stats.norm_entropy < th.broad_entropy:
        found.append(LOCAL)  # near and focused: on a short text a uniform head is near too
    if stats.norm_entropy >= th.broad_entropy:
        found.append(BROAD)
    return tuple(found) or (MIXED,)
