"""The database going down while the app runs (issue 22, item 3), under AppTest.

The store is a real SQLite file reached through an engine whose connections can be
refused at will (``Switch.up = False``), as a PostgreSQL server that went away refuses
them: the pages keep rendering with a banner, and recover when the database answers again.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool
from streamlit.testing.v1 import AppTest

import ui.db
import ui.shell
from core.store import make_engine, open_database, record_run, upgrade_database
from core.tokenization import save_tokenizer_run
from core.tokenization.bpe import train_bpe

ROOT = Path(__file__).resolve().parents[2]


class Switch:
    up = True
    attempts = 0  # connections asked for


@pytest.fixture
def flaky_store(tmp_path, monkeypatch):
    path = tmp_path / "flaky.db"
    real = make_engine(f"sqlite:///{path}")
    upgrade_database(real)
    real.dispose()
    switch = Switch()

    def connect():
        switch.attempts += 1
        if not switch.up:
            raise sqlite3.OperationalError("connection refused (the test stopped the server)")
        return sqlite3.connect(path, check_same_thread=False)

    engine = create_engine("sqlite://", creator=connect, poolclass=NullPool)
    factory = sessionmaker(engine, expire_on_commit=False)
    monkeypatch.setattr(ui.db, "open_database", lambda url=None: factory)
    monkeypatch.setenv("GLASSBOX_DATABASE_URL", f"sqlite:///{path}")
    ui.shell.refresh_store_lists()
    yield switch, factory
    ui.shell.refresh_store_lists()
    engine.dispose()


def clear_page_caches() -> None:
    """The pages' own cached menus expire too (Tokenization keeps its list 30 s)."""
    import streamlit as st

    st.cache_data.clear()


def _save_tokenizer(factory) -> int:
    tok = train_bpe("low lower lowest " * 20, 260, name="flaky-bpe")
    with factory.begin() as s:
        return save_tokenizer_run(s, tok)


def _tokenizer_labels(at: AppTest) -> list[str]:
    menu = next(s for s in at.sidebar.selectbox if s.label == "Tokenizer")
    return [menu.format_func(o) for o in menu.options]


@pytest.mark.parametrize(
    "page", ["pages/home.py", "pages/runs.py", "pages/tokenization.py", "pages/sampling.py"]
)
def test_store_going_down_and_coming_back(flaky_store, page):
    switch, factory = flaky_store
    run_id = _save_tokenizer(factory)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    if page != "pages/home.py":
        at.switch_page(page).run()
    assert not at.exception
    assert any(f"run {run_id}" in label for label in _tokenizer_labels(at))

    switch.up = False  # the server goes away mid-session
    ui.shell.refresh_store_lists()  # (the menus' 10 s cache expired)
    clear_page_caches()
    at.run()
    assert not at.exception, at.exception
    assert any("run store is not answering" in w.value for w in at.sidebar.warning)
    assert not any(f"run {run_id}" in label for label in _tokenizer_labels(at))
    if page == "pages/runs.py":
        assert any("Could not read the run list" in e.value for e in at.error)
    if page == "pages/home.py":  # the sidebar does not knock again on every rerun
        attempts = switch.attempts
        at.run()
        assert switch.attempts == attempts
        assert any("run store is not answering" in w.value for w in at.sidebar.warning)

    switch.up = True  # it comes back: the menus recover when their 10 s cache expires
    ui.shell.refresh_store_lists()
    at.run()
    assert not at.exception
    assert not any("not answering" in w.value for w in at.sidebar.warning)
    assert any(f"run {run_id}" in label for label in _tokenizer_labels(at))


def test_registry_says_the_store_stopped_answering(flaky_store):
    from core import registry
    from core.store import DatabaseUnavailable

    switch, factory = flaky_store
    with factory.begin() as s:
        record_run(s, kind="pool", name="p")
    switch.up = False
    with pytest.raises(DatabaseUnavailable, match="stopped answering.*connection refused"):
        registry.list_models(factory)
    with pytest.raises(DatabaseUnavailable, match="stopped answering"):
        registry.list_tokenizers(factory)
    assert [m.id for m in registry.list_models(factory, store=False)] == ["builtin"]
    assert open_database  # the real opener stays importable for other tests
