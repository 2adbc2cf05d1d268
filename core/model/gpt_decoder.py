"""NativeGPTDecoder: a GPT's one-token decoding step as one call of the native C kernel.

Decoding one token at batch 1 multiplies every weight matrix by one vector, so its speed is
the speed at which the weights stream from memory. PyTorch 2.13 runs those products on one
CPU thread, and a GPT-2 step is about twenty small operations per layer whose fixed costs
add up when a token takes a few milliseconds. ``glassbox_decode_token`` in
``core/model/kernels/decode.c`` runs the whole step of :class:`core.model.gpt.GPT` in eval
mode in one OpenMP parallel region instead: the token and position embeddings, every
pre-LayerNorm block (LayerNorms, QKV, the new key and value written into the KV cache and
attention over it, projections, GELU), the final LayerNorm and the output head, each
thread streaming its own rows of every matrix (``bench/bench_decode.py`` measures it
against the memory bandwidth). The model itself (``gpt.py``) stays plain PyTorch.

The call reads a table of raw addresses (:mod:`core.model.kernels.abi` names its layout).
Checking every tensor and laying the table out costs more Python than it seems (the
weights streaming past evict the interpreter's objects from the CPU caches), so it is done
once per sequence: a decoder belongs to one sequence, like the :class:`KVCache` whose
addresses its table holds, and reads the shared model without changing it. It keeps an
alias of every tensor in the table, so each address stays valid memory whatever happens to
the model; before each step it checks that the model and the cache still hold those same
tensors, and lays the table out again if any was replaced (``.to()``, ``.float()``,
``cast_matrices``, ``load_state_dict(assign=True)``). In-place updates (an optimizer step)
keep the addresses, and the kernel reads the new values.

    cache = model.new_kv_cache()
    logits = model(prompt, kv_cache=cache, last_only=True)[:, -1]  # prefill: the plain model
    decoder = NativeGPTDecoder.create(model, cache)  # None: decode with model(...) instead
    logits = decoder.step(logits.argmax(-1, keepdim=True))  # (1, vocab); the cache advances
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from core.model.gpt import GPT, InputError
from core.model.kernels import NativeKernels, native_kernels
from core.model.kernels.abi import (
    ENDS_FIELDS,
    LAYER_FIELDS,
    MAX_POSITIONS,
    MAX_WIDTH,
    TOKEN_SCRATCH,
)
from core.model.kv_cache import KVCache

_F32, _BF16 = torch.float32, torch.bfloat16


class _Field(NamedTuple):
    """One parameter the kernel reads: where the model holds it, and what it must be."""

    module: nn.Module
    name: str  # the parameter's name in ``module``
    dtypes: tuple[torch.dtype, ...]
    numel: int
    optional: bool = False  # a bias the model may not have (NULL in C)


def _block_fields(block: nn.Module, d: int, dtype: torch.dtype) -> dict[str, _Field]:
    """A block's parameters by their ``glassbox_layer`` field name (all but the caches)."""
    attn, ffn, m = block.attn, block.ffn, (dtype,)
    return {
        "ln1_g": _Field(block.ln1, "weight", (_F32,), d),
        "ln1_b": _Field(block.ln1, "bias", (_F32,), d),
        "w_qkv": _Field(attn.qkv, "weight", m, 3 * d * d),
        "b_qkv": _Field(attn.qkv, "bias", (_F32,), 3 * d, optional=True),
        "w_proj": _Field(attn.proj, "weight", m, d * d),
        "b_proj": _Field(attn.proj, "bias", (_F32,), d, optional=True),
        "ln2_g": _Field(block.ln2, "weight", (_F32,), d),
        "ln2_b": _Field(block.ln2, "bias", (_F32,), d),
        "w_fc": _Field(ffn.fc, "weight", m, 4 * d * d),
        "b_fc": _Field(ffn.fc, "bias", (_F32,), 4 * d, optional=True),
        "w_out": _Field(ffn.proj, "weight", m, 4 * d * d),
        "b_out": _Field(ffn.proj, "bias", (_F32,), d, optional=True),
    }


