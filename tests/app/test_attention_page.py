"""AppTest for pages/attention.py with the built-in model (4 layers x 8 heads)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.rendered import live_markup, plain

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "attention.py")


def page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def no_exception(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def texts(at: AppTest, kind: str = "markdown") -> str:
    return "\n".join(plain(e.value) for e in getattr(at, kind))


def test_model_view_shows_every_head_in_one_figure():
    at = no_exception(page())
    assert "4 layers × 8 heads" in texts(at, "caption")
    (grid,) = charts(at)
    assert '"type":"image"' in grid.proto.spec.replace(" ", "")
    assert at.session_state.att_view == "model"


def test_views_from_the_link():
    at = no_exception(page({"view": "statistics", "text": "a b a b a b"}))
    (table,) = at.dataframe
    df = table.value
    assert len(df) == 32 and {"label", "entropy (bits)", "previous token"} <= set(df.columns)
    assert "**first-token/sink**: weight on the first token ≥ 0.5" in texts(at)

    at = no_exception(page({"view": "head", "layer": "2", "head": "5", "queries": "3,4"}))
    assert at.number_input(key="att_layer").value == 2
    assert at.multiselect(key="att_queries").value == [3, 4]
    assert len(charts(at)) == 2  # the head's map and the combined attention of 2 queries
    at.segmented_control(key="att_style").set_value("Lines").run()
    no_exception(at)
    assert '"mode":"lines"' in charts(at)[0].proto.spec.replace(" ", "")


def test_number_by_number_matches_the_model():
    at = no_exception(page({"view": "steps", "layer": "1", "head": "3"}))
    body = texts(at)
    assert "equals the model's attention output" in body
    if "largest difference" in body:
        assert float(body.split("largest difference ")[1].split(")")[0]) < 1e-4
    else:
        assert "(identical, to the last bit)" in body
    assert len(charts(at)) == 11  # x, Q, K, V, scores, scaled, mask, softmax, out, concat, proj


def test_compare_two_texts():
    at = no_exception(
        page({"view": "compare", "other": "The dog sat on the mat. The cat sat on the mat."})
    )
    assert len(charts(at)) == 2  # per-head change and the selected head's difference
    spec = charts(at)[0].proto.spec
    assert '"zmid":0' in spec.replace(" ", "")


def test_find_the_induction_heads():
    at = page()
    at.button(key="att_find_model").click().run()
    no_exception(at)
    assert "Induction heads" in texts(at)
    assert len(charts(at)) == 2
    assert at.session_state.att_probe is True
    linked = no_exception(page({"probe": "1"}))  # a shared link runs the probe itself
    assert "Induction heads" in texts(linked) and len(charts(linked)) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [("   \n ", "whitespace"), ("x" * 2000, "only the first")],
)
def test_bad_text(text, message):
    at = no_exception(page({"text": text}))
    shown = texts(at, "error") + texts(at, "info")
    assert message in shown


def test_special_token_and_bad_link_entries():
    at = no_exception(page({"text": "<|endoftext|>def f():", "layer": "²", "view": "nope"}))
    assert "Special tokens in the text are read as such" in texts(at, "info")
    warning = texts(at, "warning")
    assert "layer" in warning and "view" in warning
    assert at.session_state.att_layer == 0


def test_hostile_text_is_escaped():
    at = no_exception(page({"text": "[x](http://evil.example) <img src=x> **b**", "view": "head"}))
    assert live_markup(at) == []


def test_save_and_open():
    at = page({"layer": "3", "head": "2", "text": "one two one two"})
    at.button(key="att_save").click().run()
    no_exception(at)
    assert "Saved as run #1" in texts(at, "success")
    at.text_area(key="att_text").set_value("something else").run()
    at.button(key="att_open").click().run()
    no_exception(at)
    assert "Opened run #1" in texts(at, "success")
    assert at.session_state.att_text == "one two one two"
    assert (at.session_state.att_layer, at.session_state.att_head) == (3, 2)
    assert "match the saved ones" in texts(at, "caption")


@pytest.fixture
def two_checkpoints(monkeypatch):
    """The registry offers two tiny GPTs of the same shape (different seeds) and a third
    of another shape."""
    import streamlit as st

    from core import registry
    from tests.sampling.helpers import byte_encoding, tiny_gpt

    models = {"a": tiny_gpt(context_length=64, seed=0), "b": tiny_gpt(context_length=64, seed=1)}
    models["c"] = tiny_gpt(context_length=64, seed=2)
    models["c"].config = models["c"].config.__class__(
        vocab_size=257, context_length=64, n_layer=1, n_head=2, n_embd=32
    )
    models["c"].blocks = models["c"].blocks[:1]
    entries = {
        k: SimpleNamespace(id=k, label=f"Tiny {k}", source="run", description="") for k in models
    }

    def load_model(model_id, *args, **kwargs):
        m = models[model_id]
        return SimpleNamespace(
            model=m, tokenizer=byte_encoding(), config=m.config, entry=entries[model_id]
        )

    monkeypatch.setattr(registry, "load_model", load_model)
    monkeypatch.setattr(registry, "default_model_id", lambda *a, **k: "a")
    monkeypatch.setattr(registry, "list_models", lambda *a, **k: list(entries.values()))
    monkeypatch.setattr(registry, "store_key", lambda model_id, *a, **k: model_id)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


def test_compare_two_checkpoints(two_checkpoints):
    at = no_exception(page({"view": "compare", "against": "model", "text": "abcabc"}))
    assert at.selectbox(key="att_other_model").value == "b"
    assert len(charts(at)) == 2
    assert "the other model minus this model" in charts(at)[0].proto.spec
    at.selectbox(key="att_other_model").set_value("c").run()
    no_exception(at)
    assert "different shapes (2 layers × 2 heads vs 1 × 2)" in texts(at, "error")


@pytest.fixture
def tiny_llama_registry(monkeypatch):
    """The registry offers one model: a 2-layer Llama with 6 query heads on 2 key/value heads."""
    import streamlit as st
    import torch

    from core import registry
    from core.model.llama import Llama, LlamaConfig
    from tests.sampling.helpers import byte_encoding

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=257, context_length=64, n_layer=2, n_head=6, n_kv_head=2, n_embd=48,
        ffn_hidden=64,
    )  # fmt: skip
    model = Llama(config).eval()
    entry = SimpleNamespace(id="llama", label="Tiny Llama", source="pretrained", description="")
    loaded = SimpleNamespace(model=model, tokenizer=byte_encoding(), config=config, entry=entry)
    monkeypatch.setattr(registry, "load_model", lambda *a, **k: loaded)
    monkeypatch.setattr(registry, "default_model_id", lambda *a, **k: "llama")
    monkeypatch.setattr(registry, "list_models", lambda *a, **k: [entry])
    monkeypatch.setattr(registry, "store_key", lambda model_id, *a, **k: model_id)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


def test_grouped_query_attention_is_named(tiny_llama_registry):
    at = no_exception(page({"text": "abcabc"}))
    assert "2 key/value heads, each shared by 3 query heads" in texts(at, "caption")
    head_names = json.loads(charts(at)[0].proto.spec)["data"][2]["text"]
    assert head_names[4] == "h4<br>kv1"
    at = no_exception(page({"text": "abcabc", "view": "head", "head": "4"}))
    assert "head 4 reads key/value head 1, shared with query heads 3, 5" in texts(at, "caption")
    at = no_exception(page({"text": "abcabc", "view": "steps", "layer": "1", "head": "4"}))
    body = texts(at)
    assert "2a. x·W_q" in body and "2b. Rotation angles" in body
    at = no_exception(page({"text": "abcabc", "view": "statistics"}))
    assert list(at.dataframe[0].value["kv head"]) == [0, 0, 0, 1, 1, 1] * 2
