"""Fixtures shared by the model tests."""

from __future__ import annotations

import pkgutil

import pytest
import torch


@pytest.fixture
def spy(monkeypatch):
    """``spy("pkg.module.fn")`` or ``spy("pkg.module.Class.method")`` wraps the function so
    that each call records the shape of its first tensor argument (or, with none, its
    arguments after the first)."""

    def install(target: str) -> list:
        owner, name = target.rsplit(".", 1)
        real = getattr(pkgutil.resolve_name(owner), name)
        calls: list = []

        def wrapper(*args, **kwargs):
            tensors = [a for a in args if isinstance(a, torch.Tensor)]
            calls.append(tensors[0].shape if tensors else args[1:])
            return real(*args, **kwargs)

        monkeypatch.setattr(target, wrapper)
        return calls

    return install
