"""The Attention page's model: state bounds, slicing, differences, saving and reopening."""

from __future__ import annotations

import numpy as np
import pytest

from core.attention import AttentionInputError, HeadLayout
from core.attention.view import (
    Analysis,
    SavedAnalysisError,
    ViewState,
    analyse,
    combine_queries,
    difference,
    head_differences,
    hover_lines,
    induction_heads,
    label_counts,
    list_saved,
    load_analysis,
    n_pages,
    page_layers,
    same_statistics,
    save_analysis,
    statistics_rows,
)
from core.store import RunKind, create_run, get_run
from tests.attention.planted import PlantedInduction
from tests.attention.test_probe import _bytes_encoding

LAYOUT = HeadLayout(n_layer=30, n_head=9, n_kv_head=3)


def test_state_is_clamped_to_the_model_and_text():
    s = ViewState(layer=40, head=-2, page=9, per_page=7, queries=(5, 1, 5, 99), view="x")
    c = s.clamp(LAYOUT, n_tokens=10)
    assert (c.layer, c.head, c.per_page, c.page, c.view) == (29, 0, 8, 3, "model")
    assert c.queries == (5, 1)


def test_pages_of_layers():
    assert n_pages(30, 8) == 4 and n_pages(4, 8) == 1
    assert list(page_layers(30, 8, 3)) == [24, 25, 26, 27, 28, 29]
    assert list(page_layers(30, 8, 99)) == [24, 25, 26, 27, 28, 29]
    assert list(page_layers(48, 16, 1)) == list(range(16, 32))


def test_combine_queries_is_the_mean_of_rows():
    w = np.array([[1.0, 0, 0], [0.25, 0.75, 0], [0.5, 0.25, 0.25]])
    np.testing.assert_allclose(combine_queries(w, (1, 2)), [0.375, 0.5, 0.125])
    with pytest.raises(AttentionInputError, match="at least one"):
        combine_queries(w, ())


def _analysis(attn: np.ndarray, tokens: list[str]) -> Analysis:
    L, H, T, _ = attn.shape
    return Analysis("m", "t", list(range(T)), tokens, attn, HeadLayout(L, H, H), [])


def test_difference_over_common_positions():
    a = np.tril(np.ones((3, 3))) / np.arange(1, 4)[:, None]
    b = np.eye(4)
    da = _analysis(a[None, None], ["x", "y", "z"])
    db = _analysis(b[None, None], ["x", "q", "z", "w"])
    d = difference(da, db, 0, 0)
    np.testing.assert_allclose(d.values, np.eye(3) - a)
    assert d.tokens == ["x", "y | q", "z"] and "first 3 positions" in d.notice
    # rows 1, 2: total variation between uniform and one-hot = 1 - 1/(q+1)
    np.testing.assert_allclose(head_differences(da, db), [[(0.5 + 2 / 3) / 2]])


def test_analyse_the_planted_model_and_label_its_heads():
    model = PlantedInduction()
    enc = _bytes_encoding()
    got = analyse(model, enc, "\x01\x02\x03\x04\x01\x02\x03\x04", model_id="planted")
    assert got.n_tokens == 8 and got.attn.shape == (2, 2, 8, 8) and len(got.stats) == 4
    scores = np.array([[0.0, 0.0], [0.95, 0.1]])
    rows = statistics_rows(got, scores)
    assert [r["label"] for r in rows] == [
        "previous-token",
        "first-token/sink",
        "induction",
        "broad",
    ]
    assert rows[0]["also"] == "local" and rows[2]["induction"] == 0.95
    assert induction_heads(scores) == [(1, 0)]
    assert label_counts(rows)["induction"] == 1 and label_counts(rows)["mixed"] == 0
    assert hover_lines(rows)[(1, 0)].startswith("induction")


def test_save_list_and_reopen(session_factory):
    model = PlantedInduction()
    got = analyse(model, _bytes_encoding(), "\x01\x02\x03\x01\x02\x03", model_id="planted")
    state = ViewState(text="\x01\x02\x03\x01\x02\x03", layer=1, head=0, queries=(3, 4))
    scores = np.array([[0.0, 0.0], [0.9, 0.0]])
    with session_factory.begin() as s:
        run_id = save_analysis(s, got, state, scores)
    with session_factory.begin() as s:
        run = get_run(s, run_id)
        assert run.kind == RunKind.ATTENTION
        assert run.summary["heads_induction"] == 1 and run.summary["tokens"] == 6
        assert run.summary["best_induction_score"] == 0.9
        assert [r.run_id for r in list_saved(s)] == [run_id]
        saved = load_analysis(s, run_id)
    assert saved.model_id == "planted" and saved.state == state
    assert same_statistics(saved.rows, statistics_rows(got, scores))
    assert same_statistics(saved.rows, statistics_rows(got, None))  # probe not run again
    changed = [dict(r) for r in saved.rows]
    changed[1]["previous token"] += 0.01
    assert not same_statistics(changed, statistics_rows(got, scores))
    assert not same_statistics(saved.rows[:2], statistics_rows(got, scores))


def test_reopen_refuses_what_is_not_an_analysis(session_factory):
    with session_factory.begin() as s:
        other = create_run(s, kind=RunKind.SAMPLING, name="x").id
        empty = create_run(s, kind=RunKind.ATTENTION, name="y").id
    with session_factory.begin() as s:
        for run_id, message in (
            (other, "not an attention"),
            (empty, "no stored"),
            (999, "does not"),
        ):
            with pytest.raises(SavedAnalysisError, match=message):
                load_analysis(s, run_id)


def test_what_the_page_says_about_grouped_heads():
    from core.attention.view import gqa_phrase, kv_heads, sharing_note

    plain = HeadLayout(n_layer=2, n_head=4, n_kv_head=4)
    assert gqa_phrase(plain) == "" and kv_heads(plain) is None and sharing_note(plain, 1) is None
    assert gqa_phrase(LAYOUT) == (
        ", grouped-query attention: 3 key/value heads, each shared by 3 query heads"
    )
    assert kv_heads(LAYOUT) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert sharing_note(LAYOUT, 4) == (
        "Grouped-query attention: head 4 reads key/value head 1, shared with query heads "
        "3, 5: they use the same keys and values, with their own queries."
    )


def test_induction_line_names_the_heads_or_the_strongest():
    from core.attention.view import induction_line

    scores = np.array([[0.1, 0.9], [0.2, 0.5]])
    assert induction_line(scores, [(0, 1)], 0.4, 50) == (
        "**Induction heads** (score ≥ 0.4 on 50 random tokens repeated twice): L0H1"
    )
    assert induction_line(scores, [], 0.95, 50).endswith("none (strongest: L0H1 (0.90))")


def test_clicks_become_a_head_or_query_tokens():
    from core.attention.view import MAX_QUERIES, grid_pick, line_picks, table_pick

    assert grid_pick([{"customdata": "x"}, {"customdata": [3, 2]}]) == (3, 2)
    assert grid_pick([{"x": 1}]) is None
    assert line_picks([{"customdata": 5}, {"customdata": 2}, {"customdata": 5}, {}]) == [2, 5]
    assert line_picks([{"customdata": i} for i in range(40)]) == list(range(MAX_QUERIES))
    table = [{"layer": 0, "head": 1}, {"layer": 2, "head": 3}]
    assert table_pick([1], table) == (2, 3)
    assert table_pick([2], table) is None and table_pick([], table) is None
