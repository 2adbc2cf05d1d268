"""The Embedding spaces page under AppTest, with the built-in GPT (4,096 tokens, width 256)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import torch
from streamlit.testing.v1 import AppTest

from core.store import RunKind, RunQuery, list_runs, open_database
from tests.app.rendered import live_markup

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "embeddings.py")


def page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return ok(at.run())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def test_pca_of_every_token_with_neighbours_arithmetic_and_a_selection():
    at = page()
    (fig,) = charts(at)
    assert {t["type"] for t in fig["data"]} == {"scattergl"}
    assert (
        sum(int(t["name"].split("(")[1].rstrip(")").replace(",", "")) for t in fig["data"]) == 4096
    )
    assert "PCA \\(exact\\) of all 4,096 tokens, computed in" in captions(at)

    at.text_input(key="emb_term").set_value(" list").run()
    ok(at)
    neighbours = at.dataframe[0].value
    assert neighbours["token"].tolist()[:2] == ["·tuple", "·sequence"]
    assert charts(at)[0]["data"][-1]["name"] == "“ list” and neighbours"

    at.text_input(key="emb_a").set_value(" lists")
    at.text_input(key="emb_b").set_value(" list")
    at.text_input(key="emb_c").set_value(" string").run()
    ok(at)
    assert at.dataframe[1].value["token"].tolist()[0] == "·strings"
    assert "honest note" in captions(at)

    at.button(key="emb_keep").click().run()
    ok(at)
    assert at.radio(key="emb_colour").value == "selection"
    assert at.query_params["selection"].startswith("534,884,546")
    names = [t["name"] for t in charts(at)[0]["data"]]
    assert names[:2] == ["other tokens (4,085)", "selection (11)"]


def test_a_link_restores_the_view_and_bad_entries_are_named():
    at = page({"dims": "3", "colour": "search", "search": "ing", "term": "#884", "k": "5"})
    fig = charts(at)[0]
    assert {t["type"] for t in fig["data"]} == {"scatter3d"}
    assert fig["data"][1]["name"].startswith("contains “ing”")
    assert len(at.dataframe[0].value) == 5

    bad = page({"dims": "²", "k": "9999", "term": "[x](http://evil.example)", "tab": "nope"})
    (warning,) = [w.value for w in bad.warning if "Ignored from the link" in w.value]
    assert "dims" in warning and "k" in warning and "tab" in warning
    assert live_markup(bad) == []


def test_terms_not_in_the_vocabulary_and_several_tokens():
    at = page({"term": "#99999"})
    assert any("not in the vocabulary" in w.value for w in at.warning)
    at = page({"term": " unbelievable"})
    assert "is 6 tokens" in captions(at)


def test_tsne_waits_for_the_button_then_reopens_from_the_cache():
    at = page({"method": "tsne", "sample": "120", "perplexity": "10"})
    assert at.get("plotly_chart") == [] and "120 of 4,096 tokens" in at.info[0].value
    at.button(key="emb_run").click().run()
    ok(at)
    assert charts(
        at
    ) and "t\\-SNE of 120 of 4,096 tokens (random sample, seed 0), computed" in captions(at)
    again = page({"method": "tsne", "sample": "120", "perplexity": "10"})
    assert "from the cache" in captions(again)


def test_save_a_view_then_open_it_in_another_session():
    at = page({"term": " list", "dims": "3"})
    at.text_input(key="emb_save_name").set_value("<b>my view</b>")
    at.button(key="emb_save").click().run()
    ok(at)
    with open_database()() as s:
        (run,) = list_runs(s, RunQuery(kinds=(RunKind.EMBEDDING.value,))).runs
    assert run.name == "<b>my view</b>" and run.config["dims"] == 3
    assert run.summary["points"] == 4096

    fresh = page()
    assert fresh.segmented_control(key="emb_dims").value == 2
    fresh.selectbox(key="emb_pick").set_value(run.id)
    fresh.button(key="emb_open").click().run()
    ok(fresh)
    assert fresh.segmented_control(key="emb_dims").value == 3
    assert fresh.text_input(key="emb_term").value == " list"
    assert live_markup(fresh) == []


def test_positions_and_context_tabs():
    at = page({"tab": "positional"})
    titles = [c["layout"]["title"]["text"] for c in charts(at)]
    assert titles[0].startswith("Cosine similarity of position embeddings")
    assert titles[1].startswith("Principal components of the position table")

    at = page({"tab": "contextual"})
    figs = charts(at)
    assert len(figs) == 2 and "bank" in figs[1]["layout"]["title"]["text"]
    at.text_input(key="emb_word").set_value(" zebra").run()
    assert not at.exception
    assert any("does not occur" in w.value for w in at.warning)
    at.text_area(key="emb_text_a").set_value("   ").run()
    assert any("type a sentence" in e.value for e in at.error)


def test_compare_with_no_second_model_says_how_to_get_one():
    at = page({"tab": "compare"})
    assert any("no second model" in i.value for i in at.info)


def test_compare_a_rotated_copy_of_the_builtin_model(monkeypatch):
    import streamlit as st
    from scipy.stats import special_ortho_group

    from core import registry
    from ui import shell

    real_load = registry.load_model
    builtin = real_load("builtin")
    table = builtin.model.token_embedding_matrix().detach().float()
    turn = torch.from_numpy(special_ortho_group.rvs(table.shape[1], random_state=0)).float()
    rotated = SimpleNamespace(
        model=SimpleNamespace(token_embedding_matrix=lambda: table @ turn),
        tokenizer=builtin.tokenizer,
    )

    def load_model(model_id, *args, **kwargs):
        return rotated if model_id == "rotated" else real_load(model_id, *args, **kwargs)

    monkeypatch.setattr(registry, "load_model", load_model)
    monkeypatch.setattr(
        shell, "model_options", lambda: {"builtin": "Built-in", "rotated": "<i>Rotated</i>"}
    )
    st.cache_resource.clear()
    try:
        at = page({"tab": "compare"})
        (fig,) = charts(at)
        assert [t["name"] for t in fig["data"]][:2] == [
            "A: &lt;i&gt;Rotated&lt;/i&gt;",
            "B: Built-in GPT (Python docs, 4.3M)",
        ]
        assert "0.0% of B's spread is left unexplained" in captions(at)
        assert live_markup(at) == []
    finally:
        st.cache_resource.clear()


def test_the_link_names_its_model_and_offers_to_switch(monkeypatch):
    from ui import shell

    at = page({"model": "elsewhere"})
    assert any("not on this server" in w.value for w in at.warning)
    assert at.query_params["model"] == "builtin"
    monkeypatch.setattr(shell, "model_options", lambda: {"builtin": "B", "other": "<b>O</b>"})
    at = page({"model": "other"})
    assert "made with \\<b\\>O\\<\\/b\\>" in at.info[0].value
    at.button(key="emb_use_linked").click().run()
    assert not at.exception
    assert at.session_state["gb_model_id"] == "other"  # the sidebar's choice, switched
    assert "unknown model id" in at.error[0].value  # this stand-in model cannot load


def test_opening_a_view_of_a_model_that_is_gone():
    from core.embeddings.view import EmbeddingView, save_view

    with open_database().begin() as s:
        run_id = save_view(
            s, EmbeddingView(model_id="gpt2:gone", dims=3), name="old", model_key="x"
        )
    at = page()
    at.selectbox(key="emb_pick").set_value(run_id)
    at.button(key="emb_open").click().run()
    assert not at.exception
    assert "not on this server" in at.error[0].value
    assert at.segmented_control(key="emb_dims").value == 3  # the rest of the view is restored
