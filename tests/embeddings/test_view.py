"""The page-model: view bounds, config round trip, saved views in the store, point groups."""

from __future__ import annotations

import numpy as np
import pytest

from core.embeddings import EmbeddingError, Projection, TokenKind, Vocab
from core.embeddings.view import (
    DEFAULT_TSNE_SAMPLE,
    MAX_SELECTION,
    EmbeddingView,
    list_views,
    load_view,
    point_groups,
    rows_of,
    save_view,
)
from core.store import RunKind, get_run, record_run


def test_settings_apply_the_tsne_sample_bound():
    assert EmbeddingView(method="pca").settings().sample == 0
    assert EmbeddingView(method="tsne").settings().sample == DEFAULT_TSNE_SAMPLE
    assert EmbeddingView(method="tsne", sample=500).settings().sample == 500
    with pytest.raises(EmbeddingError, match="t-SNE sample has at most"):
        EmbeddingView(method="tsne", sample=10**6)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tab": "nope"}, "tab must be"),
        ({"dims": 4}, "dims must be 2 or 3"),
        ({"k": 0}, "k must be"),
        ({"colour": "red"}, "colour must be"),
        ({"search": "x" * 51}, "search has at most"),
        ({"text_a": "x" * 301}, "text_a has at most"),
        ({"selection": tuple(range(MAX_SELECTION + 1))}, "selection holds at most"),
    ],
)
def test_out_of_bounds_views_are_refused(changes, message):
    with pytest.raises(EmbeddingError, match=message):
        EmbeddingView(**changes)


def test_config_round_trip():
    view = EmbeddingView(model_id="smollm2", method="tsne", dims=3, sample=700, perplexity=12.5,
                         term=" king", a=" king", b=" man", c=" woman", selection=(5, 9))  # fmt: skip
    assert EmbeddingView.from_config(view.to_config()) == view


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"dims": "2"}, "dims is str"),
        ({"selection": ["a"]}, "not a list of token ids"),
        ({"selection": [True]}, "not a list of token ids"),
        ({"method": "umap"}, "method must be"),
    ],
)
def test_damaged_configs_name_the_problem(config, message):
    with pytest.raises(EmbeddingError, match=message):
        EmbeddingView.from_config(config)


def test_save_list_and_load_a_view(session_factory):
    view = EmbeddingView(model_id="builtin", method="pca", dims=3, term=" list", selection=(1, 2))
    with session_factory.begin() as s:
        run_id = save_view(s, view, name="3-D table", model_key="builtin||abc",
                           summary={"points": 4096})  # fmt: skip
    with session_factory() as s:
        assert load_view(s, run_id) == view
        run = get_run(s, run_id)
        assert run.kind == RunKind.EMBEDDING and run.status == "finished"
        assert run.summary == {"points": 4096} and run.config["model_key"] == "builtin||abc"
        assert [(v.run_id, v.name) for v in list_views(s)] == [(run_id, "3-D table")]


def test_loading_a_run_that_is_no_view(session_factory):
    with session_factory.begin() as s:
        other = record_run(s, kind=RunKind.POOL, name="pool").id
        old = record_run(s, kind=RunKind.EMBEDDING, name="old", config={"format": 0}).id
    with session_factory() as s:
        with pytest.raises(EmbeddingError, match="pool run"):
            load_view(s, other)
        with pytest.raises(EmbeddingError, match="view format 0"):
            load_view(s, old)
        with pytest.raises(EmbeddingError, match="does not exist"):
            load_view(s, 999)


def small_vocab() -> Vocab:
    kinds = (TokenKind.WORD_START, TokenKind.SUBWORD, TokenKind.NUMBER, TokenKind.SUBWORD)
    return Vocab(("·cat", "ing", "42", "cat"), (" cat", "ing", "42", "cat"), kinds)


def projection(ids: list[int]) -> Projection:
    return Projection(np.zeros((len(ids), 2), np.float32), np.asarray(ids), "pca", (0.5, 0.2), 0.0)


def test_point_groups_by_kind_search_and_selection():
    vocab, proj = small_vocab(), projection([0, 1, 3])
    by_kind = point_groups(proj, vocab, "kind")
    assert [(g.name, g.rows.tolist()) for g in by_kind] == [
        ("word start", [0]),
        ("subword", [1, 2]),
    ]
    search = point_groups(proj, vocab, "search", search="CAT")
    assert [(g.role, g.rows.tolist()) for g in search] == [("other", [1]), ("match", [0, 2])]
    chosen = point_groups(proj, vocab, "selection", selection=(1, 2))
    assert [(g.role, g.rows.tolist()) for g in chosen] == [("other", [0, 2]), ("selected", [1])]


def test_rows_of_finds_only_the_projected_tokens():
    proj = projection([2, 5, 9])
    assert rows_of(proj, [9, 3, 2, 10]).tolist() == [2, 0]
