"""Saving a trajectory to the run store, loading it and replaying it exactly."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest

from core.sampling import Sampler, SamplingConfig
from core.sampling.persist import (
    TrajectoryFormatError,
    list_saved,
    load_trajectory,
    replay,
    save_trajectory,
)
from core.store import RunKind, create_run, get_points, get_run
from tests.sampling.helpers import EOT_ID, eos_model


def make_trajectory(model, enc):
    cfg = SamplingConfig(temperature=1.1, top_p=0.95, repetition_penalty=1.2, seed=21)
    s = Sampler(model, enc, "Saved prompt", cfg, top_n=6)
    s.run(5)
    s.force(ord("#"))  # a user choice inside the trajectory
    s.run(4)
    return s


def test_save_load_replay_round_trip(session_factory, model, enc):
    s = make_trajectory(model, enc)
    with session_factory.begin() as session:
        run_id = save_trajectory(session, s, model_id="tiny")
    with session_factory.begin() as session:
        run = get_run(session, run_id)
        assert run.kind == RunKind.SAMPLING and run.status == "finished"
        assert run.config["sampling"]["temperature"] == 1.1
        assert run.summary["tokens"] == 10 and run.summary["forced_steps"] == 1
        log_likelihood = sum(r.logprob for r in s.records)
        assert run.summary["perplexity"] == pytest.approx(math.exp(-log_likelihood / 10))
        points = get_points(session, run_id)
        assert [y for _, y in points["entropy"]] == pytest.approx([r.entropy for r in s.records])
        assert points["cum_logprob"][-1][1] == pytest.approx(log_likelihood)
        saved = load_trajectory(session, run_id)
        infos = list_saved(session)
    assert saved.records == s.records  # every step record survives the JSON round trip
    assert saved.prompt_ids == s.prompt_ids and saved.text == s.text
    assert [i.run_id for i in infos] == [run_id] and infos[0].tokens == 10

    result = replay(model, enc, saved)
    assert result.exact
    assert result.sampler.token_ids == s.token_ids
    assert [r.forced for r in result.sampler.records] == [r.forced for r in s.records]
    # the replayed sampler continues exactly like the original would
    s.run(5)
    result.sampler.run(5)
    assert result.sampler.token_ids == s.token_ids


def test_replay_with_another_model_reports_where_it_diverged(session_factory, model, enc):
    s = make_trajectory(model, enc)
    with session_factory.begin() as session:
        saved = load_trajectory(session, save_trajectory(session, s, model_id="tiny"))
    assert s.records[0].token_id != EOT_ID
    result = replay(eos_model(), enc, saved)  # samples end-of-text at every step
    assert result.first_mismatch == 0
    assert result.sampler.token_ids == s.token_ids  # the saved tokens are still shown


def test_replay_with_a_model_retrained_with_a_start_token_says_so(session_factory, model, enc):
    s = make_trajectory(model, enc)
    with session_factory.begin() as session:
        saved = load_trajectory(session, save_trajectory(session, s, model_id="builtin"))
    retrained = copy.deepcopy(model)
    retrained.config = dataclasses.replace(model.config, start_token=EOT_ID)
    with pytest.raises(TrajectoryFormatError, match="did not start from '<\\|endoftext\\|>'"):
        replay(retrained, enc, saved)


def test_opening_something_that_is_not_a_trajectory(session_factory):
    with session_factory.begin() as session:
        other = create_run(session, kind=RunKind.TRAINING, name="t").id
        empty = create_run(session, kind=RunKind.SAMPLING, name="s").id
    with session_factory.begin() as session:
        with pytest.raises(TrajectoryFormatError, match="is a training run"):
            load_trajectory(session, other)
        with pytest.raises(TrajectoryFormatError, match="has no stored trajectory"):
            load_trajectory(session, empty)
        with pytest.raises(TrajectoryFormatError, match="does not exist"):
            load_trajectory(session, 12345)


def test_default_run_names_tell_settings_apart():
    from core.sampling.persist import run_name

    greedy = SamplingConfig(temperature=0.0)
    assert run_name("builtin", "Once upon", greedy, 0) == "builtin: 'Once upon' greedy"
    filtered = SamplingConfig(temperature=0.8, top_k=50, top_p=0.9, min_p=0.05, seed=3)
    assert (
        run_name("builtin", "Once upon", filtered, 2)
        == "builtin: 'Once upon' T=0.8 top-k 50 top-p 0.9 min-p 0.05 seed=3, 2 forced"
    )
    no_top_k = dataclasses.replace(filtered, order=("temperature", "top_p", "min_p"))
    assert run_name(None, "", no_top_k, 0) == (
        "model: '<|endoftext|>' T=0.8 top-p 0.9 min-p 0.05 seed=3"
    )
    penalties = SamplingConfig(repetition_penalty=1.3, presence_penalty=0.5)
    assert run_name("m", "x", penalties, 0) == "m: 'x' T=1 rep 1.3 presence 0.5 seed=0"
