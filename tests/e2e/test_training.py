"""The Training page in a real browser: a tiny job starts and its loss curve grows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import assert_no_streamlit_exception, open_app_page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a real browser and a worker process

# A one-layer GPT on the built-in corpus: 300 steps of 16 windows of 32 tokens (long enough
# to be seen between two refreshes of the live view, every 2 s).
QUERY = (
    "training?preset=custom&n_layer=1&n_head=2&n_embd=32&context_length=32&steps=300"
    "&batch_size=16&warmup_steps=5&eval_every=50&sample_every=100&sample_prompt=The+"
)
NAME = "gpt 1x32 on python-reference-manual"  # the new run (the e2e store holds others)


def _step(page) -> int:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="step")
    text = metric.first.locator('[data-testid="stMetricValue"]').inner_text()
    return int(text.replace(",", "").strip())


def test_a_tiny_job_starts_and_the_loss_curve_updates(page, app_url):
    open_app_page(page, app_url, QUERY)
    assert_no_streamlit_exception(page)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("started.").wait_for()
    # the live view follows the new run once it exists, and its step count rises
    page.locator('[data-testid="stHeading"]').filter(has_text=NAME).wait_for(timeout=180_000)
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stMetric"]')]
            .some(m => m.innerText.startsWith('step') && /^\\s*[1-9]/.test(
                m.querySelector('[data-testid="stMetricValue"]').innerText))""",
        timeout=180_000,
    )
    first = _step(page)
    assert first < 300, "the run ended before the page saw it train"
    page.wait_for_function(
        """(v) => [...document.querySelectorAll('[data-testid="stMetric"]')]
            .some(m => m.innerText.startsWith('step') && parseInt(
                m.querySelector('[data-testid="stMetricValue"]').innerText
                 .replace(/,/g, '')) > v)""",
        arg=first,
        timeout=180_000,
    )
    assert _step(page) > first
    # the curve holds the raw and the smoothed training loss (redrawn at each refresh)
    page.locator(".js-plotly-plot g.trace.scatter").nth(1).wait_for(state="attached")
    page.get_by_text("finished ·").first.wait_for(timeout=300_000)
    assert_no_streamlit_exception(page)
    shots = os.environ.get("GLASSBOX_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(shots) / "training-live.png"), full_page=True)
