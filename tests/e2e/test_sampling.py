"""The Sampling page in headless Chromium: five Next-token clicks, a branch, save, reopen."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import (
    ServerMessages,
    assert_no_streamlit_exception,
    open_app_page,
    wait_for_app,
    wait_for_link,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a real browser: not in the fast lane


def _url_path() -> str:
    from ui.nav import PAGES

    for spec in PAGES:
        if spec.path == "pages/sampling.py":
            return spec.url_path
    raise AssertionError("pages/sampling.py is not registered in ui/nav.py")


def _heading(page, pattern: str):
    return page.get_by_role("heading", name=re.compile(pattern))


def test_step_branch_save_and_reopen(page, app_url):
    sent = ServerMessages(page)
    query = urllib.parse.urlencode({"prompt": "def main(", "temperature": "0.8", "seed": "5"})
    open_app_page(page, app_url, f"{_url_path()}?{query}")
    assert_no_streamlit_exception(page)
    next_token = page.get_by_role("button", name="Next token", exact=True)
    for step in range(1, 6):
        next_token.click()
        _heading(page, f"^Step {step}:").wait_for()
        wait_for_app(page)
    pills = page.get_by_role(
        "radiogroup", name="Generated tokens: click one to inspect that step"
    ).get_by_role("radio")
    assert pills.count() == 5
    wait_for_link(page, "seed=5", "temperature=0.8")

    # inspect step 3, then branch there with another candidate
    pills.nth(2).click()
    _heading(page, "^Step 3:").wait_for()
    wait_for_app(page)
    page.get_by_role("button", name="Branch with it").click()
    _heading(page, "^Branches$").wait_for()
    wait_for_app(page)
    assert page.get_by_text("branch 1 @ step 3").first.is_visible()
    assert pills.count() == 3  # two shared steps and the chosen candidate

    # save the branch, reset, open it again: the replay must match token for token
    page.get_by_text("Save or open a trajectory").click()
    mark = len(sent.messages)
    page.get_by_role("button", name="Save this trajectory as a run").click()
    toast = page.locator('[data-testid="stToast"]')  # confirmations show as toasts
    toast.filter(has_text=re.compile(r"Saved as run #\d+")).wait_for()
    wait_for_app(page)
    # The save reran its panel alone (a fragment): no whole-page run, no chart sent again
    kinds = sent.since(mark)
    assert "script_finished" in kinds and not [k for k in kinds if k.endswith("@page")]
    assert "element:plotly_chart" not in kinds
    assert "element:selectbox" in kinds  # the panel's list of saved runs, with the new one
    page.get_by_role("button", name="Reset", exact=True).click()
    page.get_by_text("Press Next token or Run N to start generating.").wait_for()
    wait_for_app(page)
    page.get_by_role("button", name="Open and replay").click()
    toast.filter(has_text=re.compile(r"replayed 3 steps: every token matched")).wait_for()
    wait_for_app(page)
    assert pills.count() == 3
    assert_no_streamlit_exception(page)


def test_stop_ends_a_running_run_n(page, app_url):
    # Without the KV cache every step recomputes the whole text: 200 steps take many seconds.
    query = urllib.parse.urlencode({"prompt": "Once upon a time", "cache": "0", "n": "200"})
    open_app_page(page, app_url, f"{_url_path()}?{query}")
    page.get_by_role("button", name="Run N", exact=True).click()
    page.get_by_text(re.compile(r"Generated \d+ of 200 tokens")).wait_for()
    # the page's Stop, not the toolbar's (Streamlit shows one there while a script runs)
    page.locator('[data-testid="stMain"]').get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text(re.compile(r"\d+ tokens in main")).wait_for()
    wait_for_app(page)
    assert_no_streamlit_exception(page)
    assert page.get_by_text(re.compile(r"Generated \d+ of 200 tokens")).count() == 0
    done = int(
        re.search(
            r"(\d+) tokens in main",
            page.get_by_text(re.compile(r"\d+ tokens in main")).inner_text(),
        ).group(1)
    )
    assert 0 < done < 200, f"Stop did not stop Run N: {done} of 200 tokens generated"
    pills = page.get_by_role(
        "radiogroup", name="Generated tokens: click one to inspect that step"
    ).get_by_role("radio")
    expect(pills).to_have_count(done, timeout=60_000)  # drawn with the caption


def test_a_link_reopens_the_same_trajectory(page, app_url):
    query = urllib.parse.urlencode({"prompt": "def main(", "temperature": "0.8", "seed": "5"})
    open_app_page(page, app_url, f"{_url_path()}?{query}")
    next_token = page.get_by_role("button", name="Next token", exact=True)
    for step in range(1, 4):
        next_token.click()
        _heading(page, f"^Step {step}:").wait_for()
        wait_for_app(page)
    pills = page.get_by_role(
        "radiogroup", name="Generated tokens: click one to inspect that step"
    ).get_by_role("radio")
    pills.nth(1).click()  # inspect step 2 and branch there: a forced token in the link
    _heading(page, "^Step 2:").wait_for()
    wait_for_app(page)
    page.get_by_role("button", name="Branch with it").click()
    _heading(page, "^Branches$").wait_for()
    wait_for_app(page)
    next_token.click()
    _heading(page, "^Step 3:").wait_for()
    wait_for_app(page)
    page.wait_for_url(re.compile(r"[?&]steps=3(&|$)"))
    assert re.search(r"[?&]forced=1%3A\d+", page.url), page.url
    tokens = pills.all_inner_texts()

    other = page.context.new_page()  # a fresh session opens the shared link
    other.goto(page.url)
    wait_for_app(other)
    assert_no_streamlit_exception(other)
    shared = other.get_by_role(
        "radiogroup", name="Generated tokens: click one to inspect that step"
    ).get_by_role("radio")
    shared.first.wait_for()
    assert shared.all_inner_texts() == tokens and len(tokens) == 3
    other.close()
