"""Orthogonal Procrustes recovers a known rotation; comparisons of two tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes as scipy_procrustes
from scipy.stats import special_ortho_group

from core.embeddings import EmbeddingError, compare_tables, orthogonal_procrustes


def test_recovers_a_known_rotation():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 8))
    rotation = special_ortho_group.rvs(8, random_state=1)
    r = orthogonal_procrustes(torch.from_numpy(a), torch.from_numpy(a @ rotation)).numpy()
    assert r == pytest.approx(rotation, abs=1e-10)
    assert r.T @ r == pytest.approx(np.eye(8), abs=1e-12)


def test_matches_scipy_on_noisy_data():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(50, 5)), rng.normal(size=(50, 5))
    ours = orthogonal_procrustes(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert ours == pytest.approx(scipy_procrustes(a, b)[0], abs=1e-10)


def test_a_rotated_table_has_no_residual_and_a_moved_token_stands_out():
    rng = np.random.default_rng(3)
    b = rng.normal(size=(300, 10))
    a = (b - b.mean(0)) @ special_ortho_group.rvs(10, random_state=4).T + 5.0  # turned, shifted
    same = compare_tables(torch.from_numpy(a), torch.from_numpy(b), dims=2, max_points=100)
    assert same.residual == pytest.approx(0.0, abs=1e-20)
    assert same.coords_a == pytest.approx(same.coords_b, abs=1e-4)
    assert same.ids.shape == (100,) and same.coords_a.shape == (100, 2)
    a[17] += 10 * rng.normal(size=10)
    moved = compare_tables(torch.from_numpy(a), torch.from_numpy(b), dims=3)
    assert int(np.argmax(moved.moved)) == 17 and moved.residual > 0
    assert moved.coords_a.shape == (300, 3)


def test_tables_of_different_shapes_are_refused():
    with pytest.raises(EmbeddingError, match="differ in shape"):
        compare_tables(torch.zeros(10, 4), torch.zeros(10, 5))
