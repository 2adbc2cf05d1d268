"""app.py with GLASSBOX_PASSWORD set: nothing renders until the session gives the password."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui.auth import PASSWORD_ENV

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60).run()


def test_without_a_password_the_home_page_renders(monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    at = _app()
    assert not at.exception
    assert [t.label for t in at.text_input if t.label == "Password"] == []
    assert any(m.value.startswith("**Model:**") for m in at.markdown)


def test_a_password_guards_every_page_until_it_is_given(monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-ünï")
    at = _app()
    assert not at.exception
    assert at.text_input(key="gb_password").label == "Password"
    assert not any(m.value.startswith("**Model:**") for m in at.markdown)  # no page
    assert len(at.sidebar.selectbox) == 0  # no sidebar either
    at.text_input(key="gb_password").input("s3cret")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong password."]
    assert not any(m.value.startswith("**Model:**") for m in at.markdown)
    at.text_input(key="gb_password").input("s3cret-ünï")
    at.button[0].click().run()
    assert not at.exception
    assert any(m.value.startswith("**Model:**") for m in at.markdown)
    assert "gb_password" not in at.session_state
    at.run()  # once per session: a rerun does not ask again
    assert any(m.value.startswith("**Model:**") for m in at.markdown)
