"""Test helpers shared by the sampling tests and the page tests: tiny models, byte encoding."""

from __future__ import annotations

import tiktoken
import torch

from core.model import GPT, GPTConfig

EOT_ID = 256


def byte_encoding() -> tiktoken.Encoding:
    """256 byte tokens + <|endoftext|> = 257 ids; no merges, so 1 byte = 1 token."""
    return tiktoken.Encoding(
        name="test-bytes",
        pat_str=r"""\s?\w+|\s?[^\w\s]+|\s+""",
        mergeable_ranks={bytes([i]): i for i in range(256)},
        special_tokens={"<|endoftext|>": EOT_ID},
    )


def tiny_gpt(vocab_size: int = 257, context_length: int = 24, seed: int = 0) -> GPT:
    """A 2-layer, width-32 GPT with random weights, the same for the same seed."""
    config = GPTConfig(
        vocab_size=vocab_size, context_length=context_length, n_layer=2, n_head=2, n_embd=32
    )
    with torch.random.fork_rng():  # leave the global generator as it was
        torch.manual_seed(seed)
        return GPT(config).eval()


def eos_model():
    """A tiny GPT whose final LayerNorm outputs a constant, with end-of-text the top logit."""
    model = tiny_gpt(seed=3)
    with torch.no_grad():
        model.ln_f.weight.zero_()
        model.ln_f.bias.fill_(1.0)
        model.head.weight[EOT_ID] = 1.0  # (vocab, d): logit 32 vs ~N(0, 0.11^2) for the others
    return model
