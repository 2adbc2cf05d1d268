"""LlamaDecoder: a Llama's batch-1 decoding step on the native matrix-vector kernel.

Decoding one token multiplies every weight matrix by one vector, so its speed is the speed
at which the weights stream from memory. PyTorch 2.13 runs those products (``F.linear`` of
one row) on one thread and does not stream bfloat16 faster than float32; the project's C
kernel (:mod:`core.model.kernels.native`) streams each matrix on every thread. This module
runs the step of :class:`core.model.llama.Llama` (left plain and readable) with that kernel
for every projection, and PyTorch for the small rest (RMSNorm, rotary embeddings, attention
over the KV cache):

- q, k and v are one product (their matrices stacked, n_head + 2 n_kv_head heads of rows),
  gate and up another; o, down and the output head one each: 5 products per layer.
- Every other operation is the plain model's, in the model's dtype, so a float32 model
  gives the plain forward's logits to float32 rounding and a bfloat16 model rounds where
  the plain one does (the kernel sums in float32, as PyTorch's bfloat16 products do).

A decoder is built once per model (:func:`llama_decoder`, cached by the model's identity
and a fingerprint of its parameters) and shared: it holds the stacked matrices and reads
the model, and all per-sequence state stays in the caller's :class:`KVCache`. So any
number of samplers can decode with one decoder at once (the kernel call releases the GIL).
Where the kernels are unavailable (``GLASSBOX_NATIVE_KERNELS=0``, no C compiler), the model
is not on the CPU, or its parameters are neither all float32 nor all bfloat16,
:func:`llama_decoder` returns ``None`` and the caller runs the plain model.

    decoder = llama_decoder(model)              # None: use model(...) as usual
    cache = model.new_kv_cache()
    logits = model(prompt, kv_cache=cache, last_only=True)     # prefill: matrix products
    logits = decoder.step(next_id, cache)                     # (1, 1, vocab), cache += 1
"""

from __future__ import annotations

import threading
import weakref
from typing import NamedTuple

import torch
import torch.nn.functional as F

from core.model.kernels.native import NativeKernels, native_kernels
from core.model.kv_cache import KVCache
from core.model.llama import Llama

_lock = threading.Lock()  # guards the cache below; a decoder itself is read-only
_decoders: weakref.WeakKeyDictionary[Llama, tuple[tuple, LlamaDecoder]] = (
    weakref.WeakKeyDictionary()
)


class _Layer(NamedTuple):
    """One block's tensors as the step reads them (matrices (rows, cols), contiguous)."""

    attn_norm: torch.Tensor  # (d,)
    qkv: torch.Tensor  # (q_rows + 2 kv_rows, d): q, k and v stacked
    o: torch.Tensor  # (d, q_rows)
    ffn_norm: torch.Tensor  # (d,)
    gate_up: torch.Tensor  # (2 hidden, d): gate and up stacked
    down: torch.Tensor  # (d, hidden)


def _fingerprint(model: Llama) -> tuple:
    """Changes when a parameter is replaced, moved, cast or modified in place."""
    return tuple((p.data_ptr(), p.dtype, p._version) for p in model.parameters())


