"""Fixtures for the tokenization tests: the naive reference trainer (bpe_reference.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def load_reference():
    """Import bpe_reference.py by path (pytest runs with --import-mode=importlib)."""
    path = Path(__file__).with_name("bpe_reference.py")
    spec = importlib.util.spec_from_file_location("glassbox_bpe_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def naive_train():
    """The naive (recount everything each merge) BPE trainer of bpe_reference.py."""
    return load_reference().naive_train
