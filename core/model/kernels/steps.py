"""The decoding steps of the native kernels: attention, the blocks, and the whole token.

Each wrapper checks every tensor it hands to C (dtype, device, contiguity, size: the kernel
gets raw addresses) and returns ``None`` when the kernel does not cover the case, so the
caller falls back to PyTorch's modules. :func:`native_decode_attention` is one layer's
attention step, :func:`native_decode_layers` every block of the model for one token, and
a :class:`TokenPlan` the whole token (embedding, blocks, final LayerNorm, head), laid out
once per sequence. The library itself is built and loaded by :mod:`.native`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from core.model.kernels.native import native_kernels

_F32, _BF16 = torch.float32, torch.bfloat16


def _plain(tensor: torch.Tensor, dtypes: tuple[torch.dtype, ...], numel: int) -> bool:
    """Whether the kernel can read ``tensor`` as ``numel`` contiguous CPU values of a dtype
    in ``dtypes``."""
    return (
        tensor.dtype in dtypes
        and tensor.is_cpu
        and tensor.is_contiguous()
        and tensor.numel() == numel
    )


def _attention_applies(k_cache: torch.Tensor, v_cache: torch.Tensor, d: int) -> bool:
    """Whether the caches suit the kernel: float32, contiguous (1, heads, max_len, d/heads)."""
    return (
        k_cache.dtype == _F32
        and v_cache.dtype == _F32
        and k_cache.is_cpu
        and v_cache.is_cpu
        and k_cache.is_contiguous()
        and v_cache.is_contiguous()
        and k_cache.dim() == 4
        and k_cache.shape == v_cache.shape
        and k_cache.shape[0] == 1
        and k_cache.shape[1] * k_cache.shape[3] == d
        and k_cache.shape[2] <= 4096
    )


def native_decode_attention(
    qkv: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, start: int
) -> torch.Tensor | None:
    """One decoding step of attention with the native kernel, else ``None``.

    qkv: the new token's fused projection (1, 1, 3d), laid out (3, heads, head_dim);
    k_cache, v_cache: this layer's float32 caches (1, heads, max_len, head_dim). Writes the
    token's key and value at position ``start`` and returns the context (1, 1, d) over
    positions ``0..start``, heads side by side: the same numbers as the module's
    ``scaled_dot_product_attention`` path, in one call instead of about ten.
    """
    if (
        torch.is_grad_enabled()
        or qkv.dtype != _F32
        or not qkv.is_cpu
        or not qkv.is_contiguous()
        or qkv.numel() % 3
        or not _attention_applies(k_cache, v_cache, qkv.numel() // 3)
    ):
        return None
    kernels = native_kernels()
    if kernels is None:
        return None
    _, heads, max_len, head_dim = k_cache.shape
    if not 0 <= start < max_len:
        return None
    out = torch.empty(1, 1, heads * head_dim)
    failed = kernels._attention(
        qkv.data_ptr(),
        k_cache.data_ptr(),
        v_cache.data_ptr(),
        start,
        heads,
        head_dim,
        max_len,
        out.data_ptr(),
    )
    return None if failed else out


class LayerWeights(NamedTuple):
    """One pre-LayerNorm block's parameters, as :func:`native_decode_layers` reads them.

    ``ln1``/``ln2`` are LayerNorm (weight, bias) pairs; ``qkv``, ``proj``, ``fc``, ``out`` are
    (weight (out, in), bias or None) of the fused QKV projection, the attention output, the
    feed-forward expansion (4d) and its projection.
    """

    ln1: tuple[torch.Tensor, torch.Tensor | None]
    qkv: tuple[torch.Tensor, torch.Tensor | None]
    proj: tuple[torch.Tensor, torch.Tensor | None]
    ln2: tuple[torch.Tensor, torch.Tensor | None]
    fc: tuple[torch.Tensor, torch.Tensor | None]
    out: tuple[torch.Tensor, torch.Tensor | None]


def _layer_pointers(
    layer: LayerWeights, d: int, dtype: torch.dtype, caches: tuple[torch.Tensor, torch.Tensor]
) -> list[int] | None:
    """The 14 addresses of one ``glassbox_layer`` (0 for an absent bias), or None if any
    tensor is not what the kernel reads: it gets raw pointers, so every size is checked."""
    (ln1_g, ln1_b), (w_qkv, b_qkv), (w_proj, b_proj) = layer.ln1, layer.qkv, layer.proj
    (ln2_g, ln2_b), (w_fc, b_fc), (w_out, b_out) = layer.ln2, layer.fc, layer.out
    pointers = []
    # (tensor, dtype, number of values, may it be absent), in the struct's order
    for tensor, want, numel, optional in (
        (ln1_g, _F32, d, False), (ln1_b, _F32, d, False),
        (w_qkv, dtype, 3 * d * d, False), (b_qkv, _F32, 3 * d, True),
        (w_proj, dtype, d * d, False), (b_proj, _F32, d, True),
        (ln2_g, _F32, d, False), (ln2_b, _F32, d, False),
        (w_fc, dtype, 4 * d * d, False), (b_fc, _F32, 4 * d, True),
        (w_out, dtype, 4 * d * d, False), (b_out, _F32, d, True),
    ):  # fmt: skip
        if tensor is None:
            if not optional:
                return None
            pointers.append(0)
            continue
        if not _plain(tensor, (want,), numel):
            return None
        pointers.append(tensor.data_ptr())
    k_cache, v_cache = caches
    if not _attention_applies(k_cache, v_cache, d):
        return None
    return [*pointers, k_cache.data_ptr(), v_cache.data_ptr()]


def _layers_table(
    layers: Sequence[LayerWeights], caches: Sequence[tuple[torch.Tensor, torch.Tensor]], d: int
) -> list[int] | None:
    """The address table of ``glassbox_decode_layers`` (14 per layer), or None if a layer
    or cache is not what the kernel reads, the matrices' dtype is not float32 or bfloat16
    for all, or the caches differ in heads or length."""
    if not layers or len(layers) != len(caches):
        return None
    dtype = layers[0].qkv[0].dtype
    if dtype != _F32 and dtype != _BF16:
        return None
    table: list[int] = []
    for layer, layer_caches in zip(layers, caches, strict=True):
        pointers = _layer_pointers(layer, d, dtype, layer_caches)
        if pointers is None:
            return None
        table += pointers
    _, heads, max_len, _ = caches[0][0].shape
    if any(k.shape[1:3] != (heads, max_len) for k, _ in caches):
        return None
    return table


def native_decode_layers(
    x: torch.Tensor,
    layers: Sequence[LayerWeights],
    caches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *,
    eps: float,
    start: int,
) -> torch.Tensor | None:
    """Pre-LayerNorm GPT blocks for one new token in a single native call, else ``None``.

    x: the residual stream (1, 1, d), float32. ``layers`` are the blocks in order, their
    weight matrices all float32 or all bfloat16 (LayerNorms and biases float32); ``caches``
    are each layer's (keys, values), float32 (1, heads, max_len, head_dim). Each layer's key
    and value for the token are written at ``start``. Returns the last block's output
    (1, 1, d): what :class:`core.model.gpt.Block` computes layer after layer, with one fork
    and join of the threads for the whole stack instead of about twenty PyTorch operations
    per layer.
    """
    if torch.is_grad_enabled() or not _plain(x, (_F32,), x.shape[-1]):
        return None
    kernels = native_kernels()
    if kernels is None:
        return None
    d = x.shape[-1]
    table = _layers_table(layers, caches, d)
    _, heads, max_len, _ = caches[0][0].shape if caches else (0, 0, 0, 0)
    if table is None or not 0 <= start < max_len:
        return None
    result = x.reshape(1, 1, d).clone()  # updated in place by the kernel
    table_tensor = torch.tensor(table, dtype=torch.int64)  # (layers * 14,) addresses
    scratch = torch.empty(8 * d)  # qkv (3d), ctx (d), f (4d)
    base, step = scratch.data_ptr(), 4
    bf16 = layers[0].qkv[0].dtype == _BF16
    failed = kernels._layers(
        result.data_ptr(), d, eps, bf16, len(layers), table_tensor.data_ptr(),
        start, heads, max_len, base, base + 3 * d * step, base + 4 * d * step,
    )  # fmt: skip
    return None if failed else result


class ModelEnds(NamedTuple):
    """What a whole decoding step reads besides the blocks (see :class:`TokenPlan`)."""

    tok_emb: torch.Tensor  # (vocab, d), float32 or bfloat16 (tied: the head's weight)
    pos_emb: torch.Tensor  # (context, d) float32
    ln_f: tuple[torch.Tensor, torch.Tensor]  # final LayerNorm (weight, bias), float32
    head: torch.Tensor  # (vocab, d), the dtype of the blocks' matrices; no bias


class TokenPlan:
    """A whole decoding step of one model into one KV cache, laid out for one native call.

    ``glassbox_decode_token`` embeds the token, runs every block, the final LayerNorm and
    the output head in one parallel region and writes the logits. Building the call's
    address table checks every tensor, and that Python costs more than it seems: its
    objects have just been evicted from the CPU caches by the weights streaming past (about
    0.2 ms per GPT-2 token where the same code takes 0.1 ms warm). So a plan is built once
    per sequence and model state, and kept by the caller (``GPT`` keeps it on the
    :class:`KVCache`, which belongs to one sequence, and rebuilds it when the model's
    weights are replaced). It holds aliases of every tensor in its table, so every address
    it passes stays valid memory while the plan lives, whatever happens to the model.
    """

    def __init__(
        self,
        table: torch.Tensor,
        ends: torch.Tensor,
        tensors: list[torch.Tensor],
        *,
        bf16: bool,
        d: int,
        heads: int,
        max_len: int,
        vocab: int,
    ) -> None:
        self._table, self._ends, self._aliases = table, ends, tensors
        self.n_layers = len(table) // 14  # 14 addresses per layer
        self.bf16, self.d, self.heads, self.max_len, self.vocab = bf16, d, heads, max_len, vocab
        self._scratch = torch.empty(9 * self.d)  # x (d), qkv (3d), ctx (d), f (4d)

    @classmethod
    def build(
        cls,
        layers: Sequence[LayerWeights],
        ends: ModelEnds,
        keys: torch.Tensor,
        values: torch.Tensor,
    ) -> TokenPlan | None:
        """A plan for these blocks and ends, decoding into the caches ``keys``/``values``
        (n_layer, 1, heads, max_len, head_dim); None if the kernel cannot run them (no
        compiler, dtypes, shapes). Every tensor is checked here, once."""
        if native_kernels() is None or keys.dim() != 5 or keys.shape != values.shape:
            return None
        n, _, heads, max_len, head_dim = keys.shape
        d = heads * head_dim
        table = _layers_table(layers, [(keys[i], values[i]) for i in range(n)], d)
        if table is None:
            return None
        dtype = layers[0].qkv[0].dtype
        tok, pos, (lnf_g, lnf_b), head = ends
        vocab = head.shape[0] if head.dim() == 2 else 0
        rows = pos.shape[0] if pos.dim() == 2 else 0
        if vocab == 0 or rows < max_len:
            return None
        for tensor, dtypes, numel in (
            (tok, (_F32, _BF16), vocab * d),
            (pos, (_F32,), rows * d),
            (lnf_g, (_F32,), d),
            (lnf_b, (_F32,), d),
            (head, (dtype,), vocab * d),
        ):
            if not _plain(tensor, dtypes, numel):
                return None
        addresses = [tok.data_ptr(), int(tok.dtype == _BF16), pos.data_ptr(), lnf_g.data_ptr()]
        addresses += [lnf_b.data_ptr(), head.data_ptr(), vocab]
        tensors = [t.detach() for layer in layers for pair in layer for t in pair if t is not None]
        tensors += [t.detach() for t in (keys, values, tok, pos, lnf_g, lnf_b, head)]
        return cls(
            torch.tensor(table, dtype=torch.int64),
            torch.tensor(addresses, dtype=torch.int64),
            tensors,
            bf16=dtype == _BF16,
            d=d,
            heads=heads,
            max_len=max_len,
            vocab=vocab,
        )

    def run(self, token: int, pos: int, *, eps: float) -> torch.Tensor | None:
        """Logits (1, 1, vocab) of ``token`` at position ``pos``, its key and value written
        into the caches; None if the kernel declines (position or token out of range)."""
        kernels = native_kernels()
        if kernels is None or torch.is_grad_enabled():
            return None
        logits = torch.empty(1, 1, self.vocab)
        d, base, step = self.d, self._scratch.data_ptr(), 4
        failed = kernels._token(
            token, pos, self._ends.data_ptr(), self._table.data_ptr(), self.n_layers, d, eps,
            self.bf16, self.heads, self.max_len,
            base, base + d * step, base + 4 * d * step, base + 5 * d * step, logits.data_ptr(),
        )  # fmt: skip
        return None if failed else logits


def native_decode_block(
    x: torch.Tensor,
    layer: LayerWeights,
    *,
    eps: float,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    start: int,
) -> torch.Tensor | None:
    """One block for one new token (:func:`native_decode_layers` with a single layer)."""
    return native_decode_layers(x, [layer], [(k_cache, v_cache)], eps=eps, start=start)
