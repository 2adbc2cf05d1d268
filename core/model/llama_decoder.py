"""LlamaDecoder: a Llama's batch-1 decoding step in one call of a C kernel.

Decoding one token multiplies every weight matrix by one vector, so its speed is the speed
at which the weights stream from memory. PyTorch 2.13 runs those products (``F.linear`` of
one row) on one thread, does not stream bfloat16 faster than float32, and between them
runs about twenty small operations per layer whose fixed costs add up when a token takes
a few milliseconds. This module runs the step of :class:`core.model.llama.Llama` (left
plain and readable) with :mod:`core.model.kernels.llama`: one C call per token for all the
layers, three barriers a layer in bfloat16 (five in float32), every thread streaming its
own share of each matrix, the next one prefetched before each barrier
(``kernels/llama_decode.c``).

- A float32 model gives the plain forward's logits to float32 rounding (the sums run in
  another order).
- A bfloat16 model reads its bfloat16 weights and KV cache (widened in registers, or
  multiplied in bfloat16 pairs where the CPU has AVX512-BF16, the vector rounded as
  PyTorch rounds it) and keeps the activations between products in float32 where the plain
  model rounds them to bfloat16: its logits are as close to the float32 model's as the plain
  bfloat16 model's, or closer (``tests/model/test_llama_decoder.py``); the logits are
  returned in bfloat16, as the plain model returns them.

A decoder is built once per model (:func:`llama_decoder`, cached by the model's identity
and a fingerprint of its parameters) and shared: it holds the addresses of the model's
tensors (and float32 copies of the norms and rotary tables) and only reads them; all
per-sequence state stays in the caller's :class:`KVCache`. So any number of samplers can
decode with one decoder at once (the kernel call releases the GIL). Where the kernel is
unavailable (``GLASSBOX_NATIVE_KERNELS=0``, no C compiler), the model is not on the CPU,
or its parameters are neither all float32 nor all bfloat16, :func:`llama_decoder` returns
``None`` and the caller runs the plain model.

    decoder = llama_decoder(model)              # None: use model(...) as usual
    cache = model.new_kv_cache()
    logits = model(prompt, kv_cache=cache, last_only=True)     # prefill: matrix products
    logits = decoder.step(next_id, cache)                     # (1, 1, vocab), cache += 1
"""

from __future__ import annotations

import threading
import weakref

import torch

from core.model.gpt import InputError
from core.model.kernels.llama import (
    PHASES,
    LlamaKernel,
    LlamaLayerStruct,
    LlamaModelStruct,
    llama_kernel,
)
from core.model.kv_cache import KVCache
from core.model.llama import Llama

_lock = threading.Lock()  # guards the cache below; a decoder itself is read-only
_decoders: weakref.WeakKeyDictionary[Llama, tuple[tuple, LlamaDecoder]] = (
    weakref.WeakKeyDictionary()
)


def _fingerprint(model: Llama) -> tuple:
    """Changes when a parameter is replaced, moved, cast or modified in place."""
    return tuple((p.data_ptr(), p.dtype, p._version) for p in model.parameters())


