"""SamplingConfig: validation messages, notices, JSON and URL round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.sampling import DEFAULT_ORDER, SamplingConfig, SamplingConfigError


def test_temperature_zero_means_greedy_with_a_notice():
    cfg, notices = SamplingConfig(temperature=0).resolve(100)
    assert cfg.greedy and cfg.temperature == 1.0
    assert notices == [
        "Temperature 0 means always taking the most likely token: using greedy decoding."
    ]


def test_top_k_larger_than_vocab_is_switched_off_with_a_notice():
    cfg, notices = SamplingConfig(top_k=500).resolve(257)
    assert cfg.top_k is None
    assert "top-k 500 is larger than the vocabulary (257 tokens)" in notices[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"top_p": 0.0}, "top-p must be in \\(0, 1\\], got 0.0: top-p 0 would keep no token"),
        ({"top_p": 1.5}, "top-p must be in \\(0, 1\\], got 1.5"),
        ({"temperature": -1.0}, "Temperature must be a number from 0 \\(greedy\\) to 100"),
        ({"temperature": float("nan")}, "Temperature must be a number from 0"),
        ({"temperature": 101.0}, "Temperature must be a number from 0"),
        ({"top_k": 0}, "top-k must be at least 1"),
        ({"min_p": 1.2}, "min-p must be in \\[0, 1\\]"),
        ({"repetition_penalty": 0.0}, "repetition penalty must be > 0"),
        ({"repetition_penalty": float("nan")}, "repetition penalty must be > 0"),
        ({"presence_penalty": float("inf")}, "presence penalty must be between -100 and 100"),
        ({"seed": -1}, "seed must be in \\[0, 2\\^32\\)"),
        ({"seed": 2**32}, "seed must be in"),
        ({"order": ("top_k", "nucleus")}, "Unknown processor\\(s\\) \\['nucleus'\\]"),
        ({"order": ("top_k", "top_k")}, "Each processor may appear once"),
    ],
)
def test_bad_settings_raise_actionable_errors(kwargs, message):
    with pytest.raises(SamplingConfigError, match=message):
        SamplingConfig(**kwargs).resolve(100)


def test_valid_settings_resolve_unchanged():
    cfg = SamplingConfig(temperature=0.7, top_k=40, top_p=0.9, min_p=0.05, seed=7)
    assert cfg.resolve(50257) == (cfg, [])


def test_json_round_trip():
    cfg = SamplingConfig(
        temperature=0.7,
        top_k=40,
        top_p=0.9,
        min_p=0.05,
        repetition_penalty=1.2,
        presence_penalty=0.5,
        greedy=False,
        seed=42,
        order=("top_k", "temperature"),
    )
    text = cfg.to_json()
    assert json.loads(text)["order"] == ["top_k", "temperature"]
    assert SamplingConfig.from_json(text) == cfg


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(SamplingConfigError, match="Unknown sampling setting"):
        SamplingConfig.from_dict({"temprature": 1.0})


def test_query_form_lists_only_changes_and_round_trips():
    assert SamplingConfig().to_query() == {}
    cfg = SamplingConfig(temperature=1.5, top_p=0.8, seed=3, order=("top_p", "temperature"))
    query = cfg.to_query()
    assert query == {
        "temperature": "1.5",
        "top_p": "0.8",
        "seed": "3",
        "order": "top_p,temperature",
    }
    assert SamplingConfig.from_query(query) == cfg


def test_query_with_a_bad_number_raises():
    with pytest.raises(SamplingConfigError, match="not a number"):
        SamplingConfig.from_query({"temperature": "hot"})


@given(
    temperature=st.floats(0, 5, allow_nan=False),
    top_k=st.none() | st.integers(1, 1000),
    top_p=st.none() | st.floats(0.01, 1.0),
    greedy=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
    order=st.permutations(DEFAULT_ORDER),
)
def test_round_trips_hold_for_any_settings(temperature, top_k, top_p, greedy, seed, order):
    cfg = SamplingConfig(
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        greedy=greedy,
        seed=seed,
        order=tuple(order),
    )
    assert SamplingConfig.from_json(cfg.to_json()) == cfg
    assert SamplingConfig.from_query(cfg.to_query()) == cfg


def test_form_values_use_numbers_for_off_and_round_trip():
    assert SamplingConfig().to_form() == {
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "presence_penalty": 0.0,
        "greedy": False,
        "seed": 0,
        "stop_at_eos": True,
        "order": list(DEFAULT_ORDER),
    }
    cfg = SamplingConfig(temperature=0.3, top_k=7, top_p=0.5, min_p=0.1, seed=9, order=("top_k",))
    assert SamplingConfig.from_form(cfg.to_form()) == cfg
    assert SamplingConfig.from_form(SamplingConfig(top_p=1.0).to_form()).top_p is None


def test_active_processors():
    cfg = SamplingConfig(temperature=0.8, top_k=None, top_p=0.9)
    assert cfg.active_processors() == ["temperature", "top_p"]
