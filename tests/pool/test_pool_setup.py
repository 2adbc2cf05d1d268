"""core/pool/setup.py: the dashboard's knobs ↔ SimConfig ↔ URL, its checks and its saving."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.pool import PoolError, crossing
from core.pool import setup as ps
from core.pool.presets import PRESETS, preset
from core.pool.runner import run, run_many
from core.store import get_points, get_run, open_database

SMALL = {"models": 8, "duration": 60.0, "gpus": 4}


def _small(policy: str = "aegaeon") -> ps.Setup:
    values = {**ps.values_of(preset("paper-40x0.1")), **SMALL, "policy": policy}
    return ps.check_setup("paper-40x0.1", values)


@pytest.mark.parametrize("name", list(PRESETS))
def test_values_round_trip_every_preset(name):
    cfg = preset(name)
    assert ps.config_of(cfg, ps.values_of(cfg)) == cfg.replace(record_events=True)


def test_preset_values_lie_within_the_knob_limits():
    for name in PRESETS:
        values = ps.values_of(preset(name))
        assert all(lo <= values[k] <= hi for k, (lo, hi) in ps.LIMITS.items()), name


def test_check_setup_refuses_values_beyond_the_limits():
    values = {**ps.values_of(preset("paper-40x0.1")), "models": 3_000_000}
    with pytest.raises(PoolError, match=r"Models \(M\) must be from 1 to 1,000, got 3000000"):
        ps.check_setup("paper-40x0.1", values)


def test_gpus_needed_is_estimated_and_refused_before_it_runs():
    base = preset("paper-40x0.1")  # 40 models, 120 s
    # 2,000 req/s: 5 bisection probes per policy (from 80 GPUs), each 240,000 requests.
    with pytest.raises(PoolError, match=r"about 480 s of simulation \(limit 120 s\)"):
        ps.plan_needed(base, ["aegaeon", "request_fcfs"], 2_000.0)
    assert ps.plan_needed(base, ["aegaeon", "request_fcfs"], 4.0) == pytest.approx(0.96)
    assert ps.plan_needed(base, ["dedicated"], 2_000.0) == 0.0  # nothing to simulate
    for bad in (0.0, -1.0, float("nan"), float("inf"), 1e6):
        with pytest.raises(PoolError, match="The target load must be"):
            ps.plan_needed(base, ["aegaeon"], bad)
    with pytest.raises(PoolError, match="Pick at least one policy"):
        ps.plan_needed(base, [], 4.0)


def test_oversized_upload_is_refused_before_it_is_parsed():
    data = b"x" * (ps.MAX_UPLOAD_BYTES + 1)
    with pytest.raises(PoolError, match="big.csv is 20.0 MB; a page reads traces up to 20 MB"):
        ps.read_upload("big.csv", data, "paper")


def test_check_setup_sizes_the_run_and_refuses_bad_setups():
    s = _small()
    assert s.requests == 48 and s.live_ok and s.trace is None
    assert s.config.workload.num_models == 8 and s.config.record_events
    with pytest.raises(PoolError, match="Aegaeon needs ≥ 2 GPUs"):
        ps.check_setup("paper-40x0.1", {**ps.values_of(s.config), "gpus": 1})


def test_uploaded_trace_is_read_and_checked():
    csv = "arrival_s,model,model_type,input_tokens,output_tokens\n"
    csv += "".join(f"{i * 0.5},m{i % 3},qwen2.5-7b,100,20\n" for i in range(30))
    trace = ps.read_upload("t.csv", csv.encode(), "paper")
    s = ps.check_setup("paper-40x0.1", ps.values_of(_small().config), trace)
    assert s.requests == 30 and s.trace is trace
    names, rates = ps.market_of(s)
    assert names == ["m0", "m1", "m2"] and sum(rates) == pytest.approx(30 / trace.duration_s)
    with pytest.raises(PoolError, match="bad.csv is not UTF-8 text: upload a CSV file"):
        ps.read_upload("bad.csv", b"\xff\xfe", "paper")
    with pytest.raises(PoolError, match="unrecognised header"):
        ps.read_upload("bad.csv", b"a,b\n1,2\n", "paper")
    huge = "arrival_s,model,model_type,input_tokens,output_tokens\n0.5,m0,qwen2.5-7b,1"
    with pytest.raises(PoolError, match="huge.csv line 2: .*above 10,000,000 tokens"):
        ps.read_upload("huge.csv", (huge + "0" * 30 + ",20\n").encode(), "paper")  # 10^30


def test_refusals_name_the_limit_and_the_way_out():
    s = _small()
    assert ps.live_refusal(s) is None and ps.batch_refusal(s, "x") is None
    big = ps.Setup(s.config, None, 3_600_000, 900.0)
    assert "about 3,600,000 requests" in ps.live_refusal(big)
    assert "python -m core.pool run --preset x --policy aegaeon --save" in ps.batch_refusal(
        big, "x"
    )
    assert ps.compare_refusal(s, ["aegaeon"]) == (
        "Pick two to four policies to compare (you picked 1)."
    )
    assert ps.compare_refusal(s, ["aegaeon", "dedicated"]) is None
    assert "about 1,800 s" in ps.compare_refusal(big, ["aegaeon", "dedicated"])
    hour = s.config.replace(workload=replace(s.config.workload, num_models=100, duration_s=3600.0))
    with pytest.raises(PoolError, match=r"\(limit 120 s\).*--preset x --save"):
        ps.plan_sweep(hour, "x", "rate", 1.0, 10.0, 16, ps.POLICIES[:4])
    configs, wall = ps.plan_sweep(s.config, "x", "rate", 0.1, 0.2, 2, ["aegaeon"])
    assert len(configs) == 2 and 0 < wall < ps.SWEEP_MAX_WALL_S
    assert ps.processes_for(0.5) == 1


def test_sweep_points_configs_and_curves():
    assert ps.sweep_xs("rate", 0.1, 0.9, 3, ["aegaeon"]) == pytest.approx([0.1, 0.5, 0.9])
    assert ps.sweep_xs("models", 4, 12, 3, ["aegaeon"]) == [4, 8, 12]
    with pytest.raises(PoolError) as err:
        ps.plan_sweep(_small().config, "x", "rate", 0.5, 0.2, 1, [])
    assert str(err.value) == (
        "Cannot sweep: pick at least one policy; the range needs 0 < from < to (got 0.5 to 0.2); "
        "use 2 to 16 points (got 1)."
    )
    base = _small().config
    configs = ps.sweep_configs(base, "models", [4, 8], ["static_multiplex", "dedicated"])
    assert [(c.policy.value, c.workload.num_models) for c in configs] == [
        ("static_multiplex", 4),
        ("static_multiplex", 8),
        ("dedicated", 4),
        ("dedicated", 8),
    ]
    assert not any(c.record_events for c in configs)
    points = run_many(configs, processes=1)
    curves, marks = ps.sweep_curves("models", configs, points)
    assert list(curves) == ["static_multiplex", "dedicated"]
    attained = [p.result.attainment for p in points]
    assert curves["static_multiplex"] == [(4.0, attained[0]), (8.0, attained[1])]
    assert curves["dedicated"] == [(4.0, attained[2]), (8.0, attained[3])]
    assert marks == {p: crossing([x for x, _ in c], [y for _, y in c]) for p, c in curves.items()}


def test_saving_a_live_run_and_a_models_sweep(tmp_path):
    factory = open_database(f"sqlite:///{tmp_path}/t.db")
    s = _small()
    result = run(s.config)
    series = {"slo_attainment": [(1.0, 1.0), (2.0, float("nan"))], "queued": [(1.0, 3.0)]}
    with factory.begin() as ses:
        live_id = ps.save_live_run(ses, s.config, result, series)
        curves = {"dedicated": [(4.0, 1.0), (8.0, float("nan"))]}
        sweep_id = ps.save_models_sweep(ses, s.config, curves, {"dedicated": 4.0})
    with factory.begin() as ses:
        # The store's one rule: a non-finite value is kept as a gap (null), not dropped.
        assert get_points(ses, live_id, "slo_attainment")["slo_attainment"] == [
            (1.0, 1.0),
            (2.0, None),
        ]
        assert get_points(ses, live_id, "queued")["queued"] == [(1.0, 3.0)]
        assert "live" in get_run(ses, live_id).tag_names
        saved = get_run(ses, sweep_id)
        assert saved.config["axis"] == "num_models"
        assert saved.summary == {"max_models_at_90pct_dedicated": 4.0}
        assert get_points(ses, sweep_id, "attainment_dedicated")["attainment_dedicated"] == [
            (4.0, 1.0),
            (8.0, None),
        ]


def test_gpus_needed_per_policy_reports_progress():
    base = _small().config
    seen = []
    needed, text = ps.gpus_needed_per_policy(
        base, ["dedicated"], 1.6, lambda i, p: seen.append((i, p))
    )
    assert needed == {"dedicated": 8} and text == "1.6 req/s over 8 models"
    assert seen == [(1, "dedicated")]
