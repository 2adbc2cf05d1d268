"""Fixtures shared by the model tests."""

from __future__ import annotations

import importlib

import pytest


@pytest.fixture
def spy(monkeypatch):
    """``spy("pkg.module.fn")`` wraps fn so that each call records its first argument's shape."""

    def install(target: str) -> list:
        module, name = target.rsplit(".", 1)
        real = getattr(importlib.import_module(module), name)
        calls: list = []
        monkeypatch.setattr(target, lambda *a, **k: calls.append(a[0].shape) or real(*a, **k))
        return calls

    return install
