"""A small tree of trajectories: the main one and the branches a user forked from it.

Choosing another candidate at a past step forks a new trajectory that shares the steps
before it with its parent (its KV cache is a clone truncated to the fork point, its
generator is rewound to the state it had there). The tree is what the page keeps in
``st.session_state`` and what `core.viz.sampling.branch_tree_figure` draws; it holds no
Streamlit objects and no shared state.

Example: main has 8 steps; forking at step 3 with token 42 makes branch 1 whose first 3
steps equal main's and whose step 3 is the forced token 42.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.sampling.sampler import Sampler, SamplingError


@dataclass
class Branch:
    """One trajectory in the tree."""

    id: int  # 0 for the main trajectory
    sampler: Sampler
    parent: int | None  # the branch it was forked from
    fork_step: int  # steps shared with the parent (0 for the main trajectory)
    label: str  # e.g. "main" or "branch 2 @ step 4" (1-based step where it differs)


@dataclass(frozen=True)
class TreeNode:
    """What the tree figure needs about a branch."""

    id: int
    parent: int | None
    fork_step: int
    length: int  # steps in this branch's trajectory
    label: str
    text: str  # its continuation
    active: bool


class BranchTree:
    """The main trajectory and its branches; one of them is active (shown, stepped)."""

    def __init__(self, root: Sampler) -> None:
        self.branches: dict[int, Branch] = {0: Branch(0, root, None, 0, "main")}
        self.active_id = 0
        self._next_id = 1

    @property
    def active(self) -> Branch:
        return self.branches[self.active_id]

    @property
    def sampler(self) -> Sampler:
        return self.active.sampler

    def activate(self, branch_id: int) -> None:
        """Show another branch; the one left frees its KV cache (rebuilt when it is resumed)."""
        if branch_id not in self.branches:
            raise SamplingError(f"There is no branch {branch_id}.")
        if branch_id != self.active_id:
            self.sampler.release_cache()
        self.active_id = branch_id

    def fork(self, from_id: int, at_step: int, token_id: int) -> Branch:
        """New branch: ``from_id``'s first ``at_step`` steps, then ``token_id``; made active."""
        source = self.branches[from_id].sampler
        if not 0 <= at_step <= len(source):
            raise SamplingError(
                f"Cannot branch at step {at_step}: the trajectory has {len(source)} steps."
            )
        twin = source.branch(at_step=at_step)
        twin.force(token_id)
        branch = Branch(
            self._next_id, twin, from_id, at_step, f"branch {self._next_id} @ step {at_step + 1}"
        )
        self.branches[branch.id] = branch
        self._next_id += 1
        self.activate(branch.id)
        return branch

    def nodes(self) -> list[TreeNode]:
        return [
            TreeNode(
                b.id,
                b.parent,
                b.fork_step,
                len(b.sampler),
                b.label,
                b.sampler.text,
                b.id == self.active_id,
            )
            for b in self.branches.values()
        ]

    def __len__(self) -> int:
        return len(self.branches)
