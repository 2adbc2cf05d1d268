"""Trajectory comparison and the branch tree."""

from __future__ import annotations

import pytest

from core.sampling import BranchTree, Sampler, SamplingConfig, SamplingError
from core.sampling.compare import (
    agreement,
    agreement_line,
    align_tokens,
    aligned_table,
    first_divergence,
)


def rec(token_id: int, text: str, prob: float = 0.5, entropy: float = 1.0) -> dict:
    return {"token_id": token_id, "token_text": text, "prob": prob, "entropy": entropy}


def test_align_tokens_by_position():
    rows = align_tokens([rec(5, "a"), rec(7, "b"), rec(9, "c")], [rec(5, "a"), rec(8, "x")])
    assert [(r.step, r.token_a, r.token_b, r.equal) for r in rows] == [
        (0, 5, 5, True),
        (1, 7, 8, False),
        (2, 9, None, False),
    ]
    assert rows[2].text_b is None and rows[1].text_b == "x"
    assert first_divergence(rows) == 1
    assert agreement(rows) == pytest.approx(1 / 3)
    assert first_divergence(align_tokens([], [])) is None and agreement([]) == 1.0
    assert agreement_line(rows) == "Same token at 33% of positions; first difference at step 2."
    same = align_tokens([rec(5, "a")], [rec(5, "a")])
    assert agreement_line(same) == "Same token at 100% of positions; identical continuations."


def test_align_tokens_accepts_step_records(model, enc):
    a = Sampler(model, enc, "Same", SamplingConfig(temperature=0.7, seed=1))
    b = Sampler(model, enc, "Same", SamplingConfig(temperature=0.7, seed=1))
    a.run(5)
    b.run(5)
    rows = align_tokens(a.records, [r.to_dict() for r in b.records])
    assert all(r.equal for r in rows) and rows[0].prob_a == a.records[0].prob


def test_align_tokens_rejects_foreign_dicts():
    with pytest.raises(ValueError, match="not a sampling step record"):
        align_tokens([{"loss": 1.0}], [])


def test_branch_tree_forks_and_tracks_the_active_branch(model, enc):
    root = Sampler(model, enc, "Tree", SamplingConfig(seed=2))
    root.run(6)
    tree = BranchTree(root)
    branch = tree.fork(0, at_step=2, token_id=ord("?"))
    assert tree.active_id == branch.id == 1 and branch.parent == 0 and branch.fork_step == 2
    assert tree.sampler.token_ids == root.token_ids[:2] + [ord("?")]
    assert len(root) == 6
    nested = tree.fork(1, at_step=3, token_id=ord("!"))
    assert nested.label == "branch 2 @ step 4"  # 1-based: the first step that differs
    nodes = tree.nodes()
    assert [(n.id, n.parent, n.length, n.active) for n in nodes] == [
        (0, None, 6, False),
        (1, 0, 3, False),
        (2, 1, 4, True),
    ]
    assert tree.branches[1].sampler._cache is None  # the branch left behind freed its cache
    tree.activate(0)
    assert tree.sampler is root
    with pytest.raises(SamplingError, match="Cannot branch at step 9"):
        tree.fork(0, at_step=9, token_id=1)
    with pytest.raises(SamplingError, match="no branch 7"):
        tree.activate(7)


def test_aligned_table_shows_whitespace_tokens_as_the_chips_do():
    rows = align_tokens(
        [rec(1, "\n\n", 0.25), rec(2, " ", 0.5), rec(3, "x")], [rec(1, "\n\n", 0.75), rec(4, "\t")]
    )
    assert aligned_table(rows, ("A", "B")) == [
        {"step": 1, "A": "↵↵", "p (a)": 0.25, "B": "↵↵", "p (b)": 0.75, "same": True},
        {"step": 2, "A": "·", "p (a)": 0.5, "B": "⇥", "p (b)": 0.5, "same": False},
        {"step": 3, "A": "x", "p (a)": 0.5, "B": None, "p (b)": None, "same": False},
    ]
    assert aligned_table(rows[:1], ("A", "B"), probabilities=False) == [
        {"step": 1, "A": "↵↵", "B": "↵↵", "same": True}
    ]
    with pytest.raises(ValueError, match="different labels"):
        aligned_table(rows, ("A", "A"))
