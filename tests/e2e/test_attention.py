"""The Attention maps page in headless Chromium: the grid of every head, then one head opened."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import (
    assert_no_streamlit_exception,
    open_app_page,
    wait_for_app,
    wait_for_link,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a real browser: not in the fast lane


def _url_path() -> str:
    from ui.nav import PAGES

    for spec in PAGES:
        if spec.path == "pages/attention.py":
            return spec.url_path
    raise AssertionError("pages/attention.py is not registered in ui/nav.py")


def test_grid_then_click_a_head(page, app_url):
    open_app_page(page, app_url, _url_path())
    page.get_by_role("heading", name="Attention maps").wait_for()
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.wait_for()
    # one image holds every head; one invisible marker per head makes it clickable
    assert chart.locator("image").count() == 1
    markers = chart.locator(".scatterlayer .point")
    assert markers.count() == 4 * 8  # the built-in model: 4 layers x 8 heads
    assert_no_streamlit_exception(page)
    markers.nth(8 + 3).click(force=True)  # layer 1, head 3
    page.get_by_text("Layer 1, head 3").first.wait_for()
    wait_for_app(page)
    assert_no_streamlit_exception(page)
    wait_for_link(page, "view=head", "layer=1", "head=3")
