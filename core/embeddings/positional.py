"""Where a model keeps position: a learned table (GPT) or rotary frequencies (Llama).

* **Learned** (GPT-2; Radford et al. 2019): row ``p`` of ``pos_emb`` is added to the token
  at position ``p``. Two views: the position × position cosine similarity of the rows
  (a bright diagonal band: nearby positions look alike) and the first principal components
  of the rows against position (smooth, wave-like curves in trained GPTs).
* **Rotary** (RoPE; Su et al. 2021): nothing is added; queries and keys are rotated, pair
  ``i`` of each head by angle ``p · θ^(−2i/head_dim)``. The view shows each pair's
  frequency and wavelength (positions per full turn) and ``cos(p · freq)`` over positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from core.embeddings.project import EmbeddingError, pca

MAX_POSITIONS = 1024  # positions shown in the similarity matrix (1024² cells at most)


@dataclass(frozen=True)
class LearnedPositions:
    similarity: np.ndarray  # (P, P) cosine similarity of position rows
    components: np.ndarray  # (P, k) first principal components against position
    explained: tuple[float, ...]  # variance fraction of each component
    shown: int  # positions shown (P)
    total: int  # positions the model has


@dataclass(frozen=True)
class RotaryPositions:
    frequencies: np.ndarray  # (head_dim/2,) radians per position of each pair
    wavelengths: np.ndarray  # (head_dim/2,) positions per full turn: 2π / frequency
    cosines: np.ndarray  # (P, head_dim/2) cos(p · frequency) for the first P positions
    theta: float
    head_dim: int


def learned_positions(
    table: torch.Tensor, k: int = 3, max_positions: int = MAX_POSITIONS
) -> LearnedPositions:
    """Similarity and principal components of a learned position table (positions, d)."""
    if table.dim() != 2 or table.shape[0] < 2:
        raise EmbeddingError("a position table needs at least two positions")
    total = table.shape[0]
    rows = table[:max_positions].detach().to("cpu", torch.float64)  # (P, d)
    unit = rows / rows.norm(dim=1, keepdim=True).clamp(min=1e-12)
    similarity = (unit @ unit.T).numpy().astype(np.float32)  # (P, P)
    k = max(1, min(k, rows.shape[0] - 1, rows.shape[1]))
    result = pca(rows, k)
    return LearnedPositions(
        similarity,
        result.scores.numpy().astype(np.float32),
        tuple(float(v) for v in result.explained),
        rows.shape[0],
        total,
    )


def rotary_positions(theta: float, head_dim: int, positions: int = 256) -> RotaryPositions:
    """Rotary frequencies ``θ^(−2i/head_dim)`` and their cosines over ``positions``."""
    if head_dim < 2 or head_dim % 2:
        raise EmbeddingError(f"rotary embeddings need an even head width, got {head_dim}")
    if not (theta > 1 and math.isfinite(theta)):
        raise EmbeddingError(f"the rotary base θ must be a finite number above 1, got {theta}")
    i = np.arange(0, head_dim, 2, dtype=np.float64)
    frequencies = theta ** (-i / head_dim)  # (hd/2,)
    p = np.arange(positions, dtype=np.float64)[:, None]
    cosines = np.cos(p * frequencies[None, :]).astype(np.float32)  # (P, hd/2)
    return RotaryPositions(frequencies, 2 * math.pi / frequencies, cosines, theta, head_dim)


def position_view(model: torch.nn.Module) -> LearnedPositions | RotaryPositions:
    """The view that fits ``model``: its learned table, or its rotary frequencies."""
    pos_emb = getattr(model, "pos_emb", None)
    if isinstance(pos_emb, torch.nn.Embedding):
        return learned_positions(pos_emb.weight)
    config = getattr(model, "config", None)
    theta = getattr(config, "rope_theta", None)
    if theta is not None:
        return rotary_positions(float(theta), int(config.head_dim))
    raise EmbeddingError("this model has neither a learned position table nor rotary embeddings")
