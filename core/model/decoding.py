"""Which decoder runs a sequence's one-token steps: the fastest one that applies.

The models (``gpt.py``, ``llama.py``) are plain PyTorch, written to be read. Decoding one
token at batch 1 is where that costs most, so each accelerator is a decoder object beside
the model that computes the same step, and :func:`pick_decoder` chooses one per sequence:

* a GPT on a CUDA GPU: :class:`GraphDecoder` (the step replayed as CUDA graphs);
* a GPT on the CPU with the native kernels: :class:`NativeGPTDecoder` (one C call a token);
* a Llama on the CPU with the native kernels: its shared :class:`LlamaDecoder` (the C
  matrix-vector kernel for every projection), bound to the sequence's cache;
* otherwise ``None``: the caller runs ``model(token, kv_cache=cache)``.

Every decoder has ``step(token)``: ids (B, 1) at the cache's next position in, logits
(B, vocab) out, the cache written and advanced by one, exactly as
``model(token, kv_cache=cache, last_only=True)[:, -1]``; tests compare each with the plain
model. A decoder belongs to the sequence whose cache it was made for (a branch with a
cloned cache gets its own) and only reads the shared model. The prompt (several tokens at
once) always runs on the model itself.

    cache = model.new_kv_cache()
    decoder = pick_decoder(model, cache)
    logits = model(prompt, kv_cache=cache, last_only=True)[:, -1]
    step = decoder.step if decoder is not None else lambda t: model(t, kv_cache=cache)[:, -1]
"""

from __future__ import annotations

from typing import Protocol

import torch

from core.model.gpt import GPT
from core.model.gpt_decoder import NativeGPTDecoder
from core.model.graphs import GraphDecoder
from core.model.kv_cache import KVCache
from core.model.llama import Llama
from core.model.llama_decoder import LlamaDecoder, llama_decoder


class Decoder(Protocol):
    """One sequence's fast one-token step."""

    def step(self, token: torch.Tensor) -> torch.Tensor:
        """Logits (B, vocab) of ``token`` (B, 1) at the cache's next position."""
        ...


class BoundLlamaDecoder:
    """A Llama's shared :class:`LlamaDecoder` (one per model) bound to one sequence's cache."""

    def __init__(self, decoder: LlamaDecoder, cache: KVCache) -> None:
        self.decoder, self.cache = decoder, cache

    def step(self, token: torch.Tensor) -> torch.Tensor:
        return self.decoder.step(token, self.cache)[:, -1]  # (1, vocab)


def pick_decoder(model: GPT | Llama, cache: KVCache) -> Decoder | None:
    """The fastest decoder of ``model`` into ``cache`` (see the module docstring), or None.

    None for a model in training mode (its dropout is on; only the plain model applies it).
    """
    if model.training:
        return None
    if isinstance(model, GPT):
        if model.device.type == "cuda":
            return GraphDecoder(model, cache)
        return NativeGPTDecoder.create(model, cache)
    if isinstance(model, Llama) and cache.batch_size == 1:
        decoder = llama_decoder(model)
        return None if decoder is None else BoundLlamaDecoder(decoder, cache)
    return None
