"""The GPU-pool page under Streamlit's AppTest (no browser), plus its pure figure helpers."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.pool import PolicyName, crossing
from core.pool.presets import preset
from core.pool.runner import run
from core.store import get_points, list_runs, open_database
from core.store.repository import RunQuery
from tests.app.rendered import live_markup, plain

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "pool.py")
# A small market that simulates in milliseconds: 8 models on 4 GPUs for 60 s.
SMALL = {"preset": "paper-40x0.1", "models": "8", "duration": "60", "gpus": "4"}


def _run(query: dict[str, str] | None = None) -> AppTest:
    """The page with ``query`` in its link; the Live view unless the link names another
    (the page opens on Stories, tested in test_pool_stories.py)."""
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in ({"view": "Live"} | (query or {})).items():
        at.query_params[key] = value
    return at.run()


def _errors(at: AppTest) -> list[str]:
    return [plain(e.value) for e in at.error]


def _pct(x: float) -> str:
    return "100%" if x >= 0.9995 else f"{x:.1%}"


def _runs(session, kind: str) -> list:
    return list_runs(session, RunQuery(kinds=(kind,))).runs


def _small_config(policy: str = "aegaeon"):
    cfg = preset("paper-40x0.1")
    wl = cfg.workload.__class__(**{**cfg.workload.__dict__, "num_models": 8, "duration_s": 60.0})
    pool = cfg.pool.__class__(**{**cfg.pool.__dict__, "num_gpus": 4})
    return cfg.replace(workload=wl, pool=pool, policy=PolicyName(policy))


def test_default_setup_renders_and_lives_in_the_url():
    at = _run()
    assert not at.exception
    assert _errors(at) == []
    assert at.button(key="pl_start").label == "Start live run"
    assert not at.button(key="pl_start").disabled
    assert any("40 models × 0.1 req/s on 16 H800s" in c.value for c in at.caption)
    q = at.query_params
    assert q["preset"] == "paper-40x0.1" and q["policy"] == "aegaeon"
    assert q["models"] == "40" and q["gpus"] == "16" and q["tpot"] == "0.1"
    assert any("≈ 480 requests" in c.value for c in at.caption)


def test_preset_choice_fills_every_knob():
    at = _run()
    at.selectbox(key="pl_preset").set_value("alibaba-market").run()
    assert not at.exception
    assert at.number_input(key="pl_models").value == 100
    assert at.selectbox(key="pl_popularity").value == "alibaba"
    assert at.selectbox(key="pl_gpu").value == "H20"
    assert at.query_params["preset"] == "alibaba-market"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"gpus": "1"}, "Aegaeon needs ≥ 2 GPUs"),
        ({"rate": "0"}, "rate_per_model (req/s) must be a positive number"),
        ({"tpot": "0.001"}, "TPOT SLO 0.001 s can never be met"),
        ({"mix": "72b", "gpu": "H100"}, "needs 145.4 GB of weights"),
    ],
)
def test_invalid_setup_is_refused_before_running(query, message):
    at = _run({**SMALL, **query})
    assert not at.exception
    errors = _errors(at)
    assert len(errors) == 1 and errors[0].startswith("This setup cannot run:")
    assert message in errors[0]
    assert at.button(key="pl_start").disabled
    assert at.button(key="pl_batch_btn").disabled


def test_bad_link_values_are_named_and_ignored():
    at = _run({"gpus": "many", "policy": "fastest", "preset": "nope"})
    assert not at.exception
    warning = plain(at.warning[0].value)
    assert "preset='nope' is not one of paper-40x0.1" in warning
    assert "gpus='many'" in warning and "policy='fastest'" in warning
    assert at.number_input(key="pl_gpus").value == 16
    assert _errors(at) == []


def test_link_values_the_widgets_cannot_show_are_ignored():
    at = _run({"rate": "-1", "ttft": "nan", "duration": "inf", "sw_n": "x"})
    assert not at.exception
    warning = plain(at.warning[0].value)
    assert "rate='-1'" in warning and "ttft='nan'" in warning and "duration='inf'" in warning
    assert at.number_input(key="pl_rate").value == 0.1
    assert at.session_state["pl_sw_n"] == 8 and "sw_n='x'" in warning


@pytest.mark.parametrize(
    ("key", "raw", "widget", "kept"),
    [
        ("speed", "²", None, 10),  # a digit to str.isdigit, not to int(): was a traceback
        ("models", "3000000", "pl_models", 40),  # would draw a 3,000,000-bar market chart
        ("gpus", "5000", "pl_gpus", 16),
        ("sw_n", "²", None, 8),
        ("sw_hi", "1e308", None, 0.7),
        ("seed", "-1", "pl_seed", 0),
    ],
)
def test_out_of_bounds_link_values_warn_and_keep_the_default(key, raw, widget, kept):
    at = _run({key: raw})
    assert not at.exception
    assert f"{key}={raw!r}" in plain(at.warning[0].value)
    assert at.session_state[f"pl_{key}"] == kept
    if widget:
        assert at.number_input(key=widget).value == kept
        assert at.number_input(key=widget).max is not None  # every numeric widget is bounded
    assert at.query_params[key] == str(kept)


def test_preset_from_the_link_is_shown_as_text_not_a_link():
    at = _run({"preset": "[Click here to log in](http://example.invalid/login)"})
    assert not at.exception
    assert "Click here to log in" in plain(at.warning[0].value)
    assert live_markup(at) == []


def test_too_large_for_live_offers_batch_mode():
    at = _run({"models": "100", "rate": "10", "duration": "3600"})
    at.button(key="pl_start").click().run()
    assert not at.exception
    assert any("Too large for a live view: about 3,600,000 requests" in e for e in _errors(at))
    assert at.session_state["pl_live"] is None
    at.button(key="pl_batch_btn").click().run()
    assert any("python -m core.pool run --preset paper-40x0.1" in e for e in _errors(at))


def test_live_run_steps_pauses_and_is_saved_only_on_request():
    at = _run(SMALL)
    at.button(key="pl_start").click().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Sim time"] == "5.0 s"  # speed 10 × 0.5 s frame
    assert at.button(key="pl_play").label == "Pause"
    at.button(key="pl_play").click().run()
    assert at.button(key="pl_play").label == "Play"
    assert {m.label: m.value for m in at.metric}["Sim time"] == "5.0 s"
    at.button(key="pl_end").click().run()
    assert not at.exception
    expected = run(_small_config())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Attainment"] == _pct(expected.attainment)
    assert metrics["Switches"] == str(expected.switches)
    with open_database().begin() as s:  # a finished run is not stored unless asked
        assert _runs(s, "pool") == []
    assert not any("Saved as run" in c.value for c in at.caption)
    at.button(key="pl_save_live").click().run()
    assert not at.exception
    assert [t.value for t in at.toast] == ["Saved as run #1: compare it on the Saved runs page."]
    assert any("Saved as run #1" in c.value for c in at.caption)
    with pytest.raises(KeyError):
        at.button(key="pl_save_live")  # saved once: the button gives way to the link
    with open_database().begin() as s:
        (saved,) = _runs(s, "pool")
        assert saved.config == _small_config().to_dict()
        assert saved.summary["slo_attainment"] == pytest.approx(expected.attainment)
        assert saved.summary["switches"] == expected.switches
        assert "live" in saved.tag_names
        live_points = get_points(s, saved.id, "slo_attainment")["slo_attainment"]
        assert len(live_points) > 10
    at.run()  # a later rerun neither saves again nor repeats the toast
    assert list(at.toast) == []
    with open_database().begin() as s:
        assert len(_runs(s, "pool")) == 1


def test_batch_mode_shows_the_result_and_saves_it_on_request():
    at = _run({**SMALL, "policy": "request_fcfs"})
    at.button(key="pl_batch_btn").click().run()
    assert not at.exception
    expected = run(_small_config("request_fcfs"))
    assert at.subheader[0].value == "Batch result"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Attainment"] == _pct(expected.attainment)
    assert metrics["TTFT p90"] == f"{expected.ttft_p90_s:.2f} s"
    assert len(at.get("plotly_chart")) == 4  # the market, then the result's three
    with open_database().begin() as s:
        assert _runs(s, "pool") == []
    at.button(key="pl_save_batch").click().run()
    assert not at.exception
    assert [t.value for t in at.toast] == ["Saved as run #1: compare it on the Saved runs page."]
    with open_database().begin() as s:
        (saved,) = _runs(s, "pool")
        cfg = _small_config("request_fcfs").replace(record_events=False)
        assert saved.config == cfg.to_dict()
        assert saved.summary["slo_attainment"] == pytest.approx(expected.attainment)
        assert saved.summary["ttft_p90_s"] == pytest.approx(expected.ttft_p90_s)
        assert set(saved.tag_names) == {"batch", "dashboard"}


def test_compare_two_policies_on_the_same_workload():
    at = _run({**SMALL, "view": "Compare", "cmp": "aegaeon,static_multiplex"})
    at.button(key="pl_cmp_btn").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["policy"]) == ["aegaeon", "static_multiplex"]
    rows = table.set_index("policy")
    for policy in ("aegaeon", "static_multiplex"):
        expected = run(_small_config(policy))
        assert rows.loc[policy, "switches"] == expected.switches
        assert rows.loc[policy, "SLO attainment"] == pytest.approx(expected.attainment)
    assert len(at.get("plotly_chart")) == 4
    with open_database().begin() as s:  # a comparison is stored only when asked
        assert _runs(s, "pool") == []
    assert not any("Saved as runs" in c.value for c in at.caption)
    at.button(key="pl_save_cmp").click().run()
    assert not at.exception
    assert [t.value for t in at.toast] == ["Saved as runs #1, #2: compare them on Saved runs."]
    assert any("runs?compare=1,2" in c.value for c in at.caption)
    with pytest.raises(KeyError):
        at.button(key="pl_save_cmp")  # saved once: the button gives way to the link
    with open_database().begin() as s:
        saved = _runs(s, "pool")
        assert sorted(r.config["policy"] for r in saved) == ["aegaeon", "static_multiplex"]
        assert all("compare" in r.tag_names for r in saved)
    at.run()
    with open_database().begin() as s:
        assert len(_runs(s, "pool")) == 2


def test_compare_needs_two_to_four_policies():
    at = _run({**SMALL, "view": "Compare", "cmp": "aegaeon"})
    at.button(key="pl_cmp_btn").click().run()
    assert "Pick two to four policies to compare (you picked 1)." in _errors(at)


def test_sweep_marks_goodput_and_saves_on_request():
    q = {**SMALL, "view": "Sweep", "sw_lo": "0.1", "sw_hi": "0.9", "sw_n": "3"}
    at = _run({**q, "sw_pols": "aegaeon"})
    at.button(key="pl_sw_btn").click().run()
    assert not at.exception
    axis, curves, marks, run_id = at.session_state["pl_sweep"]
    assert axis == "rate" and [x for x, _ in curves["aegaeon"]] == [0.1, 0.5, 0.9]
    assert marks["aegaeon"] == pytest.approx(
        crossing([x for x, _ in curves["aegaeon"]], [y for _, y in curves["aegaeon"]])
    )
    assert any("**aegaeon** goodput" in m.value for m in at.markdown)
    assert run_id is None
    with open_database().begin() as s:
        assert _runs(s, "pool_sweep") == []
    at.button(key="pl_save_sweep").click().run()
    assert not at.exception
    run_id = at.session_state["pl_sweep"][3]
    assert [t.value for t in at.toast] == [
        f"Saved as run #{run_id}: compare it on the Saved runs page."
    ]
    with open_database().begin() as s:
        (saved,) = _runs(s, "pool_sweep")
        assert saved.id == run_id
        pts = get_points(s, run_id, "attainment_aegaeon")["attainment_aegaeon"]
        assert [p[0] for p in pts] == [0.1, 0.5, 0.9]


def test_a_sweep_with_an_unreachable_ray_cluster_runs_here_and_says_so(monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("GLASSBOX_RAY_ADDRESS", f"127.0.0.1:{port}")
    q = {**SMALL, "view": "Sweep", "sw_lo": "0.1", "sw_hi": "0.9", "sw_n": "2"}
    at = _run({**q, "sw_pols": "aegaeon"})
    at.button(key="pl_sw_btn").click().run()
    assert not at.exception and _errors(at) == []
    (warning,) = [plain(w.value) for w in at.warning]
    assert f"127.0.0.1:{port}" in warning and "does not answer" in warning
    assert "swept on this server instead" in warning
    assert [x for x, _ in at.session_state["pl_sweep"][1]["aegaeon"]] == [0.1, 0.9]


def test_sweep_rejects_an_empty_range():
    at = _run({**SMALL, "view": "Sweep", "sw_lo": "0.5", "sw_hi": "0.2", "sw_n": "1"})
    at.button(key="pl_sw_btn").click().run()
    (error,) = _errors(at)
    assert "0 < from < to (got 0.5 to 0.2)" in error and "use 2 to 16 points (got 1)" in error


def test_uploaded_trace_replaces_the_workload_and_bad_csv_is_explained():
    at = _run(SMALL)
    csv = "arrival_s,model,model_type,input_tokens,output_tokens\n"
    csv += "".join(f"{i * 0.5},m{i % 3},qwen2.5-7b,100,20\n" for i in range(30))
    at.file_uploader(key="pl_upload").set_value(("t.csv", csv.encode(), "text/csv")).run()
    assert not at.exception
    assert any("30 requests to 3 models" in i.value for i in at.info)
    at.file_uploader(key="pl_upload").set_value(("bad.csv", b"a,b\n1,2\n", "text/csv")).run()
    assert any("unrecognised header" in w.value for w in at.warning)


def test_sweep_over_number_of_models_is_saved_with_its_axis():
    q = {**SMALL, "view": "Sweep", "sw_axis": "models", "sw_lo": "4", "sw_hi": "12", "sw_n": "3"}
    at = _run({**q, "sw_pols": "static_multiplex"})
    at.button(key="pl_sw_btn").click().run()
    assert not at.exception
    axis, curves, _, _ = at.session_state["pl_sweep"]
    assert axis == "models" and [x for x, _ in curves["static_multiplex"]] == [4.0, 8.0, 12.0]
    at.button(key="pl_save_sweep").click().run()
    with open_database().begin() as s:
        (saved,) = _runs(s, "pool_sweep")
        assert saved.config["axis"] == "num_models"
        assert "max_models_at_90pct_static_multiplex" in saved.summary


def test_page_works_without_a_database(monkeypatch):
    monkeypatch.setenv("GLASSBOX_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    at = _run(SMALL)
    at.button(key="pl_batch_btn").click().run()
    assert not at.exception
    assert at.subheader[0].value == "Batch result"
    assert _errors(at) == []  # the store is only needed to save
    at.button(key="pl_save_batch").click().run()
    assert not at.exception
    assert any("The run store is unavailable" in e for e in _errors(at))
    assert at.subheader[0].value == "Batch result"  # the result is still shown
    assert not any("Saved as run" in c.value for c in at.caption)
    assert list(at.toast) == []


def test_gpus_needed_per_policy():
    from core.pool.runner import gpus_needed

    at = _run({**SMALL, "view": "Sweep", "sw_pols": "static_multiplex,dedicated"})
    at.number_input(key="pl_need_rate").set_value(1.6).run()
    at.button(key="pl_need_btn").click().run()
    assert not at.exception
    needed, text = at.session_state["pl_needed"]
    cfg = _small_config("static_multiplex").replace(record_events=False).with_rate(0.2)
    assert needed == {
        "static_multiplex": gpus_needed(cfg, max_gpus=16, processes=1),
        "dedicated": 8,
    }
    assert text == "1.6 req/s over 8 models"


def test_find_gpus_needed_is_estimated_and_refused_before_it_runs():
    at = _run({"view": "Sweep"})  # the default market: 40 models over 120 s
    at.number_input(key="pl_need_rate").set_value(2000.0)
    at.button(key="pl_need_btn").click().run()
    assert not at.exception
    assert any(
        "at 2,000 req/s would take about 480 s of simulation (limit 120 s)" in e
        for e in _errors(at)
    )
    assert at.session_state["pl_needed"] is None  # nothing was simulated
