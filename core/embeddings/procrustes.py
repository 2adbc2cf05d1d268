"""Two checkpoints' token tables made comparable by an orthogonal Procrustes rotation.

Two trainings of the same architecture can learn the same geometry in rotated axes, so
their raw projections are not comparable. Orthogonal Procrustes (Schönemann 1966; Hamilton
et al. 2016 use it to align word embeddings across decades) finds the rotation ``R``
(``RᵀR = I``) that minimises ``‖A R − B‖_F``: with ``U Σ Vᵀ = svd(Aᵀ B)``, ``R = U Vᵀ``.
After the rotation, one PCA of both tables together puts them in the same picture, and
each token's remaining distance ``‖a_i R − b_i‖`` says how much it moved.

    >>> a = torch.eye(2); b = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])  # b = a turned 90°
    >>> orthogonal_procrustes(a, b)  # -> tensor([[0., 1.], [-1., 0.]])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.embeddings.project import EmbeddingError, pca, sample_ids


@dataclass(frozen=True)
class Comparison:
    """Two tables aligned and projected together."""

    coords_a: np.ndarray  # (n, dims) float32: table A's drawn rows, rotated onto B
    coords_b: np.ndarray  # (n, dims) float32: table B's drawn rows
    ids: np.ndarray  # (n,) the token ids drawn (a seeded sample of at most max_points)
    moved: np.ndarray  # (vocab,) each token's distance after alignment / mean row norm of B
    residual: float  # ‖A R − B‖² / ‖B‖²: the part rotation cannot explain (0 = same geometry)
    explained: tuple[float, ...]  # variance fraction of the joint PCA's axes


def orthogonal_procrustes(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The orthogonal (d, d) matrix R minimising ‖a R − b‖_F for a, b (n, d)."""
    if a.shape != b.shape or a.dim() != 2:
        raise EmbeddingError(f"Procrustes needs two tables of one shape, got {tuple(a.shape)} "
                             f"and {tuple(b.shape)}")  # fmt: skip
    u, _, vt = torch.linalg.svd(a.double().T @ b.double())  # (d, d) each
    return u @ vt


def compare_tables(
    table_a: torch.Tensor,
    table_b: torch.Tensor,
    dims: int = 2,
    max_points: int = 5_000,
    seed: int = 0,
) -> Comparison:
    """Align ``table_a`` onto ``table_b`` (same tokens, same width) and project both."""
    if table_a.shape != table_b.shape:
        raise EmbeddingError(
            f"the two models' tables differ in shape ({tuple(table_a.shape)} vs "
            f"{tuple(table_b.shape)}): compare checkpoints of one architecture and tokenizer"
        )
    a = table_a.detach().to("cpu", torch.float64)
    b = table_b.detach().to("cpu", torch.float64)
    a = a - a.mean(0)  # (n, d): centred, so the rotation is about the centroid
    b = b - b.mean(0)
    rotation = orthogonal_procrustes(a, b)  # (d, d)
    aligned = a @ rotation
    gaps = (aligned - b).norm(dim=1)  # (n,)
    scale = b.norm(dim=1).mean().clamp(min=1e-12)
    residual = float((gaps**2).sum() / (b**2).sum().clamp(min=1e-12))
    joint = pca(torch.cat([aligned, b]), dims)
    n = a.shape[0]
    ids = sample_ids(n, max_points, seed)
    scores = joint.scores.numpy().astype(np.float32)
    return Comparison(
        scores[:n][ids],
        scores[n:][ids],
        ids,
        (gaps / scale).numpy(),
        residual,
        tuple(float(v) for v in joint.explained),
    )