def _readable(tensor: torch.Tensor, dtypes: tuple[torch.dtype, ...], numel: int) -> bool:
    """Whether the kernel can read ``tensor`` as ``numel`` contiguous CPU values."""
    return (
        tensor.dtype in dtypes
        and tensor.is_cpu
        and tensor.is_contiguous()
        and tensor.numel() == numel
    )


class _Table(NamedTuple):
    """The call's address tables and what they were built from."""

    layers: torch.Tensor  # (n_layer * len(LAYER_FIELDS),) int64: one glassbox_layer per block
    ends: torch.Tensor  # (len(ENDS_FIELDS),) int64: glassbox_ends
    bf16: bool  # the weight matrices are bfloat16 (else float32)
    eps: float  # every LayerNorm's
    watched: list[tuple[dict, str]]  # (module._parameters, name) of every parameter read,
    # then (cache.__dict__, "keys"/"values"): where the tensors in the tables are held
    addresses: list[int]  # their data_ptr() when built (0 for an absent bias)
    aliases: list[torch.Tensor]  # keep every address in the tables valid memory


def _build_table(model: GPT, cache: KVCache) -> _Table | None:
    """The address tables for ``model`` decoding into ``cache``; None where the kernel does
    not apply (it gets raw pointers, so every dtype, device, layout and size is checked)."""
    c = model.config
    d, heads, blocks = c.n_embd, c.n_head, list(model.blocks)
    keys, values = cache.keys, cache.values  # (L, B, H, Tmax, hd)
    eps = {model.ln_f.eps} | {b.ln1.eps for b in blocks} | {b.ln2.eps for b in blocks}
    if (
        len(eps) != 1
        or d > MAX_WIDTH
        or cache.max_length > min(MAX_POSITIONS, c.context_length)
        or tuple(keys.shape) != (len(blocks), 1, heads, cache.max_length, d // heads)
        or not all(_readable(t, (_F32,), keys.numel()) for t in (keys, values))
    ):
        return None
    dtype = model.head.weight.dtype  # every matrix's: float32 or bfloat16
    watched: list[tuple[dict, str]] = []
    addresses: list[int] = []
    aliases: list[torch.Tensor] = []

    def address(value: _Field | int) -> int | None:
        """A field's value in the table: a parameter's address (0 for an absent bias),
        which is then watched and aliased; None if the kernel cannot read it."""
        if isinstance(value, int):
            return value
        tensor = value.module._parameters.get(value.name)
        watched.append((value.module._parameters, value.name))
        addresses.append(0 if tensor is None else tensor.data_ptr())
        if tensor is None:
            return 0 if value.optional else None
        if not _readable(tensor, value.dtypes, value.numel):
            return None
        aliases.append(tensor.detach())
        return tensor.data_ptr()

    rows: list[dict[str, _Field | int]] = [
        _block_fields(block, d, dtype) | {"k_cache": k.data_ptr(), "v_cache": v.data_ptr()}
        for block, k, v in zip(blocks, keys, values, strict=True)
    ]  # one glassbox_layer per block
    vocab = c.vocab_size
    tok_emb = model.head if model.tok_emb is None else model.tok_emb  # tied: the head
    rows.append(
        {
            "tok_emb": _Field(tok_emb, "weight", (_F32, _BF16), vocab * d),
            "tok_bf16": int(tok_emb.weight.dtype == _BF16),
            "pos_emb": _Field(model.pos_emb, "weight", (_F32,), c.context_length * d),
            "lnf_g": _Field(model.ln_f, "weight", (_F32,), d),
            "lnf_b": _Field(model.ln_f, "bias", (_F32,), d),
            "w_head": _Field(model.head, "weight", (dtype,), vocab * d),
            "vocab": vocab,
        }
    )  # glassbox_ends
    layers = [address(row[name]) for row in rows[:-1] for name in LAYER_FIELDS]
    ends = [address(rows[-1][name]) for name in ENDS_FIELDS]
    if None in layers or None in ends:
        return None
    watched += [(cache.__dict__, "keys"), (cache.__dict__, "values")]
    addresses += [keys.data_ptr(), values.data_ptr()]
    return _Table(
        layers=torch.tensor(layers, dtype=torch.int64),
        ends=torch.tensor(ends, dtype=torch.int64),
        bf16=dtype == _BF16,
        eps=eps.pop(),
        watched=watched,
        addresses=addresses,
        aliases=[*aliases, keys, values],
    )


class NativeGPTDecoder:
    """One sequence's decoding steps of a GPT on the CPU, each one native call."""

    def __init__(self, model: GPT, cache: KVCache, kernels: NativeKernels) -> None:
        """Use :meth:`create`, which returns None where the kernel does not apply."""
        if model.training:
            raise ValueError("NativeGPTDecoder needs a model in eval mode (dropout off)")
        table = _build_table(model, cache)
        if table is None:
            raise ValueError("the native kernel cannot decode this model into this cache")
        self.model, self.cache, self._table = model, cache, table
        self._call = kernels.decode_token
        self._kernels = kernels  # keeps the library loaded while the decoder lives
        d = model.config.n_embd
        self._scratch = torch.empty(sum(TOKEN_SCRATCH.values()) * d)  # float32
        self._buffers, at = [], self._scratch.data_ptr()
        for size in TOKEN_SCRATCH.values():  # each buffer's address, in the call's order
            self._buffers.append(at)
            at += size * d * self._scratch.element_size()

    @classmethod
    def create(cls, model: GPT, cache: KVCache) -> NativeGPTDecoder | None:
        """A decoder for ``model`` into ``cache``, or None: no kernels (no C compiler,
        ``GLASSBOX_NATIVE_KERNELS=0``), a model in training mode or off the CPU, a batch of
        more than one, or weights the kernel does not read (float32 or bfloat16 matrices,
        float32 LayerNorms, biases, positions and cache)."""
        if model.training or model.device.type != "cpu" or cache.batch_size != 1:
            return None
        kernels = native_kernels()
        if kernels is None or _build_table(model, cache) is None:
            return None
        return cls(model, cache, kernels)

    def _current(self) -> bool:
        """Whether the model and cache still hold every tensor the table was built from."""
        table = self._table
        now = [
            0 if (p := params.get(name)) is None else p.data_ptr() for params, name in table.watched
        ]
        return now == table.addresses

    @torch.inference_mode()
    def step(self, token: torch.Tensor) -> torch.Tensor:
        """Feed one token ``token`` (1, 1) at the cache's next position; logits (1, vocab).

        Writes its key and value into the cache and advances it by one: what
        ``model(token, kv_cache=cache, last_only=True)[:, -1]`` does, with its checks and
        errors. Where the weights were replaced by ones the kernel cannot read, the step
        runs the plain model.
        """
        model, cache = self.model, self.cache
        if token.shape != (1, 1):
            raise InputError(f"expected one token id of shape (1, 1), got {tuple(token.shape)}")
        position = model._check_step(token, cache)  # the errors model(...) would raise
        if not self._current():
            table = _build_table(model, cache)
            if table is None:  # replaced by weights the kernel cannot read
                return model(token, kv_cache=cache, last_only=True)[:, -1]
            self._table = table
        t, c = self._table, model.config
        logits = torch.empty(1, c.vocab_size)
        failed = self._call(
            int(token), position, t.ends.data_ptr(), t.layers.data_ptr(), c.n_layer, c.n_embd,
            t.eps, t.bf16, c.n_head, cache.max_length, *self._buffers, logits.data_ptr(),
        )  # fmt: skip
        if failed:  # arguments out of range: not after the checks above, but never guess
            return model(token, kv_cache=cache, last_only=True)[:, -1]
        cache.advance(1)
        return logits
