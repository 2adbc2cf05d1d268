"""A trajectory put in a link and regenerated from it: the same tokens, bad links refused."""

from __future__ import annotations

import pytest

from core.sampling import Sampler, SamplingConfig
from core.sampling.link import (
    MAX_LINK_STEPS,
    TrajectoryLinkError,
    parse_trajectory,
    regenerate,
    trajectory_query,
)


def test_link_round_trip_reproduces_the_trajectory_with_forced_tokens(model, enc):
    cfg = SamplingConfig(temperature=0.9, seed=7)
    s = Sampler(model, enc, "Hi", cfg)
    s.run(3)
    s.force(ord("!"))
    s.run(4)
    query = trajectory_query(s)
    assert query == {"steps": "8", "forced": "3:33"}
    steps, forced = parse_trajectory(query, enc.n_vocab)
    again = Sampler(model, enc, "Hi", cfg)
    regenerate(again, steps, forced)
    assert again.token_ids == s.token_ids
    assert [r.forced for r in again.records] == [r.forced for r in s.records]


def test_empty_trajectory_and_link_without_one(model, enc):
    assert trajectory_query(Sampler(model, enc, "Hi", SamplingConfig())) == {}
    assert parse_trajectory({}, 257) == (0, {})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"steps": "0"}, "from 1 to"),
        ({"steps": str(MAX_LINK_STEPS + 1)}, "from 1 to"),
        ({"steps": "x"}, "from 1 to"),
        ({"forced": "1:2"}, "no 'steps'"),
        ({"steps": "3", "forced": "1-2"}, "step:token_id"),
        ({"steps": "3", "forced": "3:2"}, "past the link's 3 steps"),
        ({"steps": "3", "forced": "1:257"}, "vocabulary of 257"),
        ({"steps": "300", "forced": ",".join(f"{i}:1" for i in range(201))}, "more than 200"),
    ],
)
def test_bad_links_are_refused_with_a_reason(params, message):
    with pytest.raises(TrajectoryLinkError, match=message):
        parse_trajectory(params, 257)


def test_regenerate_needs_a_fresh_sampler(model, enc):
    s = Sampler(model, enc, "Hi", SamplingConfig())
    s.step()
    with pytest.raises(TrajectoryLinkError, match="fresh sampler"):
        regenerate(s, 2, {})
