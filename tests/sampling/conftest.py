"""Fixtures for the sampling tests: a byte-level tiktoken encoding and a tiny random GPT."""

from __future__ import annotations

import pytest
import tiktoken

from core.model import GPT
from tests.sampling.helpers import byte_encoding, tiny_gpt


@pytest.fixture(scope="session")
def enc() -> tiktoken.Encoding:
    return byte_encoding()


@pytest.fixture(scope="session")
def model() -> GPT:
    return tiny_gpt()
