"""Batch API (sweeps with progress, goodput, GPUs needed, cost), persistence and the CLI."""

from __future__ import annotations

import dataclasses
import math

import pytest

from core.pool import ConfigError, PolicyName, PoolConfig, SimConfig, SwitchConfig, WorkloadConfig
from core.pool.cli import main, parse_rates
from core.pool.persist import save_result, save_sweep, sweep_summary
from core.pool.runner import (
    SweepPoint,
    crossing,
    estimate_cost,
    goodput,
    goodput_from_points,
    gpus_needed,
    run,
    run_in_steps,
    run_many,
    sweep,
)
from core.store import RunKind, get_points, get_run

BASE = SimConfig(
    workload=WorkloadConfig(num_models=8, rate_per_model=0.1, duration_s=60.0),
    pool=PoolConfig(num_gpus=4),
    record_events=False,
)


def test_sweep_reports_progress_in_order_and_matches_single_runs() -> None:
    calls = []
    pts = sweep(BASE, [0.05, 0.2], [PolicyName.AEGAEON, PolicyName.STATIC], processes=1,
                progress=lambda d, n, p: calls.append((d, n, p.policy, p.rate_per_model)))  # fmt: skip
    assert [(p.policy, p.rate_per_model) for p in pts] == [
        (PolicyName.AEGAEON, 0.05), (PolicyName.AEGAEON, 0.2),
        (PolicyName.STATIC, 0.05), (PolicyName.STATIC, 0.2),
    ]  # fmt: skip
    assert [c[:2] for c in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    single = run(BASE.with_rate(0.2))
    assert pts[1].result.attainment == single.attainment
    assert pts[1].total_rate == pytest.approx(8 * 0.2)


def test_parallel_sweep_equals_serial() -> None:
    seen = []
    par = run_many(
        [BASE, BASE.with_rate(0.3)], processes=2, progress=lambda d, n, p: seen.append(d)
    )
    ser = run_many([BASE, BASE.with_rate(0.3)], processes=1)
    assert [p.result.attainment for p in par] == [p.result.attainment for p in ser]
    assert sorted(seen) == [1, 2]


def _fake(rate: float, att: float) -> SweepPoint:
    res = run(BASE)  # any real result; only attainment is read
    return SweepPoint(
        PolicyName.AEGAEON, rate, rate * 8, 4, dataclasses.replace(res, attainment=att)
    )


def test_crossing_interpolates_to_the_target() -> None:
    assert crossing([1, 2, 3], [1.0, 0.95, 0.85]) == pytest.approx(2.5)
    assert crossing([3, 1, 2], [0.85, 1.0, 0.95]) == pytest.approx(2.5)  # order of points
    assert crossing([1, 2, 3, 4], [1.0, 0.95, 0.85, 0.95]) == pytest.approx(2.5)  # first fall
    assert crossing([1, 2], [0.5, 0.4]) == 0.0
    assert crossing([1, 2], [1.0, 0.95]) == 2.0
    assert crossing([1, 2], [1.0, 0.8], target=0.5) == 2.0
    assert crossing([], []) == 0.0


def test_crossing_counts_an_unmeasured_point_as_failing() -> None:
    """NaN attainment (no request finished) fails, and nothing is interpolated towards it."""
    nan = math.nan
    assert crossing([1, 2, 3], [1.0, nan, 1.0]) == 1.0
    assert crossing([1, 2], [nan, 1.0]) == 0.0
    assert crossing([1, 2, 3], [1.0, 0.95, nan]) == 2.0


def test_goodput_from_points_is_the_crossing_of_the_sweep() -> None:
    pts = [_fake(0.2, 0.95), _fake(0.1, 1.0), _fake(0.3, 0.85), _fake(0.4, math.nan)]
    assert goodput_from_points(pts) == pytest.approx(0.25)
    assert goodput_from_points(pts[:2] + pts[3:]) == pytest.approx(0.2)  # NaN fails
    assert goodput_from_points([_fake(0.1, 0.5)]) == 0.0
    assert goodput_from_points([_fake(0.1, 0.99)]) == 0.1


def test_goodput_bisection_brackets_the_target() -> None:
    cfg = dataclasses.replace(BASE, policy=PolicyName.REQUEST_FCFS).replace(
        pool=PoolConfig(num_gpus=2)
    )
    g = goodput(cfg, target=0.9, rel_tol=0.1, processes=1)
    rates = [p.rate_per_model for p in g.points]
    assert rates == sorted(rates) and len(rates) >= 3
    passing = [p for p in g.points if p.result.attainment >= 0.9]
    failing = [p for p in g.points if p.result.attainment < 0.9]
    assert passing and failing
    assert g.rate_per_model == max(p.rate_per_model for p in passing if p.rate_per_model < min(
        f.rate_per_model for f in failing))  # fmt: skip
    above = min(f.rate_per_model for f in failing)
    assert above - g.rate_per_model <= 0.1 * g.rate_per_model + 1e-12
    assert g.total_rate == pytest.approx(8 * g.rate_per_model)


def test_gpus_needed_is_minimal() -> None:
    cfg = BASE.replace(policy=PolicyName.REQUEST_FCFS).with_rate(0.3)
    n = gpus_needed(cfg, target=0.9, max_gpus=8, processes=1)
    assert run(cfg.replace(pool=PoolConfig(num_gpus=n))).attainment >= 0.9
    if n > 1:
        assert run(cfg.replace(pool=PoolConfig(num_gpus=n - 1))).attainment < 0.9
    assert gpus_needed(BASE.replace(policy=PolicyName.DEDICATED)) == 8
    with pytest.raises(ConfigError, match="even 1 GPUs"):
        gpus_needed(cfg.with_rate(5.0), max_gpus=1, processes=1)


def test_estimate_cost_refuses_huge_live_runs() -> None:
    small = estimate_cost(BASE)
    assert small.live_ok and 30 <= small.requests <= 60 and small.wall_s < 1
    big = estimate_cost(BASE.replace(workload=WorkloadConfig(num_models=200, rate_per_model=1.0,
                                                             duration_s=3600.0)))  # fmt: skip
    assert not big.live_ok and big.requests == 720_000 and "720,000 requests" in big.reason


def test_save_result_and_sweep(session_factory) -> None:
    res = run(BASE)
    pts = sweep(BASE, [0.05, 0.3], [PolicyName.AEGAEON], processes=1)
    with session_factory.begin() as s:
        rid = save_result(s, BASE, res, tags=["test"])
        sid = save_sweep(s, BASE, pts)
    with session_factory.begin() as s:
        r = get_run(s, rid)
        assert r.kind == RunKind.POOL and SimConfig.from_dict(r.config) == BASE
        assert r.summary["slo_attainment"] == pytest.approx(res.attainment)
        pts_db = get_points(s, rid, "attainment_over_time")["attainment_over_time"]
        assert len(pts_db) == len(res.attainment_over_time)
        sw = get_run(s, sid)
        assert sw.kind == RunKind.POOL_SWEEP
        assert [x for x, _ in get_points(s, sid, "attainment_aegaeon")["attainment_aegaeon"]] == [
            0.05,
            0.3,
        ]
    summary = sweep_summary(pts)
    assert math.isfinite(summary["goodput_aegaeon_per_model_rps"])


def test_parse_rates() -> None:
    assert parse_rates("0.1:0.4:4") == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert parse_rates("0.5, 1") == [0.5, 1.0]
    with pytest.raises(ConfigError):
        parse_rates("fast")


def test_cli_run_sweep_and_errors(capsys, tmp_path) -> None:
    args = ["--models", "6", "--duration", "30", "--gpus", "4"]
    assert main(["run", *args, "--policy", "static_multiplex", "--save"]) == 0
    out = capsys.readouterr().out
    assert "static_multiplex" in out and "saved as run" in out
    assert (
        main(["sweep", *args, "--rates", "0.1,0.2", "--policies", "aegaeon", "--processes", "1"])
        == 0
    )
    assert "goodput_aegaeon_per_model_rps" in capsys.readouterr().out
    assert main(["run", *args, "--gpus", "0"]) == 2
    assert "num_gpus must be" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n")
    assert main(["run", "--trace", str(bad)]) == 2
    assert "unrecognised header" in capsys.readouterr().err
    assert main(["presets"]) == 0
    assert "paper-40x0.1" in capsys.readouterr().out


def test_cli_switch_cost_flags_build_the_switch_config() -> None:
    from core.pool.artifact import artifact_switch
    from core.pool.cli import build_config, make_parser

    def cfg(*flags: str):
        return build_config(make_parser().parse_args(["run", "--preset", "paper-40x0.1", *flags]))

    assert cfg().switch == SwitchConfig.aegaeon()
    assert cfg("--switch", "unoptimized").switch == SwitchConfig.unoptimized()
    assert cfg("--switch", "artifact").switch == artifact_switch()
    sw = cfg("--switch-bandwidth", "8", "--switch-overhead", "2", "--switch-overhead-per-gb",
             "0.5", "--kv-bandwidth", "20", "--no-prefetch").switch  # fmt: skip
    assert sw == SwitchConfig(
        bandwidth_gb_s=8.0, overhead_s=2.0, overhead_s_per_gb=0.5, kv_bandwidth_gb_s=20.0,
        prefetch=False,
    )  # fmt: skip
    assert cfg("--switch", "unoptimized", "--prefetch").switch.prefetch is True
    assert cfg("--switch", "unoptimized", "--switch-overhead", "1").switch.overhead_s == 1.0


def test_cli_table_has_a_legend_and_switch_flags_change_the_run(capsys) -> None:
    args = ["run", "--models", "6", "--duration", "30", "--gpus", "4"]
    assert main(args) == 0
    fast = capsys.readouterr().out
    for column in ("att", "strict", "ttft90s", "tbt90ms", "switch", "busy", "swtch", "req/wall-s"):
        assert f"\n  {column} " in fast, column
    assert main([*args, "--switch-overhead", "30", "--no-legend"]) == 0
    slow = capsys.readouterr().out
    assert "ttft90s " not in slow.split("\n", 1)[1]  # no legend lines
    att = lambda out: float(out.splitlines()[1].split()[2])  # noqa: E731
    assert att(slow) < att(fast)
    assert main([*args, "--switch-bandwidth", "-1"]) == 2
    assert "bandwidth_gb_s must be a positive number" in capsys.readouterr().err


def test_cli_replays_an_artifact_trace(capsys) -> None:
    assert main(["run", "--artifact-trace", "synth-10-0.1-1.0-1.0", "--no-legend"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == ["aegaeon", "98"]
    with pytest.raises(SystemExit):
        main(["run", "--artifact-trace", "synth-nope"])
    faithful = ["run", "--artifact-trace", "synth-20-0.5-1.0-1.0", "--policy", "serverlessllm"]
    assert main([*faithful, "--artifact-faithful", "--no-legend"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[:3] == ["serverlessllm", "548", "0.663"]  # the artifact's simulator: 0.664
    assert main(["run", "--artifact-trace", "synth-10-0.1-1.0-1.0", "--trace", "x.csv"]) == 2
    assert "not both" in capsys.readouterr().err


@pytest.mark.parametrize("policy", [PolicyName.AEGAEON, PolicyName.REQUEST_FCFS])
def test_run_in_steps_measures_what_run_does_and_reports_each_slice(policy) -> None:
    cfg = BASE.replace(policy=policy)
    seen: list[float] = []
    stepped = run_in_steps(cfg, steps=8, between=seen.append)
    whole = run(cfg)
    ignore = {"wall_s", "requests_per_wall_s"}
    fields = [f.name for f in dataclasses.fields(whole) if f.name not in ignore]
    assert {f: getattr(stepped, f) for f in fields} == {f: getattr(whole, f) for f in fields}
    assert seen == [k / 8 for k in range(1, 8)]


class _Gone(Exception):
    pass


def test_run_in_steps_stops_when_the_callback_raises() -> None:
    seen: list[float] = []

    def between(done: float) -> None:
        seen.append(done)
        if done >= 0.5:
            raise _Gone

    with pytest.raises(_Gone):
        run_in_steps(BASE, steps=10, between=between)
    assert seen == [0.1, 0.2, 0.3, 0.4, 0.5]  # the other half is never simulated
