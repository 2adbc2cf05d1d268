"""The Saved runs page's model (core.store.runs_page): view ⇄ query, rows, selection, tables."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.store import RunQuery, create_run, finish_run, get_runs, list_runs, open_database
from core.store import runs_page as rp


def test_default_view_is_the_default_query_and_an_empty_link():
    view = rp.RunsView()
    assert view.query() == RunQuery()
    assert not view.filtered
    assert view.link() == {
        "kind": (),
        "status": (),
        "tag": "",
        "q": "",
        "sort": "created_at",
        "order": "desc",
        "size": 50,
    }


def test_widgets_make_a_view_and_its_query_pages():
    view = rp.view_from_widgets(["pool"], [], rp.ANY_TAG, "lr", "name", False, 25)
    assert view == rp.RunsView(kind=("pool",), q="lr", sort="name", order="asc", size=25)
    assert view.filtered
    assert view.query(page=2) == RunQuery(
        kinds=("pool",), text="lr", sort="name", descending=False, offset=50, limit=25
    )
    assert rp.view_from_widgets([], [], "demo", "", "nope", True, 7) == rp.RunsView(tag="demo")


def test_link_values_round_trip_and_ignore_compare():
    view = rp.RunsView(kind=("training", "pool"), status=("failed",), tag="a", size=200)
    assert rp.with_defaults(view.link() | {"compare": (3, 7)}) == view


def test_tag_menu_falls_back_to_any_tag():
    options = rp.tag_options(["a", "b"])
    assert options == ["(any tag)", "a", "b"]
    assert rp.tag_index(options, "b") == 2
    assert rp.tag_index(options, "gone") == 0


@pytest.mark.parametrize(
    ("total", "page", "size", "shown", "line", "pages"),
    [
        (62, 0, 50, 50, "**62** run(s) · showing 1–50 · page 1 of 2", 2),
        (62, 1, 50, 12, "**62** run(s) · showing 51–62 · page 2 of 2", 2),
        (1234, 0, 200, 200, "**1,234** run(s) · showing 1–200 · page 1 of 7", 7),
        (0, 0, 25, 0, "**0** run(s) · showing 1–0 · page 1 of 1", 1),
    ],
)
def test_page_line_and_count(total, page, size, shown, line, pages):
    assert rp.page_line(total, page, size, shown) == line
    assert rp.n_pages(total, size) == pages


def test_empty_message_says_filters_or_nothing_saved():
    assert rp.empty_message(rp.RunsView(kind=("pool",))) == "No run matches these filters."
    assert rp.empty_message(rp.RunsView(sort="name")).startswith("No saved runs yet.")


def _store():
    Session = open_database()
    with Session.begin() as s:
        a = create_run(s, kind="training", name="lr 3e-4", config={"lr": 3e-4, "m": {"n": 4}},
                       tags=["demo"])  # fmt: skip
        finish_run(s, a.id, summary={"val_loss": 2.0, "tokens_per_s": 4000})
        b = create_run(s, kind="training", name="lr 1e-3", config={"lr": 1e-3, "m": {"n": 4}})
        finish_run(s, b.id, summary={"val_loss": 3.0})
        broken = create_run(s, kind="sampling", name="s", status="finished",
                            summary={"tokens": "five"})  # fmt: skip
        return Session, a.id, b.id, broken.id


def test_table_rows_list_damaged_runs_with_why():
    Session, a, _, broken = _store()
    with Session() as s:
        rows = rp.table_rows(list_runs(s, rp.RunsView(sort="name", order="asc").query()).runs)
    assert [r["name"] for r in rows] == ["lr 1e-3", "lr 3e-4", "s"]
    first = next(r for r in rows if r["id"] == a)
    assert first["tags"] == "demo"
    assert first["key metrics"] == "tokens_per_s=4000 · val_loss=2"
    assert first["problems"] == ""
    assert first["created"].utcoffset() == timedelta(0)  # shown as UTC
    bad = next(r for r in rows if r["id"] == broken)
    assert "tokens" in bad["problems"] and bad["key metrics"] == ""


def test_selection_of_two_runs_and_a_gone_one():
    Session, a, b, _ = _store()
    with Session() as s:
        sel = rp.selected_runs([b, 999, a, b], get_runs(s, [b, 999, a]))
    assert sel.ids == (b, a) and sel.gone == (999,)
    assert sel.labels == (f"#{b} lr 1e-3", f"#{a} lr 3e-4")
    assert sel.single is None and sel.comparable and not sel.sampling_pair
    assert len(sel) == 2

    table = rp.config_cells(sel)
    assert table.columns == ["key", *sel.labels]
    assert table.rows == [["lr", "0.001", "0.0003"]]
    assert table.caption == "1 of 1 keys shown differ (highlighted)."
    everything = rp.config_cells(sel, only_different=False)
    assert everything.rows == [["lr", "0.001", "0.0003"], ["m.n", "4", "4"]]
    assert everything.differs == [True, False]

    columns, rows = rp.metric_cells(sel)
    assert columns == ["metric", *sel.labels]
    assert rows == [["tokens_per_s ↑", "—", "4000"], ["val_loss ↓", "3", "★ 2"]]


def test_one_selected_run_is_editable_and_a_broken_one_says_so():
    Session, a, _, broken = _store()
    with Session() as s:
        one = rp.selected_runs([a], get_runs(s, [a])).single
        damaged = rp.selected_runs([broken], get_runs(s, [broken])).single
    assert one == rp.OneRun(
        id=a, name="lr 3e-4", kind="training", status="finished", tags=("demo",), notes="",
        broken=False,
    )  # fmt: skip
    assert not one.running
    assert damaged is not None and damaged.broken


def test_sampling_pair_gets_no_best_marks():
    sel = rp.Selection(
        ids=(1, 2),
        gone=(),
        labels=("#1 a", "#2 b"),
        kinds=("sampling", "sampling"),
        configs=({}, {}),
        summaries=({"perplexity": 3.0}, {"perplexity": 5.0}),
        single=None,
    )
    assert sel.sampling_pair
    assert rp.metric_cells(sel)[1] == [["perplexity", "3", "5"]]
    assert rp.config_cells(sel).rows == []


def test_mixed_kinds_get_no_best_and_eleven_runs_are_not_compared():
    def sel(kinds):
        n = len(kinds)
        return rp.Selection(
            ids=tuple(range(1, n + 1)), gone=(), labels=tuple(map(str, range(n))),
            kinds=kinds, configs=({},) * n, summaries=({"val_loss": 1.0},) + ({"val_loss": 2.0},) * (n - 1),
            single=None,
        )  # fmt: skip

    assert rp.metric_cells(sel(("training", "pool")))[1] == [["val_loss", "1", "2"]]
    assert not sel(("pool",) * 11).comparable
    assert rp.default_series(["a", "b", "c", "d"]) == ["a", "b", "c"]
    assert rp.link_ids([3, 7]) == "3,7"
