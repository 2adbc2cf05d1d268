"""Scheduling policies, one module each, chosen by ``PolicyName`` from ``POLICIES``.

``POLICIES[PolicyName.AEGAEON]`` is the class to instantiate with a ``SimContext``; the
mapping is read-only so sessions cannot change it under each other.
"""

from __future__ import annotations

from types import MappingProxyType

from core.pool.config import ConfigError, PolicyName
from core.pool.policies.aegaeon import Aegaeon
from core.pool.policies.base import GPUView, Policy, SimContext
from core.pool.policies.dedicated import Dedicated
from core.pool.policies.request_level import RequestLevelFCFS, RequestLevelSRTF
from core.pool.policies.serverlessllm import ServerlessLLM
from core.pool.policies.static_multiplex import StaticMultiplex

POLICIES: MappingProxyType[PolicyName, type[Policy]] = MappingProxyType(
    {
        cls.name: cls
        for cls in (
            Aegaeon,
            RequestLevelFCFS,
            RequestLevelSRTF,
            ServerlessLLM,
            StaticMultiplex,
            Dedicated,
        )
    }
)


def policy_class(name: PolicyName | str) -> type[Policy]:
    """The policy class for ``name`` (enum or its string value)."""
    try:
        return POLICIES[PolicyName(name)]
    except ValueError:
        known = ", ".join(p.value for p in PolicyName)
        raise ConfigError(f"unknown policy {name!r}; choose one of: {known}") from None


__all__ = ["POLICIES", "GPUView", "Policy", "SimContext", "policy_class"]
