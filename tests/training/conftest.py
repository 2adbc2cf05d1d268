"""Fixtures for training tests: a tiny tokenizer, corpus and model config, a tiny job."""

from __future__ import annotations

import threading
import time

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


REPETITIVE = "the cat sat on the mat. the dog sat on the log. " * 300


@pytest.fixture
def tiny_job_args(tmp_path, small_bpe):
    """Flags of ``python -m core.training`` for a 1-layer, width-32 run on a repetitive
    text: evaluations, samples and checkpoints every 10 steps."""
    tok = tmp_path / "tok.json"
    small_bpe.save(tok)
    corpus = tmp_path / "repetitive.txt"
    corpus.write_text(REPETITIVE, encoding="utf-8")

    def args(steps: int, *extra: str) -> tuple[str, ...]:
        return (
            "--corpus", str(corpus), "--tokenizer", str(tok), "--n-layer", "1", "--n-head",
            "2", "--n-embd", "32", "--context-length", "16", "--steps", str(steps),
            "--batch-size", "8", "--lr", "0.01", "--min-lr", "0.001", "--warmup-steps", "2",
            "--eval-every", "10", "--eval-windows", "4", "--sample-every", "10",
            "--sample-tokens", "4", "--checkpoint-every", "10", "--dropout", "0.0",
            "--threads", "1", *extra,
        )  # fmt: skip

    return args


@pytest.fixture
def until():
    """``until(predicate)``: wait for a worker's progress (an event in another process),
    checking every 0.1 s, failing after ``timeout`` seconds."""

    def wait(predicate, timeout: float = 120.0) -> None:
        deadline, tick = time.monotonic() + timeout, threading.Event()
        while not predicate():
            assert time.monotonic() < deadline, "the worker made no progress in time"
            tick.wait(0.1)

    return wait
