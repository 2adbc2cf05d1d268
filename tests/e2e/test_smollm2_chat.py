"""SmolLM2 in headless Chromium: pick it in the sidebar, chat mode, greedy, Run N -> Paris.

A server of its own whose ``$GLASSBOX_HOME/models`` holds a link to the real file (fetched
by ``python -m core.models get smollm2``; CI does it before the tests), and whose weights
cache is the test session's (so the server does not dequantize the file again).
"""

from __future__ import annotations

import pytest

from core.models.catalog import SMOLLM2
from tests.e2e.conftest import (
    assert_no_streamlit_exception,
    open_app_page,
    start_app,
    stop_app,
    wait_for_app,
)
from tests.model.smollm2 import SMOLLM2_GGUF, require_smollm2, share_weights_cache

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def smollm2_url(tmp_path_factory, smollm2_weights):
    require_smollm2()
    home = tmp_path_factory.mktemp("e2e-smollm2")
    (home / "models").mkdir()
    (home / "models" / SMOLLM2.file_name).symlink_to(SMOLLM2_GGUF)
    share_weights_cache(smollm2_weights, home)
    proc, url = start_app(home, f"sqlite:///{home / 'glassbox.db'}")
    yield url
    stop_app(proc)


def test_chat_mode_answers_paris(page, smollm2_url):
    open_app_page(page, smollm2_url, "sampling")
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name="SmolLM2-135M-Instruct (Llama, 135M)").click()
    page.get_by_text("User message").first.wait_for(timeout=180_000)
    assert_no_streamlit_exception(page)
    page.get_by_text("Greedy", exact=True).click()
    wait_for_app(page)  # the rerun that takes Greedy has finished
    page.get_by_role("button", name="Run N").click()
    page.get_by_text("ended the text with <|im_end|>").first.wait_for(timeout=180_000)
    assert_no_streamlit_exception(page)
    reply = page.get_by_role(
        "radiogroup", name="Generated tokens: click one to inspect that step"
    ).inner_text()
    assert "Paris" in reply, reply
