"""AppTest for the Sampling page's chat mode: a tiny chat Llama, then the real SmolLM2."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import core.registry as registry
from tests.app.rendered import plain
from tests.model.smollm2 import SMOLLM2_GGUF, require_smollm2, share_weights_cache
from tests.model.tiny_llama import CHATML
from tests.sampling.test_llama_sampling import IM_END, chat_encoding, tiny_llama

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "sampling.py")


@pytest.fixture
def chat_registry(monkeypatch):
    """The registry offers one model, "tinychat": a tiny Llama with a ChatML template."""
    model = tiny_llama(context_length=128)
    entry = SimpleNamespace(id="tinychat", label="Tiny chat Llama", source="pretrained")
    loaded = SimpleNamespace(
        model=model,
        tokenizer=chat_encoding(),
        config=model.config,
        entry=entry,
        chat_template=CHATML,
    )
    monkeypatch.setattr(registry, "load_model", lambda model_id, *a, **k: loaded)
    monkeypatch.setattr(registry, "list_models", lambda *a, **k: [entry])
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


def _page(model_id: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["gb_model_id"] = model_id
    return at.run()


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_chat_mode_renders_the_template_and_stops_at_im_end(chat_registry):
    at = _ok(_page("tinychat"))
    assert at.session_state["smp_mode"] == "Chat"
    assert at.text_area(key="smp_user").value == "What is the capital of France?"
    assert not [t for t in at.text_area if t.key == "smp_prompt"]  # plain prompt hidden
    sampler = at.session_state["smp_tree"].sampler
    expected = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
    assert sampler.prompt_text == expected + "<|im_start|>assistant\n"
    at.text_area(key="smp_system").set_value("Be brief.").run()
    sampler = _ok(at).session_state["smp_tree"].sampler
    assert sampler.prompt_text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    assert sampler.prompt_ids[0] == 257  # <|im_start|> read as one special token
    at.button(key="smp_next").click().run()
    _ok(at)
    # the reply ends at <|im_end|>: force it through the sampler the page holds
    at.session_state["smp_tree"].sampler.force(IM_END)
    at.run()
    assert any("ended the text with <|im_end|>" in s.value for s in _ok(at).success)


def test_plain_mode_keeps_its_prompt_across_mode_switches(chat_registry):
    at = _ok(_page("tinychat"))
    at.segmented_control(key="smp_mode").set_value("Plain text").run()
    at.text_area(key="smp_prompt").set_value("Once upon").run()
    assert _ok(at).session_state["smp_tree"].sampler.prompt_text == "Once upon"
    at.segmented_control(key="smp_mode").set_value("Chat").run()
    at.segmented_control(key="smp_mode").set_value("Plain text").run()
    assert _ok(at).text_area(key="smp_prompt").value == "Once upon"


def test_a_chat_round_trips_through_the_link(chat_registry):
    """Mode, system and user messages and the chat's steps go into the link and come back."""
    at = _ok(_page("tinychat"))
    at.text_area(key="smp_system").set_value("Be brief.").run()
    at.text_area(key="smp_user").set_value("Hi *there*").run()
    at.button(key="smp_next").click().run()
    link = {k: _ok(at).query_params[k] for k in at.query_params}
    assert (link["chat"], link["system"], link["user"], link["steps"]) == (
        "1", "Be brief.", "Hi *there*", "1"
    )  # fmt: skip
    assert "prompt" not in link
    tokens = [r.token_id for r in at.session_state["smp_tree"].sampler.records]

    shared = AppTest.from_file(PAGE, default_timeout=120)
    shared.session_state["gb_model_id"] = "tinychat"
    for key, value in link.items():
        shared.query_params[key] = value
    _ok(shared.run())
    assert shared.session_state["smp_mode"] == "Chat"
    assert shared.text_area(key="smp_system").value == "Be brief."
    assert shared.text_area(key="smp_user").value == "Hi *there*"
    sampler = shared.session_state["smp_tree"].sampler
    assert sampler.prompt_text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    assert [r.token_id for r in sampler.records] == tokens  # the trajectory regenerated


def test_plain_mode_link_opens_in_plain_mode_and_long_messages_stay_out(chat_registry):
    at = _ok(_page("tinychat"))
    at.segmented_control(key="smp_mode").set_value("Plain text").run()
    assert (at.query_params["chat"], at.query_params["prompt"]) == ("0", "The quick brown fox")
    at.segmented_control(key="smp_mode").set_value("Chat").run()
    at.text_area(key="smp_user").set_value("x" * 2001).run()
    _ok(at)
    assert at.query_params["chat"] == "1"
    assert "user" not in at.query_params and "steps" not in at.query_params
    assert any("2,001 characters long" in c.value for c in at.caption)
    # a link whose message is over the bound is refused (named), the default kept
    over = AppTest.from_file(PAGE, default_timeout=120)
    over.session_state["gb_model_id"] = "tinychat"
    over.query_params["chat"] = "1"
    over.query_params["user"] = "y" * 2001
    _ok(over.run())
    assert over.text_area(key="smp_user").value == "What is the capital of France?"
    assert any("user=" in plain(w.value) for w in over.warning)


@pytest.mark.slow
def test_smollm2_answers_paris(monkeypatch, smollm2_weights):
    """The issue's acceptance check: greedy chat reply of the real model, on the page."""
    require_smollm2()
    monkeypatch.setattr(registry, "models_dir", lambda: SMOLLM2_GGUF.parent)
    share_weights_cache(smollm2_weights, registry.glassbox_home())  # no new dequantization
    st.cache_resource.clear()
    st.cache_data.clear()
    at = _ok(_page("smollm2"))
    at.checkbox(key="smp_greedy").check().run()
    at.button(key="smp_run").click().run()
    sampler = _ok(at).session_state["smp_tree"].sampler
    assert sampler.text == "The capital of France is Paris.<|im_end|>"
    assert any("ended the text with <|im_end|>" in s.value for s in at.success)
    st.cache_resource.clear()
