"""A matrix product written out: x·W three ways, and matrix × matrix three ways.

"LLM Preliminaries" reads ``y = x·W`` (x: 1×n, W: n×m) three ways, all with the same numbers:

1. **per element**: ``y_j = Σ_i x_i · W_ij``, a sum of n products;
2. **rows**: ``y = Σ_i x_i · W[i, :]``, a weighted combination of W's rows: input i decides
   how much of row i enters the output ("which input contributes");
3. **columns**: ``y_j = x · W[:, j]``, a dot product of x with column j ("where an output
   comes from").

Matrix × matrix ``C = A·B`` likewise: inner products (``C_ij = A[i, :] · B[:, j]``), a sum of
outer products (``C = Σ_k A[:, k] ⊗ B[k, :]``), or blocks (``C_IJ = Σ_K A_IK · B_KJ``).
Everything is plain Python floats so a page can print each term; tests compare with torch.

Example: x = [1, 2, 3], W = [[1, 0], [0, 1], [1, 1]] → y = [1·1 + 2·0 + 3·1, 1·0 + 2·1 + 3·1]
= [4, 5] = 1·[1, 0] + 2·[0, 1] + 3·[1, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.linalg import LinalgError

Matrix = tuple[tuple[float, ...], ...]  # rows
MAX_ABS = 1_000.0  # largest entry a user may type: products stay readable
MAX_DIM = 8  # the views print every term; larger matrices would be unreadable


def as_matrix(values: object, rows: int, cols: int, name: str) -> Matrix:
    """``values`` (nested lists/arrays) checked as a rows × cols matrix of finite numbers
    within ±MAX_ABS; :class:`LinalgError` names the first bad entry."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise LinalgError(f"{name} must hold numbers only ({exc})") from None
    if arr.shape != (rows, cols):
        raise LinalgError(f"{name} must be {rows}×{cols}, got shape {arr.shape}")
    bad = np.argwhere(~np.isfinite(arr) | (np.abs(arr) > MAX_ABS))
    if bad.size:
        i, j = (int(v) for v in bad[0])
        raise LinalgError(
            f"{name}[{i + 1}, {j + 1}] = {arr[i, j]} is not a number within ±{MAX_ABS:g}"
        )
    return tuple(tuple(float(v) for v in row) for row in arr)


def random_problem(seed: int, n: int = 3, m: int = 6) -> tuple[Matrix, Matrix]:
    """A 1×n x and an n×m W of small integers (−3..3), reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=(1, n)).astype(float)
    w = rng.integers(-3, 4, size=(n, m)).astype(float)
    return as_matrix(x, 1, n, "x"), as_matrix(w, n, m, "W")


def _shape(a: Matrix) -> tuple[int, int]:
    return len(a), len(a[0]) if a else 0


def _check(x: Matrix, w: Matrix) -> tuple[int, int]:
    (one, n), (n2, m) = _shape(x), _shape(w)
    if one != 1 or n != n2:
        raise LinalgError(f"x must be 1×n and W n×m; got x {one}×{n} and W {n2}×{m}")
    if max(n, m) > MAX_DIM:
        raise LinalgError(f"at most {MAX_DIM} inputs and outputs are written out")
    return n, m


@dataclass(frozen=True)
class Term:
    """One product x_i · W_ij."""

    i: int
    j: int
    x: float
    w: float

    @property
    def value(self) -> float:
        return self.x * self.w


def per_element(x: Matrix, w: Matrix) -> list[list[Term]]:
    """For each output j, its n terms x_i·W_ij (their sum is y_j)."""
    n, m = _check(x, w)
    return [[Term(i, j, x[0][i], w[i][j]) for i in range(n)] for j in range(m)]


def by_rows(x: Matrix, w: Matrix) -> list[tuple[float, ...]]:
    """Running sums: entry k is Σ_{i≤k} x_i · W[i, :] (the last one is y)."""
    n, m = _check(x, w)
    out, acc = [], [0.0] * m
    for i in range(n):
        acc = [a + x[0][i] * w[i][j] for j, a in enumerate(acc)]
        out.append(tuple(acc))
    return out


def row_contributions(x: Matrix, w: Matrix) -> list[tuple[float, ...]]:
    """x_i · W[i, :] for each input i: what input i adds to every output."""
    n, m = _check(x, w)
    return [tuple(x[0][i] * w[i][j] for j in range(m)) for i in range(n)]


def by_columns(x: Matrix, w: Matrix) -> list[float]:
    """y_j = x · W[:, j], one dot product per output."""
    n, m = _check(x, w)
    return [math.fsum(x[0][i] * w[i][j] for i in range(n)) for j in range(m)]


def step_view(x: Matrix, w: Matrix, step: int) -> dict[str, object]:
    """What step ``step`` (0 … n·m) of the stepped walk shows in all three views.

    Terms are taken output by output (y_1's n terms, then y_2's, …); after ``step`` terms the
    per-element view has filled in those products, the row view holds the same partial
    sums laid out as rows, the column view has completed ``step // n`` dot products.
    """
    n, m = _check(x, w)
    if not 0 <= step <= n * m:
        raise LinalgError(f"step must be from 0 to {n * m}, got {step}")
    done = [[False] * m for _ in range(n)]  # done[i][j]: term x_i W_ij counted
    for k in range(step):
        done[k % n][k // n] = True
    partial = [math.fsum(x[0][i] * w[i][j] for i in range(n) if done[i][j]) for j in range(m)]
    current = None if step == 0 else ((step - 1) % n, (step - 1) // n)
    return {"done": done, "partial": partial, "current": current, "columns_done": step // n}


# ---------------------------------------------------------------- matrix × matrix


def inner_products(a: Matrix, b: Matrix) -> list[list[float]]:
    """C_ij = A[i, :] · B[:, j]."""
    (p, k), (k2, q) = _shape(a), _shape(b)
    if k != k2:
        raise LinalgError(f"A is {p}×{k} and B {k2}×{q}: inner sizes differ")
    return [[math.fsum(a[i][t] * b[t][j] for t in range(k)) for j in range(q)] for i in range(p)]


def outer_products(a: Matrix, b: Matrix) -> list[list[list[float]]]:
    """The k rank-1 matrices A[:, t] ⊗ B[t, :] whose sum is C."""
    (p, k), (k2, q) = _shape(a), _shape(b)
    if k != k2:
        raise LinalgError(f"A is {p}×{k} and B {k2}×{q}: inner sizes differ")
    return [[[a[i][t] * b[t][j] for j in range(q)] for i in range(p)] for t in range(k)]


def block_products(a: Matrix, b: Matrix, split: tuple[int, int, int]) -> dict[tuple, np.ndarray]:
    """C's blocks from A's and B's: split = (rows of A's top blocks, inner split, columns of
    B's left blocks); returns {(I, J): C_IJ} with C_IJ = Σ_K A_IK · B_KJ, I, J, K ∈ {0, 1}."""
    A, B = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    (p, k), (k2, q) = A.shape, B.shape
    r, s, c = split
    if k != k2 or not (0 < r < p and 0 < s < k and 0 < c < q):
        raise LinalgError(f"cannot split a {p}×{k} by {k2}×{q} product at {split}")
    rows = (slice(0, r), slice(r, p))
    inner = (slice(0, s), slice(s, k))
    cols = (slice(0, c), slice(c, q))
    return {
        (bi, bj): sum(A[rows[bi], inner[bk]] @ B[inner[bk], cols[bj]] for bk in (0, 1))
        for bi in (0, 1)
        for bj in (0, 1)
    }
