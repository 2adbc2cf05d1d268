"""The projection cache: keys, atomic files, damaged files, and nothing cached on cancel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.embeddings import (
    ProjectionCache,
    ProjectionSettings,
    project_cached,
    projection_key,
    table_fingerprint,
)


class Stop(Exception):
    pass


def table(seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(40, 8)).astype(np.float32))


def test_second_call_comes_from_memory_then_from_disk(tmp_path):
    cache = ProjectionCache(tmp_path)
    settings = ProjectionSettings("pca", 2)
    first, hit = project_cached(table(), "m", settings, cache)
    assert not hit and len(list(tmp_path.glob("*.npz"))) == 1
    again, hit = project_cached(table(), "m", settings, cache)
    assert hit and again is first
    fresh = ProjectionCache(tmp_path)  # another server process: from the file
    loaded, hit = project_cached(table(), "m", settings, fresh)
    assert hit and loaded.coords.tolist() == first.coords.tolist()
    assert loaded.ids.tolist() == first.ids.tolist() and loaded.explained == first.explained
    assert list(tmp_path.glob(".tmp-*")) == []


def test_keys_differ_by_model_identity_and_settings():
    a = ProjectionSettings("pca", 2)
    assert projection_key("m", a) == projection_key("m", ProjectionSettings("pca", 2))
    assert projection_key("m", a) != projection_key("n", a)
    assert projection_key("m", a) != projection_key("m", ProjectionSettings("pca", 3))
    assert projection_key("m", a) != projection_key("m", ProjectionSettings("pca", 2, seed=1))
    assert table_fingerprint(table(0)) == table_fingerprint(table(0).clone())
    assert table_fingerprint(table(0)) != table_fingerprint(table(1))
    changed = table(0)
    changed[3, 4] += 1e-6
    assert table_fingerprint(changed) != table_fingerprint(table(0))


def test_a_cancelled_projection_leaves_nothing_cached(tmp_path):
    cache = ProjectionCache(tmp_path)
    settings = ProjectionSettings("tsne", 2, perplexity=5.0)
    fractions = []

    def progress(fraction: float, what: str) -> None:
        fractions.append(fraction)
        if fraction > 0.5:
            raise Stop

    with pytest.raises(Stop):
        project_cached(table(), "m", settings, cache, progress)
    assert 0.5 < fractions[-1] < 1.0  # stopped halfway
    assert projection_key("m", settings) not in cache
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_file_is_removed_and_recomputed(tmp_path):
    settings = ProjectionSettings("pca", 2)
    key = projection_key("m", settings)
    (tmp_path / f"{key}.npz").write_bytes(b"not a numpy file")
    projection, hit = project_cached(table(), "m", settings, ProjectionCache(tmp_path))
    assert not hit and projection.coords.shape == (40, 2)
    again, hit = project_cached(table(), "m", settings, ProjectionCache(tmp_path))
    assert hit and again.coords.tolist() == projection.coords.tolist()


def test_a_pickled_file_is_never_unpickled(tmp_path):
    settings = ProjectionSettings("pca", 2)
    key = projection_key("m", settings)
    np.savez(tmp_path / f"{key}.npz", coords=np.array([object()], dtype=object))
    cache = ProjectionCache(tmp_path)
    assert cache.get(key) is None and not (tmp_path / f"{key}.npz").exists()


def test_memory_is_bounded_lru():
    cache = ProjectionCache(None, memory_items=2)
    for seed in range(3):
        project_cached(table(), "m", ProjectionSettings("pca", 2, seed=seed), cache)
    assert projection_key("m", ProjectionSettings("pca", 2, seed=0)) not in cache
    assert projection_key("m", ProjectionSettings("pca", 2, seed=2)) in cache
