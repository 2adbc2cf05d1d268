"""The Tokenization page in headless Chromium: escaping, hover ids, views, BPE lab, upload."""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    ServerMessages,
    assert_no_streamlit_exception,
    open_app_page,
    wait_for_app,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a real browser: not in the fast lane

XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2"> tea'


def _shot(page, name: str) -> None:
    shots = os.environ.get("GLASSBOX_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(shots) / name), full_page=True)


def test_user_text_is_shown_not_run_and_ids_show_on_hover(page, app_url):
    query = urllib.parse.urlencode({"text": XSS, "enc": "gpt2", "view": "Explore"})
    open_app_page(page, app_url, f"tokenization?{query}")
    assert_no_streamlit_exception(page)
    view = page.locator(".gb-tokens").first
    view.wait_for()
    assert view.inner_text().replace("\n", "") == XSS  # the markup is shown as text
    assert page.evaluate("window.__xss === undefined")  # ...and never ran
    first = view.locator("span[data-id]").first
    assert first.get_attribute("title").startswith("token #0 · id 27 |")  # "<" is id 27
    assert first.get_attribute("data-tip") == "id 27"  # shown at once by the hover style
    first.hover()
    page.get_by_role("switch", name="Show whitespace").check(force=True)
    page.locator(".gb-tokens", has_text="·tea").wait_for()  # whitespace made visible
    page.wait_for_url(re.compile(r"[?&]ws=1"))  # ...and kept in the shareable link
    assert "enc=gpt2" in page.url
    _shot(page, "tokenization-explore.png")


def test_compare_view_aligns_three_encodings(page, app_url):
    query = urllib.parse.urlencode({"text": "12345 你好 🙂", "view": "Compare"})
    open_app_page(page, app_url, f"tokenization?{query}")
    assert_no_streamlit_exception(page)
    page.locator(".js-plotly-plot").first.wait_for()
    rows = page.locator(".gb-compare > div > div")
    assert rows.count() == 3
    assert [rows.nth(i).inner_text().split("\n")[0] for i in range(3)] == [
        "gpt2",
        "cl100k_base",
        "o200k_base",
    ]
    _shot(page, "tokenization-compare.png")


def test_bpe_lab_trains_replays_and_saves(page, app_url, tmp_path):
    sent = ServerMessages(page)
    open_app_page(page, app_url, "tokenization?view=BPE+lab")
    vocab = page.get_by_label("Vocab size (ids, incl. <|endoftext|>)")
    vocab.fill("400")
    vocab.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Train tokenizer").click()
    page.get_by_text("Learned 143 merges").wait_for()
    wait_for_app(page)
    assert_no_streamlit_exception(page)
    page.locator(".js-plotly-plot").first.wait_for()
    mark = len(sent.messages)
    page.get_by_role("button", name="Save as a run").click()
    page.get_by_text("Saved as run").wait_for()
    wait_for_app(page)
    # The save reran its own row (a fragment): no whole-page run, chart and table not re-sent
    kinds = sent.since(mark)
    assert "script_finished" in kinds and not [k for k in kinds if k.endswith("@page")]
    assert not {"element:plotly_chart", "element:dataframe"} & set(kinds)
    _shot(page, "tokenization-bpe-lab.png")


def test_invalid_utf8_upload_is_refused_clearly(page, app_url, tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café".encode("latin-1"))
    open_app_page(page, app_url, "tokenization")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(bad))
    page.get_by_text("latin1.txt is not valid UTF-8 text").wait_for()
    assert_no_streamlit_exception(page)


def test_right_to_left_tokens_stay_in_token_order(page, app_url):
    text = "2025-12-05 — مرحبا بالعالم 🎉"
    query = urllib.parse.urlencode({"text": text, "enc": "o200k_base", "view": "Explore"})
    open_app_page(page, app_url, f"tokenization?{query}")
    assert_no_streamlit_exception(page)
    view = page.locator(".gb-tokens").first
    view.wait_for()
    boxes = [s.bounding_box() for s in view.locator("span[data-id]").all()]
    assert len(boxes) > 5
    places = [(round(b["y"]), b["x"]) for b in boxes]  # line by line, left to right
    assert places == sorted(places), "token chips are not laid out in token order"
