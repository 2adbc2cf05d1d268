"""The Home page under AppTest: it explains the playground and links to every page."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from core import registry
from tests.app.rendered import live_markup, plain
from ui.nav import PAGES

ROOT = Path(__file__).resolve().parents[2]


def test_home_links_every_page():
    # Through app.py: page links need the navigation that app.py builds.
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Glassbox"
    links = [el.proto.label for el in at.main.get("page_link")]
    assert links == [spec.title for spec in PAGES]
    # the sidebar's menu (ui.menu): Home, then every page, in navigation order
    menu = [el.proto.label for el in at.sidebar.get("page_link")]
    assert menu == ["Home"] + [spec.title for spec in PAGES]
    line = next(m.value for m in at.markdown if m.value.startswith("**Model:**"))
    assert "**Tokenizer:** gpt2" in line
    assert "**Device:** CPU" in line or "**Device:** CUDA" in line


def test_a_run_name_with_markdown_is_shown_as_text(monkeypatch):
    name = "[Click here](http://example.invalid) ![t](http://example.invalid/x.png)"
    entry = registry.ModelEntry("run:1", name, "run", "training run 1")
    monkeypatch.setattr(registry, "list_models", lambda *args, **kwargs: [entry])
    st.cache_data.clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    finally:
        st.cache_data.clear()
    assert not at.exception
    line = next(m.value for m in at.markdown if m.value.startswith("**Model:**"))
    assert name in plain(line)
    assert live_markup(at) == []


def test_sidebar_shows_choices():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert [s.label for s in at.sidebar.selectbox][-1] == "Tokenizer"
    assert any(c.value.startswith("Device:") for c in at.sidebar.caption)


def test_every_nav_page_file_exists():
    for spec in PAGES:
        assert (ROOT / spec.path).is_file(), spec.path
