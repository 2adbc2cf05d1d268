"""Presenter mode and the guided tour in headless Chromium: bigger type, the sidebar folded
away, the step key on Sampling, the room link's QR code read back by a decoder."""

from __future__ import annotations

import io
import re

import pytest
import zxingcpp
from PIL import Image

from tests.e2e.conftest import (
    assert_no_streamlit_exception,
    open_app_page,
    wait_for_app,
    wait_for_link,
)
from ui.nav import PAGES
from ui.presenter import SCALE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a real browser: not in the fast lane


def _step_heading(page, step: int):
    return page.get_by_role("heading", name=re.compile(f"^Step {step}:"))


def test_present_flag_on_sampling_steps_by_key_and_shows_the_room_link(page, app_url):
    page.set_viewport_size({"width": 1280, "height": 720})
    open_app_page(page, app_url, "sampling?present=1&prompt=Once+upon&seed=3")
    page.get_by_role("button", name="Next token", exact=True).wait_for()
    wait_for_app(page)
    main = page.locator('[data-testid="stMain"]')
    assert main.evaluate("(e) => parseFloat(getComputedStyle(e).zoom)") == SCALE  # bigger
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.bounding_box() is None or sidebar.bounding_box()["width"] < 5  # folded

    # → and n press Next token (the focus is on the page, not in a field)
    page.keyboard.press("ArrowRight")
    _step_heading(page, 1).wait_for()
    wait_for_app(page)
    page.keyboard.press("n")
    _step_heading(page, 2).wait_for()
    wait_for_app(page)
    page.wait_for_url(re.compile(r"steps=2"))  # the fragment writes the link after drawing
    assert "present=1" in page.url

    # the room link: the view's URL as text and as a QR code that reads back as the same
    page.get_by_role("button", name="Room link").click()
    dialog = page.get_by_role("dialog")
    image = dialog.get_by_role("img")
    image.wait_for()
    page.wait_for_timeout(300)  # let the dialog's opening animation finish
    link = dialog.locator("code").inner_text().strip()
    assert re.fullmatch(r"http://(localhost|127\.0\.0\.1):\d+/sampling\?\S+", link), link
    assert "steps=2" in link and "seed=3" in link and "present" not in link
    shot = Image.open(io.BytesIO(image.screenshot()))
    (read,) = zxingcpp.read_barcodes(shot)
    assert read.text == link
    assert dialog.get_by_text("Serving a room").count() == 1  # loopback: how to serve a room
    page.keyboard.press("Escape")
    assert_no_streamlit_exception(page)


def test_tour_walks_from_home_to_a_page_and_back(page, app_url):
    open_app_page(page, app_url, "?tour=1")
    card = page.locator(".st-key-gb_tour_card")
    card.get_by_text("Tour, stop 1 of").wait_for()
    card.get_by_role("button", name=f"Next: {PAGES[0].title}").click()
    page.get_by_role("heading", name=PAGES[0].title, exact=True).wait_for()
    wait_for_app(page)
    assert card.get_by_text("Tour, stop 2 of").count() == 1
    wait_for_link(page, "/" + PAGES[0].url_path)
    card.get_by_role("button", name="Back", exact=True).click()
    page.get_by_role("heading", name="Glassbox", exact=True).wait_for()
    wait_for_app(page)
    card.get_by_role("button", name="End the tour").click()
    card.wait_for(state="detached")
    assert_no_streamlit_exception(page)
