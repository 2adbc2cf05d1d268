"""Projections on data with known structure: PCA against scikit-learn, t-SNE keeps clusters."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from core.embeddings import EmbeddingError, ProjectionSettings, pca, project, sample_ids


def two_clusters(n: int = 30, d: int = 16, gap: float = 10.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, (n, d)), rng.normal(gap, 1, (n, d))]).astype(np.float32)


def test_points_on_a_line_have_one_component():
    x = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0], [2.0, 4.0, 4.0], [3.0, 6.0, 6.0]])
    result = pca(x, 2)
    assert result.explained[0].item() == pytest.approx(1.0)
    assert result.explained[1].item() == pytest.approx(0.0, abs=1e-12)
    # unit direction (1, 2, 2) / 3, sign: largest loading positive; steps of length 3
    assert result.components[0].tolist() == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    assert result.scores[:, 0].tolist() == pytest.approx([-4.5, -1.5, 1.5, 4.5])


def test_pca_matches_scikit_learn():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 12)) @ rng.normal(size=(12, 12))
    ours = pca(torch.from_numpy(x), 3)
    ref = PCA(n_components=3, svd_solver="full").fit(x)
    assert ours.explained.numpy() == pytest.approx(ref.explained_variance_ratio_, rel=1e-9)
    theirs = ref.transform(x)
    for i in range(3):  # the same axis up to sign
        sign = np.sign(ours.scores[:, i].numpy() @ theirs[:, i])
        assert ours.scores[:, i].numpy() == pytest.approx(sign * theirs[:, i], abs=1e-8)


def test_pca_separates_two_clusters_on_the_first_axis():
    proj = project(two_clusters(), ProjectionSettings("pca", 2))
    first = proj.coords[:, 0]
    assert proj.method == "pca" and proj.coords.shape == (60, 2)
    assert first[:30].max() < first[30:].min() or first[30:].max() < first[:30].min()
    assert proj.explained[0] > 0.9


def test_tsne_keeps_two_clusters_apart_and_reports_progress():
    seen: list[float] = []
    proj = project(
        two_clusters(), ProjectionSettings("tsne", 2, perplexity=10.0), lambda f, _: seen.append(f)
    )
    a, b = proj.coords[:30], proj.coords[30:]
    gap = np.linalg.norm(a.mean(0) - b.mean(0))
    spread = max(
        np.linalg.norm(a - a.mean(0), axis=1).max(), np.linalg.norm(b - b.mean(0), axis=1).max()
    )
    assert gap > 2 * spread
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen) and len(seen) > 20


def test_tsne_lowers_a_perplexity_too_large_for_the_points():
    proj = project(two_clusters(n=6), ProjectionSettings("tsne", 2, perplexity=30.0))
    assert "perplexity lowered from 30 to 3.7" in proj.note
    assert proj.coords.shape == (12, 2)


def test_width_two_and_three_are_plotted_directly():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    proj = project(x, ProjectionSettings("pca", 2))
    assert proj.method == "direct" and "width 3" in proj.note
    assert proj.coords.tolist() == x.tolist()
    flat = project(x[:, :2], ProjectionSettings("tsne", 3))
    assert flat.method == "direct" and flat.coords.shape == (4, 2)


def test_fewer_points_than_components_is_refused():
    with pytest.raises(EmbeddingError, match="fewer points than components"):
        project(np.ones((2, 8), dtype=np.float32), ProjectionSettings("pca", 2))
    with pytest.raises(EmbeddingError, match="at least 8"):
        project(np.eye(5, 8, dtype=np.float32), ProjectionSettings("tsne", 2))


def test_bad_tables_and_settings_are_refused():
    with pytest.raises(EmbeddingError, match="NaN"):
        project(np.full((5, 4), np.nan, dtype=np.float32), ProjectionSettings())
    one_bad = np.ones((50, 4), dtype=np.float32)
    one_bad[17, 2] = np.inf
    with pytest.raises(EmbeddingError, match="NaN"):
        project(one_bad, ProjectionSettings())
    with pytest.raises(EmbeddingError, match="rows and columns"):
        project(np.zeros((0, 4), dtype=np.float32), ProjectionSettings())
    with pytest.raises(EmbeddingError, match="2 or 3"):
        ProjectionSettings(dims=4)
    with pytest.raises(EmbeddingError, match="unknown projection"):
        ProjectionSettings(method="umap")


def test_tsne_sample_is_capped_before_it_starts(monkeypatch):
    module = sys.modules["core.embeddings.project"]  # the package's `project` is the function

    monkeypatch.setattr(module, "MAX_TSNE_POINTS", 50)
    called = []
    monkeypatch.setattr(module, "_tsne", lambda *a: called.append(1))
    with pytest.raises(EmbeddingError, match="at most 50"):
        project(two_clusters(n=40), ProjectionSettings("tsne", 2))
    assert called == []


def test_sample_is_seeded_sorted_and_without_repeats():
    ids = sample_ids(1000, 100, seed=7)
    assert len(set(ids.tolist())) == 100 and ids.tolist() == sorted(ids.tolist())
    assert sample_ids(1000, 100, seed=7).tolist() == ids.tolist()
    assert sample_ids(1000, 100, seed=8).tolist() != ids.tolist()
    assert sample_ids(10, 0, 0).tolist() == list(range(10))
    assert sample_ids(10, 50, 0).tolist() == list(range(10))


def test_pca_of_a_sample_uses_the_axes_of_every_row():
    x = two_clusters()
    full = project(x, ProjectionSettings("pca", 2))
    part = project(x, ProjectionSettings("pca", 2, sample=10, seed=3))
    assert part.coords.tolist() == full.coords[part.ids].tolist()


def test_a_cancelled_projection_raises_from_the_callback():
    class Stop(Exception):
        pass

    def progress(fraction: float, what: str) -> None:
        if fraction > 0.5:
            raise Stop

    with pytest.raises(Stop):
        project(two_clusters(), ProjectionSettings("tsne", 2, perplexity=10.0), progress)


def test_float32_pca_agrees_with_scikit_learn_in_float64():
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(500, 20)) @ rng.normal(size=(20, 20))).astype(np.float32)
    ours = pca(torch.from_numpy(x), 2)
    ref = PCA(n_components=2, svd_solver="full").fit(x.astype(np.float64))
    assert ours.explained.numpy() == pytest.approx(ref.explained_variance_ratio_, rel=1e-5)
    theirs = ref.transform(x.astype(np.float64))
    for i in range(2):
        sign = np.sign(ours.scores[:, i].numpy() @ theirs[:, i])
        assert ours.scores[:, i].numpy() == pytest.approx(sign * theirs[:, i], rel=1e-4, abs=1e-3)
