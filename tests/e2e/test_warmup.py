"""A fresh server loads the built-in model in the background once its first page is shown."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import assert_no_streamlit_exception, open_app_page, start_app, stop_app

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a real browser: not in the fast lane

WARMED = "Glassbox warm-up: model builtin loaded"


def test_home_warms_the_model_so_sampling_opens_ready(browser, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    proc, url = start_app(home, f"sqlite:///{home / 'glassbox.db'}")
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.set_default_timeout(120_000)
    try:
        open_app_page(page, url)  # Home only: it imports no PyTorch itself
        log = home / "streamlit.log"
        # Poll the server's log (written by the warm-up thread) from the browser's clock.
        for _ in range(240):
            if WARMED in log.read_text(errors="replace"):
                break
            page.wait_for_timeout(500)
        assert WARMED in log.read_text(errors="replace"), log.read_text()[-2000:]
        open_app_page(page, url, "sampling")
        page.get_by_role("button", name="Next token", exact=True).wait_for()
        assert_no_streamlit_exception(page)
    finally:
        page.close()
        stop_app(proc)