class LlamaDecoder:
    """One decoding step of a Llama for one sequence at a time, on the native kernel."""

    def __init__(self, model: Llama, kernels: NativeKernels) -> None:
        dtype = model.dtype
        if model.device.type != "cpu" or dtype not in (torch.float32, torch.bfloat16):
            raise ValueError("LlamaDecoder needs a float32 or bfloat16 Llama on the CPU")
        if any(p.dtype != dtype for p in model.parameters()):
            raise ValueError("LlamaDecoder needs every parameter in one dtype")
        self.model = model
        self.dtype = dtype
        self._matvec = kernels._functions[dtype]
        self._lib = kernels  # keeps the library loaded while the decoder lives
        c = model.config
        self.n_head, self.n_kv_head, self.head_dim = c.n_head, c.n_kv_head, c.head_dim
        self.hidden, self.eps = c.ffn_hidden, c.rms_norm_eps
        with torch.no_grad():
            self.layers = [
                _Layer(
                    attn_norm=b.attn_norm.weight.detach(),
                    qkv=torch.cat([b.attn.q.weight, b.attn.k.weight, b.attn.v.weight]),
                    o=b.attn.o.weight.detach().contiguous(),
                    ffn_norm=b.ffn_norm.weight.detach(),
                    gate_up=torch.cat([b.ffn.gate.weight, b.ffn.up.weight]),
                    down=b.ffn.down.weight.detach().contiguous(),
                )
                for b in model.blocks
            ]
            self.embedding = model.tok_emb.weight.detach()  # (vocab, d)
            self.norm = model.norm.weight.detach()
            self.head = model.head.weight.detach().contiguous()  # tied: the same table
            self.cos = model.rope_cos.to(dtype)  # (context, hd)
            # rotate(): x*cos + cat(-x2, x1)*sin = x*cos + roll(x, hd/2)*sin with the sines
            # of the first half negated (the same products, two operations fewer).
            half = self.head_dim // 2
            self.signed_sin = torch.cat([-model.rope_sin[:, :half], model.rope_sin[:, half:]], -1)
            self.signed_sin = self.signed_sin.to(dtype)

    def _mv(self, weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``weight @ x`` (rows,) in the model's dtype, summed in float32 by the kernel."""
        rows, cols = weight.shape
        x32 = x.to(torch.float32).contiguous()
        out = torch.empty(rows, dtype=torch.float32)
        self._matvec(weight.data_ptr(), x32.data_ptr(), None, out.data_ptr(), rows, cols)
        return out if self.dtype == torch.float32 else out.to(self.dtype)

    def _rms_norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """:class:`core.model.llama.RMSNorm` of one vector (d,), in float32 as there."""
        return weight * F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps).to(x.dtype)

    @torch.inference_mode()
    def step(self, idx: torch.Tensor, kv_cache: KVCache) -> torch.Tensor:
        """Logits (1, 1, vocab) of one token ``idx`` (1, 1) at the cache's next position.

        Writes the token's key and value into ``kv_cache`` (batch 1, made by this model's
        ``new_kv_cache``) and advances it by one: what ``model(idx, kv_cache=kv_cache)``
        does, with the same checks and errors.
        """
        if idx.shape != (1, 1):
            raise ValueError(f"LlamaDecoder decodes one token at a time, got {tuple(idx.shape)}")
        pos = self.model._check_step(idx, kv_cache)
        H, Hkv, hd = self.n_head, self.n_kv_head, self.head_dim
        q_rows, kv_rows = H * hd, Hkv * hd
        cos, sin = self.cos[pos], self.signed_sin[pos]  # (hd,)
        x = self.embedding[int(idx)]  # (d,)
        for i, layer in enumerate(self.layers):
            keys, values = kv_cache.layer(i)  # (1, Hkv, Tmax, hd)
            qkv = self._mv(layer.qkv, self._rms_norm(x, layer.attn_norm))
            qk = qkv[: q_rows + kv_rows].view(H + Hkv, hd)  # query heads, then key heads
            qk = qk * cos + qk.roll(hd // 2, dims=-1) * sin  # rotary, as rotate() turns it
            keys[0, :, pos] = qk[H:]
            values[0, :, pos] = qkv[q_rows + kv_rows :].view(Hkv, hd)
            context = F.scaled_dot_product_attention(
                qk[:H].view(1, H, 1, hd),
                keys[:, :, : pos + 1],
                values[:, :, : pos + 1],
                enable_gqa=True,
            )  # (1, H, 1, hd): one new token attends to every cached key
            x = x + self._mv(layer.o, context.view(q_rows))
            gate_up = self._mv(layer.gate_up, self._rms_norm(x, layer.ffn_norm))
            x = x + self._mv(layer.down, F.silu(gate_up[: self.hidden]) * gate_up[self.hidden :])
        logits = self._mv(self.head, self._rms_norm(x, self.norm))
        kv_cache.advance(1)
        return logits.view(1, 1, -1)


def llama_decoder(model: Llama) -> LlamaDecoder | None:
    """The shared :class:`LlamaDecoder` of ``model``, or ``None`` where it does not apply.

    Built on the first call (stacking the q/k/v and gate/up matrices, which costs their
    memory once more) and kept while the model lives; rebuilt if the model's parameters
    were replaced, moved, cast or changed in place since. ``None`` without the native
    kernels, for a model off the CPU or in training mode, or with mixed or other dtypes.
    """
    if not isinstance(model, Llama) or model.training or model.device.type != "cpu":
        return None
    dtypes = {p.dtype for p in model.parameters()}
    if len(dtypes) != 1 or dtypes.pop() not in (torch.float32, torch.bfloat16):
        return None
    kernels = native_kernels()
    if kernels is None:
        return None
    fingerprint = _fingerprint(model)
    with _lock:
        entry = _decoders.get(model)
        if entry is None or entry[0] != fingerprint:
            entry = _decoders[model] = (fingerprint, LlamaDecoder(model, kernels))
        return entry[1]