class LlamaDecoder:
    """One decoding step of a Llama for one sequence at a time, in one native call."""

    def __init__(self, model: Llama, kernel: LlamaKernel) -> None:
        dtype = model.dtype
        if model.device.type != "cpu" or dtype not in (torch.float32, torch.bfloat16):
            raise ValueError("LlamaDecoder needs a float32 or bfloat16 Llama on the CPU")
        if any(p.dtype != dtype for p in model.parameters()):
            raise ValueError("LlamaDecoder needs every parameter in one dtype")
        self._model = weakref.ref(model)  # the cache below holds decoders by weak model keys
        self.dtype = dtype
        self.kernel = kernel
        c = model.config
        self._kept: list[torch.Tensor] = []  # every tensor whose address the kernel reads

        def address(tensor: torch.Tensor, *, float32: bool = False) -> int:
            tensor = tensor.detach()
            tensor = tensor.float().contiguous() if float32 else tensor.contiguous()
            self._kept.append(tensor)  # a copy (norms, tables) lives as long as the decoder
            return tensor.data_ptr()

        # rotate(): x*cos + cat(-x2, x1)*sin = x*cos + roll(x, hd/2)*sin with the sines of
        # the first half negated (the form the kernel computes).
        half = c.head_dim // 2
        signed_sin = torch.cat([-model.rope_sin[:, :half], model.rope_sin[:, half:]], -1)
        self._layers = (LlamaLayerStruct * c.n_layer)(
            *(
                LlamaLayerStruct(
                    attn_norm=address(b.attn_norm.weight, float32=True),
                    w_q=address(b.attn.q.weight),
                    w_k=address(b.attn.k.weight),
                    w_v=address(b.attn.v.weight),
                    w_o=address(b.attn.o.weight),
                    ffn_norm=address(b.ffn_norm.weight, float32=True),
                    w_gate=address(b.ffn.gate.weight),
                    w_up=address(b.ffn.up.weight),
                    w_down=address(b.ffn.down.weight),
                )
                for b in model.blocks
            )
        )
        self._struct = LlamaModelStruct(
            n_layer=c.n_layer,
            d=c.n_embd,
            n_head=c.n_head,
            n_kv_head=c.n_kv_head,
            head_dim=c.head_dim,
            hidden=c.ffn_hidden,
            vocab=c.vocab_size,
            max_len=c.context_length,
            bf16=int(dtype == torch.bfloat16),
            eps=c.rms_norm_eps,
            tok_emb=address(model.tok_emb.weight),
            norm=address(model.norm.weight, float32=True),
            w_head=address(model.head.weight),  # tied: the same table
            cos=address(model.rope_cos, float32=True),
            signed_sin=address(signed_sin, float32=True),
            layers=self._layers,
        )
        self._cache_shape = (c.n_layer, 1, c.n_kv_head, c.context_length, c.head_dim)

    @property
    def model(self) -> Llama:
        """The model this decoder runs (it must outlive the decoder's use)."""
        model = self._model()
        if model is None:
            raise ReferenceError("the model of this LlamaDecoder no longer exists")
        return model

    @torch.inference_mode()
    def step(
        self, idx: torch.Tensor, kv_cache: KVCache, *, profile: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits (1, 1, vocab) of one token ``idx`` (1, 1) at the cache's next position.

        Writes the token's key and value into ``kv_cache`` (batch 1, made by this model's
        ``new_kv_cache``) and advances it by one: what ``model(idx, kv_cache=kv_cache)``
        does, with the same checks and errors. ``profile`` (float64, one value per phase of
        :data:`core.model.kernels.llama.PHASES`) gets the seconds of each phase added.
        """
        if profile is not None and (
            profile.shape != (len(PHASES),) or profile.dtype != torch.float64 or profile.is_cuda
        ):
            raise ValueError(f"profile must be a float64 CPU tensor of {len(PHASES)} values")
        if idx.shape != (1, 1):
            raise ValueError(f"LlamaDecoder decodes one token at a time, got {tuple(idx.shape)}")
        pos = self.model._check_step(idx, kv_cache)
        keys, values = kv_cache.keys, kv_cache.values
        for buffer in (keys, values):
            if (
                tuple(buffer.shape) != self._cache_shape
                or buffer.dtype != self.dtype
                or buffer.device.type != "cpu"
                or not buffer.is_contiguous()
            ):
                raise InputError(
                    f"the KV cache {kv_cache!r} was not made by this model's new_kv_cache()"
                )
        logits = torch.empty(self._struct.vocab, dtype=torch.float32)
        status = self.kernel.decode_token(
            self._struct,
            keys.data_ptr(),
            values.data_ptr(),
            int(idx),
            pos,
            logits.data_ptr(),
            None if profile is None else profile.data_ptr(),
        )
        if status != 0:  # the checks above make this unreachable short of a bug
            raise RuntimeError(f"the Llama decoding kernel failed (status {status})")
        kv_cache.advance(1)
        return logits.view(1, 1, -1).to(self.dtype)


def llama_decoder(model: Llama) -> LlamaDecoder | None:
    """The shared :class:`LlamaDecoder` of ``model``, or ``None`` where it does not apply.

    Built on the first call (it copies only the norms and rotary tables, in float32) and
    kept while the model lives; rebuilt if the model's parameters were replaced, moved,
    cast or changed in place since. ``None`` without the native kernel, for a model off
    the CPU or in training mode, or with mixed or other dtypes.
    """
    if not isinstance(model, Llama) or model.training or model.device.type != "cpu":
        return None
    dtypes = {p.dtype for p in model.parameters()}
    if len(dtypes) != 1 or dtypes.pop() not in (torch.float32, torch.bfloat16):
        return None
    kernel = llama_kernel()
    if kernel is None:
        return None
    fingerprint = _fingerprint(model)
    with _lock:
        entry = _decoders.get(model)
        if entry is None or entry[0] != fingerprint:
            entry = _decoders[model] = (fingerprint, LlamaDecoder(model, kernel))
        return entry[1]
