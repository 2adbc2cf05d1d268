"""GraphDecoder: one-token decoding steps replayed as CUDA graphs.

At batch 1 a GPU finishes each of a decoding step's few hundred small kernels in a few
microseconds, so the step's time is the host's: Python and PyTorch launching kernels one by
one (GPT-2 124M on an H100: 2.6 ms per token in eager mode, while reading its weights from
HBM takes 0.17 ms; 0.94 ms replayed as graphs, ``bench/bench_decode.py``). A CUDA graph records the step's kernels once and replays them with one
launch. A recording fixes every shape and address, so the step is written for it
(:func:`static_step`, from the model's own modules): the position lives in a device tensor,
attention reads a fixed span of cache positions with the later ones masked, and the new
token's id is copied into a fixed input buffer.

One graph per span (64, 128, 256, ... up to the context length): a step at position p
replays the graph of the smallest span > p, so attention reads at most twice the positions
it needs. Graphs are recorded when first needed.

A GraphDecoder belongs to one sequence, like its :class:`KVCache` (the graphs write into
that cache's memory); the model stays shared and read-only. Where CUDA is absent the same
static step runs eagerly, which is how the CPU tests check it against ``GPT.forward``.

    cache = model.new_kv_cache()
    logits = model(prompt, kv_cache=cache, last_only=True)[:, -1]   # prefill, eager
    decoder = GraphDecoder(model, cache)
    for _ in range(n):
        logits = decoder.step(logits.argmax(-1, keepdim=True))       # (B, vocab)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.model.gpt import GPT, InputError
from core.model.kv_cache import KVCache

MIN_SPAN = 64


def static_step(
    model: GPT, token: torch.Tensor, position: torch.Tensor, cache: KVCache, span: int
) -> torch.Tensor:
    """Logits (B, vocab) of one token per sequence, ``token`` (B, 1), at ``position``.

    The same step as ``model(token, kv_cache=cache)`` in eval mode, with the position held in
    a (1,) int64 tensor on the model's device: each layer writes the new key and value at
    ``position`` and attends to the first ``span`` cache positions (``position < span``)
    with the later ones masked, so no shape depends on the position and nothing waits for
    the host. The caller checks the ids and advances the cache; this function does neither.
    """
    x = model.embed_tokens(token) + model.pos_emb(position)  # (B, 1, d)
    B = x.shape[0]
    visible = (torch.arange(span, device=x.device) <= position).view(1, 1, 1, span)
    for i, block in enumerate(model.blocks):
        attn = block.attn
        qkv = attn.qkv(block.ln1(x)).view(B, 1, 3, attn.n_head, attn.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, 1, hd)
        keys, values = cache.layer(i)  # (B, H, Tmax, hd)
        keys, values = keys[:, :, :span], values[:, :, :span]  # views: writes reach the cache
        keys.index_copy_(2, position, k)
        values.index_copy_(2, position, v)
        context = F.scaled_dot_product_attention(q, keys, values, attn_mask=visible)
        x = x + attn.proj(context.transpose(1, 2).reshape(B, 1, -1))  # (B, 1, d)
        x = x + block.ffn(block.ln2(x))
    return model.logit_lens(x)[:, 0]  # (B, vocab)


class GraphDecoder:
    """Decodes one token per step for the sequences of ``cache``, with CUDA graphs on a GPU."""

    def __init__(self, model: GPT, cache: KVCache, *, use_graphs: bool | None = None) -> None:
        if model.training:
            raise ValueError("GraphDecoder needs a model in eval mode (dropout off)")
        if cache.n_layer != model.config.n_layer or cache.keys.device != model.device:
            raise InputError("the KV cache was made for another model or device")
        self.model, self.cache = model, cache
        device = model.device
        self.use_graphs = device.type == "cuda" if use_graphs is None else use_graphs
        if self.use_graphs and device.type != "cuda":
            raise ValueError("CUDA graphs need a model on a CUDA device")
        self._token = torch.zeros(cache.batch_size, 1, dtype=torch.long, device=device)
        self._position = torch.zeros(1, dtype=torch.long, device=device)
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}

    def span(self, position: int) -> int:
        """Cache positions the step at ``position`` attends over (a power of two >= 64)."""
        span = MIN_SPAN
        while span <= position:
            span *= 2
        return min(span, self.cache.max_length)

    @property
    def graphs_recorded(self) -> list[int]:
        """The spans whose graphs exist so far."""
        return sorted(self._graphs)

    @torch.inference_mode()
    def step(self, token: torch.Tensor, *, check_ids: bool = True) -> torch.Tensor:
        """Feed ``token`` (B, 1) ids at the cache's next position; return logits (B, vocab).

        The cache advances by one. The logits are a fresh tensor (the graph's output buffer
        is reused by the next step). Checking the ids waits for them on the host;
        ``check_ids=False`` skips that when they come from this model's own logits (an
        ``argmax`` or a draw over its vocabulary), so the host can queue the next step
        while the GPU runs this one.
        """
        model, cache = self.model, self.cache
        if token.shape != self._token.shape:
            raise InputError(f"expected token ids of shape {tuple(self._token.shape)}")
        cache.check_room(1)
        if check_ids:
            model._check_input(token, cache.length)
        position = cache.length
        self._token.copy_(token)
        self._position.fill_(position)
        span = self.span(position)
        if not self.use_graphs:
            logits = static_step(model, self._token, self._position, cache, span)
        else:
            if span not in self._graphs:
                self._graphs[span] = self._record(span)
            graph, out = self._graphs[span]
            graph.replay()
            logits = out.clone()
        cache.advance(1)
        return logits

    def _record(self, span: int) -> tuple[torch.cuda.CUDAGraph, torch.Tensor]:
        """Record the step for ``span`` (warm-up runs first, on a side stream, as CUDA asks).

        The warm-up runs write the current token's key and value at the current position,
        which the replay that follows writes again, so the cache's valid part is unchanged.
        """
        model, cache = self.model, self.cache
        side = torch.cuda.Stream(device=model.device)
        side.wait_stream(torch.cuda.current_stream(model.device))
        with torch.cuda.stream(side):
            for _ in range(2):
                static_step(model, self._token, self._position, cache, span)
        torch.cuda.current_stream(model.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            out = static_step(model, self._token, self._position, cache, span)
        return graph, out
