"""A presenter switches to the dark theme in the ⋮ menu; the page and its charts follow."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import assert_no_streamlit_exception, open_app_page, wait_for_app

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a real browser: not in the fast lane

LUMINANCE = """(colour) => {
  const [r, g, b] = colour.match(/[\\d.]+/g).slice(0, 3).map(Number);
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
}"""


def _luminance(page, selector: str, prop: str) -> float:
    colour = page.evaluate(f"() => getComputedStyle(document.querySelector({selector!r})).{prop}")
    return page.evaluate(f"({LUMINANCE})({colour!r})")


@pytest.mark.parametrize("theme", ["Dark", "Light"])
def test_the_menu_switches_the_theme_and_charts_follow(page, app_url, theme):
    open_app_page(page, app_url, "sampling")
    page.get_by_role("button", name="Next token", exact=True).click()
    page.get_by_role("heading", name=re.compile("^Step 1:")).wait_for()
    wait_for_app(page)
    page.locator('[data-testid="stMainMenu"]').click()
    page.locator(f'[data-testid="stMainMenuItem-theme-{theme}"]').click()
    page.keyboard.press("Escape")
    wait_for_app(page)
    page.locator(".js-plotly-plot .xtick text").first.wait_for()
    background = _luminance(page, '[data-testid="stApp"]', "backgroundColor")
    tick = page.evaluate(
        "() => getComputedStyle(document.querySelector('.js-plotly-plot .xtick text')).fill"
    )
    tick_luminance = page.evaluate(f"({LUMINANCE})({tick!r})")
    assert (background < 0.25) if theme == "Dark" else (background > 0.75), background
    assert abs(background - tick_luminance) > 0.4, (background, tick)  # the axis text reads
    assert_no_streamlit_exception(page)
