"""AppTest for pages/sampling.py with a tiny random GPT standing in for the registry's model."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import registry
from core.viz.sampling import escape_markdown
from tests.app.rendered import live_markup, plain
from tests.sampling.helpers import EOT_ID, byte_encoding, eos_model, tiny_gpt
from ui.text import md

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "sampling.py")


@pytest.fixture
def tiny_registry(monkeypatch, request):
    """The registry offers one model, "tiny": a 2-layer width-32 GPT over byte tokens."""
    model = getattr(request, "param", None) or tiny_gpt(context_length=64)
    entry = SimpleNamespace(id="tiny", label="Tiny test GPT", source="builtin", description="")
    loaded = SimpleNamespace(
        model=model, tokenizer=byte_encoding(), config=model.config, entry=entry
    )
    calls = []

    def load_model(model_id, *args, **kwargs):
        calls.append(model_id)
        if model_id != "tiny":
            raise ValueError(f"unknown model {model_id}")
        return loaded

    monkeypatch.setattr(registry, "load_model", load_model)
    monkeypatch.setattr(registry, "default_model_id", lambda *args, **kwargs: "tiny")
    monkeypatch.setattr(registry, "list_models", lambda *args, **kwargs: [entry])
    st.cache_resource.clear()
    st.cache_data.clear()
    yield calls
    st.cache_resource.clear()
    st.cache_data.clear()


def page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def no_exception(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_next_token_and_run_n_build_the_trajectory(tiny_registry):
    at = no_exception(page())
    assert at.text_area(key="smp_prompt").value == "The quick brown fox"
    names = [c.value for c in at.caption if c.value.startswith("Model:")]
    assert names and "Tiny test GPT" in names[0] and "own tokenizer" in names[0]
    assert escape_markdown(byte_encoding().name) in names[0]  # the model's, not the sidebar's
    for _ in range(3):
        at.button(key="smp_next").click().run()
    no_exception(at)
    assert len(at.pills(key="smp_pick").options) == 3
    assert at.subheader[0].value.startswith("Step 3:")
    at.number_input(key="smp_n").set_value(5).run()
    at.button(key="smp_run").click().run()
    no_exception(at)
    assert len(at.pills(key="smp_pick").options) == 8
    assert tiny_registry == ["tiny"]  # loaded once, then shared from st.cache_resource


def start_token_gpt():
    model = tiny_gpt(context_length=64)
    model.config = dataclasses.replace(model.config, start_token=EOT_ID)
    return model


@pytest.mark.parametrize("tiny_registry", [start_token_gpt()], indirect=True)
def test_a_model_trained_with_a_start_token_reads_it_first(tiny_registry):
    at = no_exception(page())
    at.button(key="smp_next").click().run()
    no_exception(at)
    prompt = [m.value for m in at.markdown if m.value.startswith("**Prompt**")]
    start = escape_markdown("<|endoftext|>")
    assert prompt and f"(19 tokens after the start token {start}, which began" in prompt[0]
    assert "The quick brown fox" in prompt[0] and "endoftext" not in prompt[0].split(":gray")[1]


def test_clicking_a_token_inspects_that_step_and_rewinds(tiny_registry):
    at = page()
    at.number_input(key="smp_n").set_value(4).run()
    at.button(key="smp_run").click().run()
    at.session_state["smp_pick"] = 1  # labels may repeat ("·the" twice): pick by index
    at.run()
    no_exception(at)
    assert at.subheader[0].value.startswith("Step 2:")
    at.button(key="smp_rewind").click().run()
    no_exception(at)
    assert len(at.pills(key="smp_pick").options) == 2


def test_branching_adds_a_branch_and_shows_the_tree(tiny_registry):
    at = page()
    for _ in range(4):
        at.button(key="smp_next").click().run()
    at.session_state["smp_pick"] = 2
    at.run()
    alternatives = at.selectbox(key="smp_alt").options
    at.selectbox(key="smp_alt").select_index(len(alternatives) - 1).run()
    at.button(key="smp_branch_btn").click().run()
    no_exception(at)
    assert [s.value[:7] for s in at.subheader] == ["Step 3:", "Branche"]
    assert at.session_state.smp_tree.sampler.records[2].forced
    assert at.radio(key="smp_branch").value == 1
    assert len(at.pills(key="smp_pick").options) == 3  # 2 shared steps + the chosen candidate
    at.radio(key="smp_branch").set_value(0).run()
    assert len(at.pills(key="smp_pick").options) == 4


@pytest.mark.parametrize(
    ("widget", "value", "message"),
    [
        ("smp_top_p", 0.0, "top-p must be in (0, 1], got 0.0"),
        ("smp_repetition_penalty", 0.0, "repetition penalty must be > 0"),
    ],
)
def test_bad_settings_show_an_error_not_a_traceback(tiny_registry, widget, value, message):
    at = page()
    (at.slider if widget == "smp_top_p" else at.number_input)(key=widget).set_value(value).run()
    no_exception(at)
    assert any(md(message) in e.value for e in at.error)  # shown escaped, as literal text


def test_notices_for_temperature_zero_empty_prompt_and_large_top_k(tiny_registry):
    at = page({"temperature": "0", "top_k": "5000", "prompt": ""})
    no_exception(at)
    infos = " ".join(i.value for i in at.info)
    assert "using greedy decoding" in infos
    assert "starting from <|endoftext|>" in infos
    assert "top-k 5000 is larger than the vocabulary (257 tokens)" in infos


def test_settings_and_prompt_come_from_and_go_to_the_url(tiny_registry):
    at = page(
        {"prompt": "Shared link", "temperature": "1.5", "seed": "7", "order": "top_k,temperature"}
    )
    assert at.text_area(key="smp_prompt").value == "Shared link"
    assert at.number_input(key="smp_temperature").value == 1.5
    assert at.number_input(key="smp_seed").value == 7
    assert at.multiselect(key="smp_order").value == ["top_k", "temperature"]
    at.number_input(key="smp_temperature").set_value(0.5).run()
    assert at.query_params["temperature"] == "0.5"
    assert at.query_params["prompt"] == "Shared link"


def test_a_bad_link_is_ignored_with_a_message(tiny_registry):
    at = no_exception(page({"top_p": "2"}))
    assert any("Ignored the settings in the link" in e.value for e in at.error)
    assert at.slider(key="smp_top_p").value == 1.0


def test_kv_cache_measurement_and_comparison(tiny_registry):
    at = page()
    at.button(key="smp_next").click().run()
    at.number_input(key="smp_measure_n").set_value(6).run()
    at.button(key="smp_measure").click().run()
    no_exception(at)
    assert any("Identical tokens both ways: yes" in c.value for c in at.caption)
    assert {m.label for m in at.metric} >= {"With cache (median)", "Without cache (median)"}
    at.number_input(key="smp_cmp_n").set_value(6).run()
    at.button(key="smp_cmp_run").click().run()
    no_exception(at)
    table = at.dataframe[0].value
    assert list(table.columns) == ["step", "A: T=0.7", "B: T=1.5", "same"] and len(table) == 6


def test_save_and_open_replays_exactly(tiny_registry):
    at = page()
    at.button(key="smp_save").click().run()
    assert any("Nothing to save yet" in e.value for e in at.error)
    at.number_input(key="smp_n").set_value(6).run()
    at.button(key="smp_run").click().run()
    assert len(at.pills(key="smp_pick").options) == 6
    tokens = list(at.session_state.smp_tree.sampler.token_ids)
    at.button(key="smp_save").click().run()
    no_exception(at)
    assert any("Saved as run #1" in s.value for s in at.toast)
    at.button(key="smp_reset").click().run()
    assert len(at.session_state.smp_tree.sampler) == 0
    at.button(key="smp_open").click().run()
    no_exception(at)
    assert any("replayed 6 steps: every token matched" in s.value for s in at.toast)
    assert at.session_state.smp_tree.sampler.token_ids == tokens
    assert len(at.pills(key="smp_pick").options) == 6


@pytest.mark.parametrize("tiny_registry", [eos_model()], indirect=True)
def test_model_emitting_end_of_text_is_reported(tiny_registry):
    at = page()
    at.button(key="smp_next").click().run()
    no_exception(at)
    assert any("ended the text with <|endoftext|>" in s.value for s in at.success)
    assert at.button(key="smp_next").disabled and at.button(key="smp_run").disabled
    assert at.subheader[0].value == "Step 1: “\\<\\|endoftext\\|\\>”"


def test_settings_survive_a_visit_to_another_page(tiny_registry):
    first = page({"temperature": "1.5", "top_p": "0.9", "prompt": "Kept"})
    form = first.session_state["smp_form"]
    # Back from another page: Streamlit has dropped the widgets' state, smp_form is kept
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["smp_form"] = form
    at.run()
    no_exception(at)
    assert at.number_input(key="smp_temperature").value == 1.5
    assert at.slider(key="smp_top_p").value == 0.9
    assert at.text_area(key="smp_prompt").value == "Kept"


def test_prompt_markup_is_shown_as_text(tiny_registry):
    at = no_exception(page({"prompt": "<b>*x*</b>"}))
    shown = [m.value for m in at.markdown if m.value.startswith("**Prompt**")]
    assert shown == ["**Prompt** (10 tokens): :gray[\\<b\\>\\*x\\*\\</b\\>]"]


# ---------------------------------------------------------------- hostile links
@pytest.mark.parametrize("raw", ["²", "0", "201", "1e3", "9" * 5000, " "])
def test_bad_n_in_the_link_warns_and_keeps_the_default(tiny_registry, raw):
    at = no_exception(page({"n": raw}))
    assert at.number_input(key="smp_n").value == 20
    assert any(
        "Ignored from the link" in plain(w.value) and "n=" in plain(w.value) for w in at.warning
    )
    assert at.query_params["n"] == "20"


def test_processor_order_from_the_link_is_shown_as_text_not_an_image(tiny_registry):
    at = no_exception(page({"order": "![t](http://example.invalid/x.png)"}))
    assert any("Ignored the settings in the link" in e.value for e in at.error)
    assert live_markup(at) == []


def test_long_prompt_in_the_link_is_refused_and_a_long_prompt_stays_out_of_it(tiny_registry):
    at = no_exception(page({"prompt": "a" * 2001}))
    assert at.text_area[0].value == "The quick brown fox"
    assert any("prompt=" in plain(w.value) for w in at.warning)
    at.text_area[0].set_value("b" * 3000).run()
    no_exception(at)
    assert "prompt" not in at.query_params
    assert any("3,000 characters long" in c.value for c in at.caption)
    at.text_area[0].set_value("c" * 2000).run()
    assert at.query_params["prompt"] == "c" * 2000


def test_a_chat_link_on_a_model_without_a_template_waits_for_a_chat_model(tiny_registry):
    at = no_exception(page({"chat": "1", "user": "Hi", "steps": "2"}))
    assert any("This link holds a chat" in i.value for i in at.info)
    assert at.session_state["smp_tree"].sampler.records == []  # not regenerated on plain text
    assert at.session_state["smp_link_steps"] == {"steps": "2"}  # kept for a chat model
