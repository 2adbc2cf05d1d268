"""Every page in the navigation opens in headless Chromium without an error."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import assert_no_streamlit_exception, open_app_page, wait_for_app
from ui.nav import HOME, PAGES

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("spec", [HOME, *PAGES], ids=lambda s: s.url_path)
def test_page_opens_cleanly(page, app_url, spec):
    open_app_page(page, app_url, spec.url_path)
    page.locator("h1").first.wait_for()
    # the shared sidebar is there on every page
    page.locator('[data-testid="stSidebar"]').get_by_text("Device:").wait_for()
    wait_for_app(page)
    assert_no_streamlit_exception(page)
    assert page.locator("h1").first.inner_text().strip() != ""


def test_navigation_lists_every_page(page, app_url):
    open_app_page(page, app_url)
    nav = page.locator('[data-testid="stSidebarNav"]')
    for spec in PAGES:
        assert nav.get_by_text(spec.title, exact=True).count() == 1, spec.title
