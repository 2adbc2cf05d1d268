"""Workload generator statistics and CSV import/export (both formats, malformed input)."""

from __future__ import annotations

import numpy as np
import pytest

from core.pool import (
    ArrivalProcess,
    Popularity,
    TraceError,
    WorkloadConfig,
    generate_trace,
    read_trace_csv,
    write_trace_csv,
)
from core.pool.workload import assign_types, model_rates


def test_same_seed_same_trace_and_rates_match() -> None:
    wl = WorkloadConfig(num_models=10, rate_per_model=0.5, duration_s=2000.0)
    a = generate_trace(wl, np.random.default_rng(1))
    b = generate_trace(wl, np.random.default_rng(1))
    assert np.array_equal(a.arrival_s, b.arrival_s) and np.array_equal(
        a.output_tokens, b.output_tokens
    )
    assert len(a) == pytest.approx(10 * 0.5 * 2000, rel=0.03)
    assert np.all(np.diff(a.arrival_s) >= 0) and a.arrival_s[-1] < 2000
    assert a.output_tokens.min() >= wl.min_output_tokens
    assert a.model_types.count("qwen2.5-7b") == 6 and a.model_types.count("llama2-13b") == 2


def test_gamma_arrivals_have_the_requested_cv() -> None:
    wl = WorkloadConfig(num_models=1, rate_per_model=2.0, duration_s=5000.0,
                        arrival=ArrivalProcess.GAMMA, cv=3.0)  # fmt: skip
    gaps = np.diff(generate_trace(wl, np.random.default_rng(0)).arrival_s)
    assert gaps.std() / gaps.mean() == pytest.approx(3.0, rel=0.1)
    assert 1 / gaps.mean() == pytest.approx(2.0, rel=0.1)


def test_popularity_splits() -> None:
    z = model_rates(WorkloadConfig(num_models=4, rate_per_model=1.0, popularity=Popularity.ZIPF,
                                   zipf_alpha=1.0))  # fmt: skip
    assert z.sum() == pytest.approx(4.0) and z[0] / z[1] == pytest.approx(2.0)
    ali = model_rates(
        WorkloadConfig(num_models=100, rate_per_model=0.1, popularity=Popularity.ALIBABA)
    )
    cold = np.sort(ali)[:94]
    assert cold.sum() / ali.sum() == pytest.approx(0.0135, rel=1e-9)


def test_bursts_and_diurnal_raise_and_lower_rates() -> None:
    wl = WorkloadConfig(num_models=1, rate_per_model=1.0, duration_s=4000.0, burst_factor=4.0,
                        burst_period_s=100.0, burst_length_s=10.0)  # fmt: skip
    t = generate_trace(wl, np.random.default_rng(0)).arrival_s
    inside = np.mod(t, 100.0) < 10.0
    assert inside.sum() / 400 == pytest.approx(4.0, rel=0.1)  # 400 s of bursts in total
    assert (~inside).sum() / 3600 == pytest.approx(1.0, rel=0.1)


def test_length_scaling_and_context_clipping() -> None:
    wl = WorkloadConfig(num_models=4, rate_per_model=1.0, duration_s=500.0, input_scale=2.0,
                        model_mix=(("llama2-13b", 1.0),))  # fmt: skip
    t = generate_trace(wl, np.random.default_rng(0))
    assert np.all(t.input_tokens + t.output_tokens <= 4096)
    assert np.median(t.input_tokens) == pytest.approx(2 * 556, rel=0.15)


def test_assign_types_largest_remainder() -> None:
    assert assign_types(5, (("a", 6), ("b", 2), ("c", 2))) == ("a", "a", "a", "b", "c")


def test_csv_round_trip(tmp_path) -> None:
    wl = WorkloadConfig(num_models=3, rate_per_model=0.5, duration_s=60.0)
    t = generate_trace(wl, np.random.default_rng(0))
    path = tmp_path / "t.csv"
    write_trace_csv(t, path)
    back = read_trace_csv(path)
    assert np.array_equal(back.arrival_s, t.arrival_s)
    assert np.array_equal(back.input_tokens, t.input_tokens)
    assert set(back.model_names) == set(t.model_names)
    assert [back.model_types[back.model_names.index(n)] for n in t.model_names] == list(
        t.model_types
    )


ARTIFACT = """Request Time,Model Name,Input Length,Output Length
00:00:00.026,synth_model_02,93,233
00:00:00.149,synth_model_19,380,279
00:00:01.500,synth_model_02,10,20
00:02:00.100,synth_model_07,918,941
"""


def test_artifact_format_and_model_mapping() -> None:
    t = read_trace_csv("a.csv", text=ARTIFACT, until_s=120.0)
    assert len(t) == 3 and t.arrival_s[2] == pytest.approx(1.5)
    assert t.model_names == ("synth_model_02", "synth_model_19")
    assert t.model_types == ("qwen2.5-7b", "yi-9b")  # 6:2:2 over 2 models -> largest remainders
    assert list(t.model) == [0, 1, 0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("a,b\n1,2\n", "unrecognised header"),
        ("Request Time,Model Name,Input Length,Output Length\n", "has no requests"),
        (
            "Request Time,Model Name,Input Length,Output Length\n00:00:01.0,m,5\n",
            "line 2: 3 fields",
        ),
        ("Request Time,Model Name,Input Length,Output Length\nsoon,m,5,5\n", "line 2"),
        ("Request Time,Model Name,Input Length,Output Length\n00:00:01.0,m,five,5\n", "line 2"),
        ("Request Time,Model Name,Input Length,Output Length\n00:00:01.0,m,5,0\n", "lengths ≥ 1"),
        (
            "arrival_s,model,model_type,input_tokens,output_tokens\n1.0,m,gpt-9,5,5\n",
            "unknown model",
        ),
    ],
)
def test_malformed_csv_is_rejected(text: str, message: str) -> None:
    with pytest.raises((TraceError, ValueError), match=message):
        read_trace_csv("bad.csv", text=text)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(TraceError, match="cannot read trace"):
        read_trace_csv(tmp_path / "nope.csv")
