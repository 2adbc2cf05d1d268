"""Dedicated serving: one GPU per model, the over-provisioned reference of Aegaeon §6.

Every market model gets its own GPU holding only its weights (the pool size in the config is
ignored: the policy uses as many GPUs as there are models), so nothing ever waits for a GPU
and nothing switches. It bounds what any pooling policy can achieve at equal load, and its
GPU count is what the market would pay without pooling (Alibaba: 1,192 GPUs before Aegaeon).
"""

from __future__ import annotations

from core.pool.config import PolicyName
from core.pool.policies.static_multiplex import StaticMultiplex


class Dedicated(StaticMultiplex):
    """Model i on GPU i; continuous batching on each."""

    name = PolicyName.DEDICATED

    def placement(self) -> list[list[int]]:
        return [[m] for m in range(self.ctx.trace.num_models)]
