"""The Training page in a real browser: a tiny job starts and its loss curve grows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import assert_no_streamlit_exception, open_app_page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a real browser and a worker process

# A one-layer GPT on the built-in corpus: 60 steps of 4 windows of 16 tokens.
QUERY = (
    "training?preset=custom&n_layer=1&n_head=2&n_embd=32&context_length=16&steps=60"
    "&batch_size=4&warmup_steps=5&eval_every=10&sample_every=30"
)


def _step(page) -> int:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="step")
    text = metric.first.locator('[data-testid="stMetricValue"]').inner_text()
    return int(text.replace(",", "").strip())


def test_a_tiny_job_starts_and_the_loss_curve_updates(page, app_url):
    open_app_page(page, app_url, QUERY)
    assert_no_streamlit_exception(page)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("started.").wait_for()
    # the live view follows the new run: the step count rises between two refreshes
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stMetric"]')]
            .some(m => m.innerText.startsWith('step') && /^\\s*[1-9]/.test(
                m.querySelector('[data-testid="stMetricValue"]').innerText))""",
        timeout=120_000,
    )
    first = _step(page)
    page.wait_for_function(
        """(v) => [...document.querySelectorAll('[data-testid="stMetric"]')]
            .some(m => m.innerText.startsWith('step') && parseInt(
                m.querySelector('[data-testid="stMetricValue"]').innerText
                 .replace(/,/g, '')) > v)""",
        arg=first,
        timeout=120_000,
    )
    assert _step(page) > first
    curve = page.locator(".js-plotly-plot").first
    assert curve.locator("g.trace.scatter").count() >= 2  # raw and smoothed train loss
    page.get_by_text("finished").first.wait_for(timeout=120_000)
    assert_no_streamlit_exception(page)
    shots = os.environ.get("GLASSBOX_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(shots) / "training-live.png"), full_page=True)
