"""The GPU-pool page in a real browser: a live run advances and pauses; two policies compared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import assert_no_streamlit_exception, open_app_page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a real browser: not in the fast lane

# A small market (8 models on 4 GPUs for 120 s) so the comparison takes milliseconds.
QUERY = (
    "pool?view=Live&preset=paper-40x0.1&models=8&duration=120&gpus=4&speed=5"
    "&cmp=aegaeon,request_fcfs"
)


def _sim_time(page) -> float:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Sim time")
    return float(metric.locator('[data-testid="stMetricValue"]').inner_text().split()[0])


def _wait_sim_time_above(page, value: float) -> None:
    page.wait_for_function(
        """(v) => [...document.querySelectorAll('[data-testid="stMetric"]')]
            .filter(m => m.innerText.includes('Sim time'))
            .some(m => parseFloat(m.querySelector('[data-testid="stMetricValue"]')
                                   .innerText) > v)""",
        arg=value,
    )


def _settled_sim_time(page) -> float:
    """The sim time once a frame already in flight when Pause was pressed has landed."""
    shown = _sim_time(page)
    for _ in range(10):  # bounded: the live fragment ticks about once a second
        page.wait_for_timeout(1_000)
        now = _sim_time(page)
        if now == shown:
            return now
        shown = now
    raise AssertionError(f"sim time still moving after Pause (last {shown})")


def _view(page, name: str) -> None:
    page.locator('[data-testid="stButtonGroup"]').get_by_text(name, exact=True).click()


def _shot(page, name: str) -> None:
    shots = os.environ.get("GLASSBOX_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(shots) / name), full_page=True)


def test_live_run_advances_pauses_then_compare_two_policies(page, app_url):
    open_app_page(page, app_url, QUERY)
    assert_no_streamlit_exception(page)
    page.get_by_role("button", name="Start live run").click()

    # the timeline appears and advances frame after frame
    page.get_by_text("Notable events").wait_for()
    gantt = page.locator(".js-plotly-plot").first
    gantt.wait_for()
    first = _sim_time(page)
    _wait_sim_time_above(page, first)
    _wait_sim_time_above(page, _sim_time(page))
    assert _sim_time(page) > first
    assert gantt.locator("g.trace.bars").count() >= 1  # GPU segments are drawn
    _shot(page, "pool-live.png")

    # pause: the button flips to Play and simulated time stops
    page.get_by_role("button", name="Pause", exact=True).click()
    page.get_by_role("button", name="Play", exact=True).wait_for()
    paused_at = _settled_sim_time(page)

    # compare two policies on the same seeded workload
    _view(page, "Compare")
    page.get_by_role("button", name="Run comparison").click()
    page.get_by_text("compare them on Saved runs").wait_for()
    table = page.locator('[data-testid="stDataFrame"]')
    table.wait_for()
    assert page.locator(".js-plotly-plot").count() == 4
    assert page.get_by_text("time to first token").count() >= 1
    _shot(page, "pool-compare.png")

    # back on the live view, a full rerun while paused did not advance the run
    _view(page, "Live")
    page.get_by_role("button", name="Play", exact=True).wait_for()
    assert _sim_time(page) == paused_at
    assert_no_streamlit_exception(page)
