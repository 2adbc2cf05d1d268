"""Text generation loop of the book (ch. 4.7 greedy, ch. 5.3 temperature and top-k).

A deliberately small reference generator: the training loop uses it for sample text and the
tests use it to prove that decoding with a :class:`KVCache` yields exactly the tokens that
re-running the whole prefix yields. The playground's interactive sampler (top-p, min-p,
penalties, step-by-step views) lives in ``core.sampling``.
"""

from __future__ import annotations

import torch

from core.model.decoding import pick_decoder
from core.model.gpt import GPT


def crop_to_context(
    idx: torch.Tensor, context_length: int, start_token: int | None = None
) -> tuple[torch.Tensor, int]:
    """Keep the last ``context_length`` ids of ``idx`` (B, T); returns (ids, number dropped).

    A prompt longer than the model's context cannot be attended to in full; callers show
    the user how many leading tokens were dropped. E.g. 10 ids, context 8 -> last 8, 2.
    When every row begins with ``start_token`` (a model trained with one), that token stays
    in front of the last ``context_length - 1`` ids.
    """
    dropped = max(0, idx.shape[1] - context_length)
    if not dropped:
        return idx, 0
    if start_token is not None and bool((idx[:, 0] == start_token).all()):
        return torch.cat([idx[:, :1], idx[:, dropped + 1 :]], dim=1), dropped
    return idx[:, dropped:], dropped


def sample_next(
    logits: torch.Tensor,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick the next ids (B, 1) from last-position logits (B, vocab).

    ``temperature == 0`` is greedy (argmax); otherwise logits are divided by the temperature,
    optionally cut to the ``top_k`` largest, and sampled with ``generator``.
    """
    if temperature <= 0.0:
        return logits.argmax(dim=-1, keepdim=True)  # (B, 1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)  # (B, vocab)
    return torch.multinomial(probs, 1, generator=generator)  # (B, 1)


@torch.no_grad()
def generate(
    model: GPT,
    idx: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    eos_id: int | None = None,
) -> torch.Tensor:
    """Append up to ``max_new_tokens`` ids to ``idx`` (B, T); returns (B, T + new).

    Without a cache each step re-runs the model on the last ``context_length`` tokens (the
    book's loop). With a cache the prompt (cropped to the context) is processed once and each
    step feeds only the newest token; once the cache is full the loop falls back to the
    windowed recomputation, so both modes produce identical tokens. The one-token cached
    steps run on the decoder :func:`core.model.decoding.pick_decoder` picks (the native CPU
    kernel, CUDA graphs), where one applies. For a model with a ``start_token``, pass ids
    that begin with it: the windows then keep it at position 0.
    """
    ctx, start = model.config.context_length, model.config.start_token

    def window(ids: torch.Tensor) -> torch.Tensor:
        return crop_to_context(ids, ctx, start)[0]  # behind the start token, if ids have it

    cache = model.new_kv_cache(idx.shape[0]) if use_cache else None
    decoder = pick_decoder(model, cache) if cache is not None else None
    pending = window(idx)  # what the next forward pass must see
    for _ in range(max_new_tokens):
        if cache is not None and cache.length + pending.shape[1] > ctx:
            cache = decoder = None  # full: continue without it, like the uncached loop
            pending = window(idx)
        if decoder is not None and pending.shape[1] == 1:
            logits = decoder.step(pending)  # (B, vocab)
        else:
            logits = model(pending, kv_cache=cache, last_only=True)[:, -1]  # (B, vocab)
        next_id = sample_next(logits, temperature=temperature, top_k=top_k, generator=generator)
        idx = torch.cat([idx, next_id], dim=1)
        pending = next_id if cache is not None else window(idx)
        if eos_id is not None and bool((next_id == eos_id).all()):
            break
    return idx
