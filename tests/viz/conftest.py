"""Fixtures for the figure tests: the sampling tests' byte encoding and tiny random GPT."""

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
