"""Every view of x·W and of A·B equals torch's product."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.linalg import LinalgError
from core.linalg.products import (
    as_matrix,
    block_products,
    by_columns,
    by_rows,
    inner_products,
    outer_products,
    per_element,
    random_problem,
    row_contributions,
    step_view,
)


def _torch(x, w) -> list[float]:
    return (torch.tensor(x, dtype=torch.float64) @ torch.tensor(w, dtype=torch.float64))[0].tolist()


@pytest.mark.parametrize("seed", [0, 1, 7, 123])
def test_three_views_equal_torch(seed):
    x, w = random_problem(seed)
    y = _torch(x, w)
    assert [sum(t.value for t in terms) for terms in per_element(x, w)] == y
    assert list(by_rows(x, w)[-1]) == y
    assert by_columns(x, w) == y
    contributions = np.array(row_contributions(x, w))
    assert contributions.sum(axis=0).tolist() == y
    # row i of the contributions is x_i times row i of W
    assert contributions.tolist() == (np.array(x).T * np.array(w)).tolist()


def test_worked_example_from_the_docstring():
    x = as_matrix([[1, 2, 3]], 1, 3, "x")
    w = as_matrix([[1, 0], [0, 1], [1, 1]], 3, 2, "W")
    assert by_columns(x, w) == [4.0, 5.0]
    assert by_rows(x, w) == [(1.0, 0.0), (1.0, 2.0), (4.0, 5.0)]


def test_random_problem_is_small_integers_and_reproducible():
    x, w = random_problem(5)
    assert (x, w) == random_problem(5) and (x, w) != random_problem(6)
    assert len(x) == 1 and len(x[0]) == 3 and len(w) == 3 and len(w[0]) == 6
    assert all(v == int(v) and -3 <= v <= 3 for row in x + w for v in row)


def test_stepping_fills_the_same_numbers_in_every_view():
    x, w = random_problem(3)
    y = _torch(x, w)
    assert step_view(x, w, 0)["partial"] == [0.0] * 6
    mid = step_view(x, w, 4)  # y_1 complete, y_2 has its first term
    assert mid["columns_done"] == 1 and mid["current"] == (0, 1)
    assert mid["partial"][0] == y[0] and mid["partial"][1] == x[0][0] * w[0][1]
    assert step_view(x, w, 18)["partial"] == y
    with pytest.raises(LinalgError, match="step must be from 0 to 18"):
        step_view(x, w, 19)


def test_matrix_products_three_ways_equal_torch():
    rng = np.random.default_rng(0)
    a, b = rng.integers(-4, 5, (4, 5)).astype(float), rng.integers(-4, 5, (5, 3)).astype(float)
    c = (torch.tensor(a) @ torch.tensor(b)).numpy()
    A, B = as_matrix(a, 4, 5, "A"), as_matrix(b, 5, 3, "B")
    assert np.array_equal(inner_products(A, B), c)
    outer = np.array(outer_products(A, B))
    assert outer.shape == (5, 4, 3) and np.array_equal(outer.sum(axis=0), c)
    assert all(np.linalg.matrix_rank(o) <= 1 for o in outer)
    blocks = block_products(A, B, (2, 3, 1))
    top = np.hstack([blocks[0, 0], blocks[0, 1]])
    bottom = np.hstack([blocks[1, 0], blocks[1, 1]])
    assert np.array_equal(np.vstack([top, bottom]), c)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ([[1, 2]], "must be 1×3"),
        ([[1, float("nan"), 2]], r"x\[1, 2\]"),
        ([[1, 2, 1e9]], "within ±1000"),
        ([["a", 2, 3]], "numbers only"),
    ],
)
def test_bad_entries_are_named(values, match):
    with pytest.raises(LinalgError, match=match):
        as_matrix(values, 1, 3, "x")
