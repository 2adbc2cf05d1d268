"""Hostile links in a real browser: no traceback, no live link or remote image, no dialog.

Each link below once gave a traceback or rendered user text as Markdown (issue 22, items 4
and 7). The ``page`` fixture fails a test on any dialog, console error or request to
``example.invalid``; here each page must also show the escaped warning and no element that
links to or loads from that address.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.e2e.conftest import assert_no_streamlit_exception, open_app_page, stop_app
from ui.server import ServerStartError, start_streamlit


def start_app_with(env: dict[str, str], log):
    try:
        return start_streamlit("app.py", env, log)
    except ServerStartError as exc:
        pytest.fail(str(exc))


pytestmark = pytest.mark.e2e

LINK = "[Click here to log in](http://example.invalid/login)"
IMAGE = "![t](http://example.invalid/x.png)"
SCRIPT = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def _no_live_markup(page) -> None:
    for selector in ('a[href*="example.invalid"]', 'img[src*="example.invalid"]', "script"):
        inside = page.locator(f'[data-testid="stMain"] {selector}')
        assert inside.count() == 0, f"{selector}: {inside.first.evaluate('e => e.outerHTML')}"


def _warned(page, *texts: str) -> None:
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="Ignored from the link")
    alert.first.wait_for()
    shown = alert.first.inner_text().replace("\u2060", "")
    for text in texts:
        assert text in shown, shown


@pytest.mark.parametrize(
    ("path", "query", "shown"),
    [
        ("pool", {"preset": LINK, "models": "3000000", "speed": "²"}, [LINK[:30], "models="]),
        ("runs", {"size": "²", "compare": "²", "kind": IMAGE}, ["size=", "compare="]),
        ("tokenization", {"view": "²", "enc": IMAGE, "text": SCRIPT}, [IMAGE, "view="]),
        ("sampling", {"n": "²", "prompt": SCRIPT}, ["n="]),
    ],
)
def test_hostile_link_is_named_as_text(page, app_url, path, query, shown):
    open_app_page(page, app_url, f"{path}?" + "&".join(f"{k}={quote(v)}" for k, v in query.items()))
    assert_no_streamlit_exception(page)
    _warned(page, *shown)
    _no_live_markup(page)


def test_sampling_order_from_a_link_fetches_no_image(page, app_url):
    open_app_page(page, app_url, f"sampling?order={quote(IMAGE)}")
    assert_no_streamlit_exception(page)
    error = page.locator('[data-testid="stAlert"]').filter(has_text="Ignored the settings")
    error.first.wait_for()
    assert IMAGE in error.first.inner_text().replace("\u2060", "")
    _no_live_markup(page)


@pytest.fixture
def guarded_app(tmp_path):
    """A second server with GLASSBOX_PASSWORD set (its own home and SQLite)."""
    env = {
        "GLASSBOX_HOME": str(tmp_path),
        "GLASSBOX_DATABASE_URL": f"sqlite:///{tmp_path / 'glassbox.db'}",
        "GLASSBOX_PASSWORD": "room-42",
    }
    proc, url = start_app_with(env, tmp_path / "streamlit.log")
    yield url
    stop_app(proc)


def test_a_shared_password_guards_a_deep_link_on_a_fresh_server(guarded_app, page):
    # guarded_app first: its server must outlive the page (torn down in reverse order)
    # A fresh server's first request for /runs once ran the page file alone (no app.py):
    # the gate must hold there too.
    open_app_page(page, guarded_app, "runs?compare=1")
    page.get_by_text("This server is shared").wait_for()
    assert page.get_by_role("heading", name="Saved runs").count() == 0
    box = page.get_by_label("Password", exact=True)
    box.fill("wrong")
    page.get_by_role("button", name="Enter").click()
    page.get_by_text("Wrong password.").wait_for()
    assert page.get_by_role("heading", name="Saved runs").count() == 0
    page.get_by_label("Password", exact=True).fill("room-42")
    page.get_by_role("button", name="Enter").click()
    page.get_by_role("heading", name="Saved runs").wait_for()
    assert_no_streamlit_exception(page)
