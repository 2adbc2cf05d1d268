"""Fixtures for training tests: a tiny tokenizer, corpus and model config."""

from __future__ import annotations

import pytest

from core.corpus import builtin_documents
from core.model import GPTConfig
from core.tokenization import train_bpe


@pytest.fixture(scope="session")
def small_docs() -> list[str]:
    """About 20 KB of the built-in corpus (the first documents)."""
    docs, total = [], 0
    for doc in builtin_documents():
        docs.append(doc)
        total += len(doc)
        if total > 20_000:
            return docs
    return docs


@pytest.fixture(scope="session")
def small_bpe(small_docs):
    return train_bpe("\n\n".join(small_docs), vocab_size=320, name="test-bpe-320")


@pytest.fixture
def tiny_config(small_bpe) -> GPTConfig:
    return GPTConfig(
        vocab_size=small_bpe.n_vocab, context_length=32, n_layer=2, n_head=4, n_embd=32
    )
