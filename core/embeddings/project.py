"""Projections of an embedding table to 2 or 3 dimensions: exact PCA, t-SNE, or none.

* **PCA** (Jolliffe, *Principal Component Analysis*, ch. 1; Bishop, *PRML* §12.1): centre
  the rows, take the eigenvectors of the covariance ``XᵀX / (n-1)`` with the largest
  eigenvalues (``torch.linalg.eigh`` in float64: exact, not randomised like
  ``pca_lowrank``; for SmolLM2's 49,152 × 576 table a 576 × 576 problem), project. Signs are fixed so each component's largest
  loading is positive, so the same table always gives the same picture.
* **t-SNE** (van der Maaten & Hinton 2008) through openTSNE (Poličar et al. 2024): exact
  or approximate nearest-neighbour affinities, PCA initialisation, 250 steps of early
  exaggeration then 500 ordinary ones; Barnes-Hut gradients, FFT-accelerated ones for 10,000 points or more in 2-D.
* **direct**: a table of width 2 or 3 is already a picture; it is plotted as it is.

Every projection reports progress through ``progress(fraction, what)``; the callback may
raise (a closed browser tab, a rerun) and the projection then stops at that point with
nothing returned, so nothing half-done can be cached (see ``cache.py``). Costs are bounded
before anything starts: t-SNE refuses more than :data:`MAX_TSNE_POINTS` points.

    >>> x = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    >>> pca(x, 1).scores.squeeze().tolist()   # points on a line: one component explains all
    [-1.414..., 0.0, 1.414...]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

Progress = Callable[[float, str], None]

METHODS = ("pca", "tsne")  # what a user can pick; "direct" is chosen for width 2 or 3
METHOD_LABELS = {"pca": "PCA (exact)", "tsne": "t-SNE", "direct": "none (width ≤ 3)"}
MAX_TSNE_POINTS = 20_000  # t-SNE on more points is refused (minutes on 2 cores)
MIN_TSNE_POINTS = 8  # fewer points have no neighbourhoods worth keeping
TSNE_EXAGGERATION_STEPS = 250
TSNE_STEPS = 500
TSNE_CALLBACK_EVERY = 25  # progress and cancellation checks, in gradient steps


class EmbeddingError(ValueError):
    """A request the embedding views cannot serve; the message says what would work."""


def _no_progress(fraction: float, what: str) -> None:
    pass


@dataclass(frozen=True)
class ProjectionSettings:
    """How a table is projected; the cache key of a projection together with the model."""

    method: str = "pca"  # "pca" or "tsne"
    dims: int = 2  # 2 or 3 output dimensions
    sample: int = 0  # rows projected, a seeded random sample; 0 = every row (PCA only)
    perplexity: float = 30.0  # t-SNE: effective number of neighbours each point keeps
    seed: int = 0  # the sample and t-SNE's random state

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise EmbeddingError(f"unknown projection {self.method!r}: use one of {METHODS}")
        if self.dims not in (2, 3):
            raise EmbeddingError(f"a projection has 2 or 3 dimensions, not {self.dims}")
        if self.sample < 0:
            raise EmbeddingError("the sample size cannot be negative (0 means every row)")
        if not 1.0 <= self.perplexity <= 200.0:
            raise EmbeddingError(f"perplexity must be from 1 to 200, got {self.perplexity:g}")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class PCAResult:
    scores: torch.Tensor  # (n, k) float64: the rows in the principal axes
    components: torch.Tensor  # (k, d) float64: unit principal axes, largest variance first
    explained: torch.Tensor  # (k,) fraction of the total variance along each axis
    mean: torch.Tensor  # (d,) the centre that was subtracted


@dataclass(frozen=True)
class Projection:
    """A projected table: one point per projected row."""

    coords: np.ndarray  # (n, dims) float32
    ids: np.ndarray  # (n,) int64: the table rows (token ids) projected, ascending
    method: str  # "pca", "tsne" or "direct"
    explained: tuple[float, ...]  # PCA: variance fraction per axis; empty otherwise
    seconds: float  # time the projection took when it was computed
    note: str = ""  # what the user should know (perplexity lowered, width plotted directly)


def pca(x: torch.Tensor, k: int) -> PCAResult:
    """Exact PCA of the rows of ``x`` (n, d) onto ``k`` axes (covariance eigenvectors)."""
    if x.dim() != 2:
        raise EmbeddingError(f"PCA needs a table (rows, width), got shape {tuple(x.shape)}")
    n, d = x.shape
    if n < 2 or k > n - 1 or k > d or k < 1:
        raise EmbeddingError(
            f"{n} points of width {d} give at most {max(0, min(n - 1, d))} principal "
            f"components; {k} asked for (fewer points than components)"
        )
    # A float32 table is centred and multiplied in float32 (half the time of float64; the
    # covariance's relative error stays ~1e-6), the eigenproblem is always float64.
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    xw = x.detach().to("cpu", work)
    mean = xw.mean(0)  # (d,) pairwise sums: accurate in float32, 10x faster than dtype=float64
    if not torch.isfinite(mean).all():  # finite values whose float32 sum overflows
        mean = xw.double().mean(0)
    centred = xw - mean.to(work)  # (n, d)
    cov = (centred.T @ centred).double() / (n - 1)  # (d, d)
    values, vectors = torch.linalg.eigh(cov)  # ascending
    values, vectors = values.flip(0)[:k], vectors.flip(1)[:, :k]  # (k,), (d, k)
    # Sign convention: the largest-magnitude loading of each axis is positive.
    biggest = vectors.abs().argmax(0)
    signs = torch.sign(vectors[biggest, torch.arange(k)])
    vectors = vectors * torch.where(signs == 0, 1.0, signs)
    total = torch.clamp(torch.trace(cov), min=torch.finfo(torch.float64).tiny)
    scores = (centred @ vectors.to(work)).double()  # (n, k)
    return PCAResult(scores, vectors.T, values.clamp(min=0) / total, mean.double())


def sample_ids(n_rows: int, sample: int, seed: int) -> np.ndarray:
    """``sample`` row indices drawn without replacement (all rows if 0 or ≥ n), ascending."""
    if sample == 0 or sample >= n_rows:
        return np.arange(n_rows, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=sample, replace=False)).astype(np.int64)


def _tsne(
    x: np.ndarray, settings: ProjectionSettings, progress: Progress
) -> tuple[np.ndarray, str]:
    from openTSNE import TSNEEmbedding, affinity, initialization  # imported when used: ~1 s

    n = len(x)
    note = ""
    perplexity = settings.perplexity
    if 3 * perplexity > n - 1:  # each point needs 3·perplexity neighbours
        perplexity = max(1.0, (n - 1) / 3)
        note = f"perplexity lowered from {settings.perplexity:g} to {perplexity:.1f} for {n} points"
    progress(0.02, "nearest neighbours")
    aff = affinity.PerplexityBasedNN(
        x,
        perplexity=perplexity,
        method="exact" if n <= 2_000 else "annoy",
        n_jobs=1,
        random_state=settings.seed,
    )
    progress(0.2, "initialising from PCA")
    init = initialization.pca(x, n_components=settings.dims, random_state=settings.seed)
    total = TSNE_EXAGGERATION_STEPS + TSNE_STEPS

    def reporter(offset: int) -> Callable[[int, float, np.ndarray], bool]:
        def callback(iteration: int, error: float, embedding: np.ndarray) -> bool:
            done = (offset + iteration) / total
            progress(0.2 + 0.8 * done, f"t-SNE step {offset + iteration} of {total}")
            return False

        return callback

    embedding = TSNEEmbedding(
        init,
        aff,
        # Barnes-Hut is faster below ~10,000 points; FFT interpolation above (2-D only)
        negative_gradient_method="fft" if settings.dims == 2 and n >= 10_000 else "bh",
        n_jobs=1,
        random_state=settings.seed,
    )
    common = {"callbacks_every_iters": TSNE_CALLBACK_EVERY, "propagate_exception": True}
    embedding = embedding.optimize(
        TSNE_EXAGGERATION_STEPS,
        exaggeration=12,
        momentum=0.5,
        callbacks=[reporter(0)],
        **common,
    )
    embedding = embedding.optimize(
        TSNE_STEPS, momentum=0.8, callbacks=[reporter(TSNE_EXAGGERATION_STEPS)], **common
    )
    return np.asarray(embedding, dtype=np.float32), note


def project(
    table: torch.Tensor | np.ndarray,
    settings: ProjectionSettings,
    progress: Progress | None = None,
) -> Projection:
    """Project the rows of ``table`` (n, d) as ``settings`` say.

    A table of width ≤ 3 is plotted directly (method "direct"). PCA fits every row and
    keeps the sampled ones; t-SNE sees only the sample and refuses more than
    :data:`MAX_TSNE_POINTS`. ``progress`` is called from 0 to 1 and may raise to cancel.
    """
    progress = progress or _no_progress
    x = torch.as_tensor(table).detach().to("cpu", torch.float32)
    if x.dim() != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise EmbeddingError(f"an embedding table has rows and columns, got {tuple(x.shape)}")
    # A column sum is NaN or infinite when the column holds one (or overflows: then look
    # at every value); 30x cheaper than isfinite over 28M values.
    if not torch.isfinite(x.sum(0)).all() and not torch.isfinite(x).all():
        raise EmbeddingError("the embedding table holds NaN or infinite values")
    n, d = x.shape
    ids = sample_ids(n, settings.sample, settings.seed)
    start = time.perf_counter()
    progress(0.0, "starting")
    if d <= 3:
        coords = x[torch.from_numpy(ids)].numpy().astype(np.float32)
        note = f"the embeddings have width {d}: plotted directly, no projection"
        progress(1.0, "done")
        return Projection(coords, ids, "direct", (), time.perf_counter() - start, note)
    if settings.method == "pca":
        result = pca(x, settings.dims)
        coords = result.scores[torch.from_numpy(ids)].numpy().astype(np.float32)
        progress(1.0, "done")
        explained = tuple(float(v) for v in result.explained)
        return Projection(coords, ids, "pca", explained, time.perf_counter() - start)
    if len(ids) > MAX_TSNE_POINTS:
        raise EmbeddingError(
            f"t-SNE of {len(ids):,} points would take many minutes here; pick a sample of at "
            f"most {MAX_TSNE_POINTS:,} (PCA has no limit)"
        )
    if len(ids) < MIN_TSNE_POINTS:
        raise EmbeddingError(
            f"t-SNE needs at least {MIN_TSNE_POINTS} points, got {len(ids)}; use PCA"
        )
    coords, note = _tsne(x[torch.from_numpy(ids)].numpy(), settings, progress)
    progress(1.0, "done")
    return Projection(coords, ids, "tsne", (), time.perf_counter() - start, note)
