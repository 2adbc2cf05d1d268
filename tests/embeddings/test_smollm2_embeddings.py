"""SmolLM2's real table (49,152 × 576): analogies, neighbours, exact PCA, kinds, rotary view.

Skips with a how-to when the file is absent (fails under GLASSBOX_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from core.embeddings import (
    RotaryPositions,
    TokenKind,
    arithmetic,
    neighbours_of,
    pca,
    position_view,
    resolve_term,
    vocab_of,
)
from core.tokenization.gguf_tokenizer import gguf_encoding

pytestmark = pytest.mark.slow  # loads a 135M-parameter model


@pytest.fixture(scope="module")
def smol(smollm2_model, smollm2_gguf):  # shared by the session (tests/conftest.py)
    model = smollm2_model
    encoding = gguf_encoding(smollm2_gguf.metadata, "smollm2")
    return model, encoding, model.token_embedding_matrix().detach().float()


def words(encoding, ids) -> list[str]:
    return [encoding.decode([i]) for i in ids]


def test_king_minus_man_plus_woman_is_queen(smol):
    model, enc, table = smol
    a, b, c = (resolve_term(w, enc, table.shape[0]) for w in (" king", " man", " woman"))
    found = arithmetic(table, a, b, c, k=3)
    assert words(enc, [n.id for n in found])[0] == " queen"


def test_neighbours_of_paris_are_places(smol):
    model, enc, table = smol
    found = neighbours_of(table, resolve_term(" Paris", enc, table.shape[0]), k=8)
    assert {" London", " France", " Berlin"} <= set(words(enc, [n.id for n in found]))


def test_full_table_pca_matches_scikit_learn(smol):
    table = smol[2]
    ours = pca(table, 2)
    ref = PCA(2, svd_solver="covariance_eigh").fit(table.numpy().astype(np.float64))
    assert ours.explained.numpy() == pytest.approx(ref.explained_variance_ratio_, rel=1e-4)


def test_kinds_and_rotary_view(smol):
    model, enc, table = smol
    vocab = vocab_of(enc, table.shape[0])
    counts = Counter(vocab.kinds)
    assert vocab.kinds[0] is TokenKind.SPECIAL and counts[TokenKind.SPECIAL] == 17
    assert counts[TokenKind.WORD_START] > counts[TokenKind.SUBWORD] > 10_000
    view = position_view(model)
    assert isinstance(view, RotaryPositions) and view.theta == 100_000.0
    assert view.wavelengths[0] == pytest.approx(2 * math.pi)
    assert torch.is_tensor(table) and table.shape == (49_152, 576)
