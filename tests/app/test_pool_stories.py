"""The GPU-pool page's guided stories under AppTest: each opens already run and shows its
finding as a number (asserted here), and "Run it yourself" loads its setup."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.pool import setup as ps
from core.pool.stories import STORIES
from tests.app.rendered import plain

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "pool.py")


def _run(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def _tiles(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_the_page_opens_on_figure_11_with_its_ratio():
    at = _run()
    assert not at.exception and not at.error
    assert at.session_state["pl_view"] == "Stories" and at.session_state["pl_story"] == "fig11"
    tiles = _tiles(at)
    # Figure 11(a): 16–80 models × 0.1 req/s on 16 H800s; the 90% crossings in models
    assert tiles["Aegaeon"] == "68 models"
    assert tiles["ServerlessLLM"] == "33 models"
    assert tiles["Ratio"] == "2.07×"
    # the caveat: the artifact's own four traces, its requests, its ServerlessLLM
    assert tiles["Artifact traces"] == "1.54×"
    assert any(
        "Caveat: on the artifact's own traces" in plain(c.value) and "1.54×" in plain(c.value)
        for c in at.caption
    )
    assert at.query_params["view"] == "Stories"


@pytest.mark.parametrize(
    ("story", "expected"),
    [
        (
            "market",
            {
                "Cold models": "94.0%",
                "Their requests": "1.35%",
                "GPUs (production)": "1,192 → 213",
            },
        ),
        (
            "theorem",
            {
                "Active, measured": "11.06",
                "E[m] = M·(1 − e^(−λT))": "11.32",
                "Service time T": "3.17 s",
            },
        ),
        (
            "switch",
            {
                "Aegaeon, fast switch": "99.9%",
                "Aegaeon, stock restart": "4.3%",
                "Switching (stock)": "84%",
            },
        ),
        (
            "wins",
            {
                "Request-level": "3.86 req/s",
                "Aegaeon": "3.11 req/s",
                "Ratio": "1.24×",
            },
        ),
    ],
)
def test_each_story_opens_with_its_finding(story, expected):
    at = _run({"story": story})
    assert not at.exception and not at.error
    assert _tiles(at) == expected
    assert at.button(key="pl_story_try").label == "Run it yourself"


def test_story_numbers():
    """The findings as numbers: the cold tail's traffic, Theorem 3.1 within 3%, the switch
    cost collapsing Aegaeon, request-level ahead with as many GPUs as models."""
    market = STORIES["market"].compute().numbers
    assert market["cold_traffic"] == pytest.approx(0.0135, abs=1e-12)
    assert market["gpu_cut"] == pytest.approx(1 - 213 / 1192)
    theorem = STORIES["theorem"].compute().numbers
    assert theorem["ratio"] == pytest.approx(0.9774, abs=1e-4)
    assert theorem["paper_formula"] == pytest.approx(46.27, abs=0.01)  # REFERENCE: ≈ 46.5
    fig11 = STORIES["fig11"].compute().numbers
    assert fig11["ratio"] == pytest.approx(2.0668, abs=1e-4) and fig11["ratio"] >= 2
    assert fig11["artifact_ratio"] == pytest.approx(1.5395, abs=1e-4)
    switch = STORIES["switch"].compute().numbers
    assert switch["aegaeon_optimised"] > 0.99 > 0.05 > switch["aegaeon_stock"]


def test_run_it_yourself_loads_the_setup_and_view():
    at = _run({"story": "switch"})
    at.button(key="pl_story_try").click().run()
    assert not at.exception
    assert at.session_state["pl_view"] == "Compare"
    assert at.session_state["pl_preset"] == "unoptimized-switch"
    assert at.session_state["pl_switch"] == "unoptimized"
    assert at.button(key="pl_cmp_btn").label == "Run comparison"
    assert at.query_params["preset"] == "unoptimized-switch"


def test_story_state_covers_every_knob_and_view_field():
    for key in STORIES:
        state = ps.story_state(key)
        assert set(ps.KNOBS) <= set(state)
        assert state["view"] in ps.VIEWS
        setup = ps.check_setup(state["preset"], state)  # every story's setup can run …
        if state["view"] == "Sweep":  # … in the view it opens, within the page's limits
            keys = ("sw_axis", "sw_lo", "sw_hi", "sw_n", "sw_pols")
            ps.plan_sweep(setup.config, state["preset"], *(state[k] for k in keys))
        elif state["view"] == "Compare":
            assert ps.compare_refusal(setup, state["cmp"]) is None
        else:
            assert ps.live_refusal(setup) is None


def test_an_artifact_trace_replays_from_the_page():
    at = _run({"view": "Live", "art": "synth-20-0.5-1.0-1.0"})
    assert not at.exception and not at.error
    assert any("artifact trace synth-20-0.5-1.0-1.0: 548 requests" in i.value for i in at.info)
    assert any("≈ 548 requests" in c.value for c in at.caption)
