"""The navigation in headless Chromium, and a fresh server's first visitor.

That every page opens without an error is checked in ``test_layout.py``, on the tab the
layout checks then resize (one load per page for both).
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import open_app_page, start_app, stop_app, wait_for_link
from ui.nav import PAGES

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a real browser: not in the fast lane


MENU = ".st-key-gb_menu"  # the sidebar's menu, drawn by ui.menu


def test_navigation_lists_every_page(page, app_url):
    open_app_page(page, app_url)
    nav = page.locator(MENU)
    nav.get_by_text(PAGES[-1].title, exact=True).wait_for()
    for spec in PAGES:
        assert nav.get_by_text(spec.title, exact=True).count() == 1, spec.title
    nav.get_by_role("link", name=PAGES[0].title).click()
    page.get_by_role("heading", name=PAGES[0].title).wait_for()
    wait_for_link(page, "/" + PAGES[0].url_path)


def test_a_cold_server_never_shows_the_file_named_menu(browser, tmp_path):
    """Streamlit's first run on a fresh server builds a menu from the files in pages/
    ("app, home, pool, …"); it must not show while app.py imports (bug 10 of issue 20)."""
    proc, url = start_app(tmp_path, f"sqlite:///{tmp_path / 'cold.db'}")
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        sidebar = page.locator('[data-testid="stSidebar"]')
        for _ in range(600):  # poll every 0.1 s, for up to a minute, until the menu is in
            assert page.locator('[data-testid="stSidebarNav"]').count() == 0, (
                sidebar.all_inner_texts()
            )
            if page.locator(MENU).count():
                break
            page.wait_for_timeout(100)
        page.locator(MENU).get_by_text(PAGES[-1].title, exact=True).wait_for()
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0
        assert page.locator(MENU).get_by_text("app", exact=True).count() == 0
        context.close()
    finally:
        stop_app(proc)


def test_deep_link_on_a_fresh_server_gets_the_shared_sidebar(browser, tmp_path):
    """The first visitor of a new server opening /runs still goes through app.py."""
    proc, url = start_app(tmp_path, f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(60_000)
        open_app_page(page, url, "runs")
        page.locator('[data-testid="stSidebar"]').get_by_text("Device:").wait_for()
        page.get_by_role("heading", name="Saved runs").wait_for()
        page.locator(MENU).get_by_text(PAGES[-1].title, exact=True).wait_for()
        assert page.locator(MENU).get_by_text("app", exact=True).count() == 0
        context.close()
    finally:
        stop_app(proc)
