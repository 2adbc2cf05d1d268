"""The C kernel that decodes one Llama token in one call: building, loading, calling it.

``llama_decode.c`` (beside this module) runs a whole decoding step of
:class:`core.model.llama.Llama` (every layer's RMSNorm, q/k/v products, rotary embedding,
grouped-query attention over the KV cache, o, SwiGLU and the residual adds; the final norm
and the output head) in one OpenMP parallel region: the threads share out the rows of q,
k and v, the query heads and the feed-forward's hidden units; with bfloat16 weights each
head takes its columns of o and each chunk of hidden units its columns of down (three
barriers a layer), with float32 weights o and down go by rows (five). It is compiled once per machine and loaded once per process by
:mod:`.build`, as ``decode.c`` is (``cc -O3 -march=native -fopenmp``, into
``~/.cache/glassbox/kernels`` or ``$GLASSBOX_KERNEL_DIR``, atomically;
``GLASSBOX_NATIVE_KERNELS=0`` turns it off), and called through :mod:`ctypes`, which
releases the GIL during the call. Without a compiler :func:`llama_kernel` returns ``None``
and the decoder is not used (:func:`core.model.llama_decoder.llama_decoder`).

:class:`LlamaModelStruct` and :class:`LlamaLayerStruct` mirror the C structures: the
model's shape and the addresses of its parameters, built once per model by the decoder.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

from core.model.kernels.build import Built, NativeLibrary

SOURCE = Path(__file__).with_name("llama_decode.c")
# What a profiled step times (each phase up to the end of its barrier): the order of the
# kernel's profile values.
PHASES = ("q/k/v", "attention + o", "feed-forward", "head")


class LlamaLayerStruct(ctypes.Structure):
    """``llama_layer``: one layer's parameter addresses (float32 norms; weights (out, in))."""

    _fields_ = [
        (name, ctypes.c_void_p)
        for name in ("attn_norm", "w_q", "w_k", "w_v", "w_o", "ffn_norm", "w_gate", "w_up")
        + ("w_down",)
    ]


class LlamaModelStruct(ctypes.Structure):
    """``llama_model``: the shape, the rest of the parameters and the layers' array."""

    _fields_ = [
        *((name, ctypes.c_int64) for name in ("n_layer", "d", "n_head", "n_kv_head")),
        *((name, ctypes.c_int64) for name in ("head_dim", "hidden", "vocab", "max_len", "bf16")),
        ("eps", ctypes.c_double),
        *((name, ctypes.c_void_p) for name in ("tok_emb", "norm", "w_head", "cos", "signed_sin")),
        ("layers", ctypes.POINTER(LlamaLayerStruct)),
    ]


def declare(lib: ctypes.CDLL) -> None:
    """Give the library's two functions their ctypes argument and result types."""
    fn = lib.glassbox_llama_decode_token
    pointer, size = ctypes.c_void_p, ctypes.c_int64
    # model, k_cache, v_cache, token, pos, logits, profile
    fn.argtypes = [ctypes.POINTER(LlamaModelStruct), pointer, pointer, size, size, pointer, pointer]
    fn.restype = ctypes.c_int
    lib.glassbox_llama_bf16_pairs.argtypes = []
    lib.glassbox_llama_bf16_pairs.restype = ctypes.c_int


class LlamaKernel:
    """The loaded library; :meth:`decode_token` is the one call per token."""

    def __init__(self, built: Built) -> None:
        lib = built.lib
        declare(lib)
        self.path = built.path
        self._lib = lib  # keeps the library loaded while its function is in use
        self._decode = lib.glassbox_llama_decode_token
        # With AVX512-BF16, products with bfloat16 weights round their vector to bfloat16.
        self.bf16_pairs = bool(lib.glassbox_llama_bf16_pairs())

    def decode_token(
        self,
        model: LlamaModelStruct,
        k_cache: int,
        v_cache: int,
        token: int,
        pos: int,
        out: int,
        profile: int | None = None,
    ) -> int:
        """Run one step (addresses as ints); 0 on success, 1 bad arguments, 2 no memory.

        ``profile``: the address of :data:`PHASES` float64 values to which the kernel adds
        the seconds its first thread spent in each phase, summed over the layers.
        """
        return self._decode(ctypes.byref(model), k_cache, v_cache, token, pos, out, profile)

    def __repr__(self) -> str:
        return f"LlamaKernel(path={str(self.path)!r})"


LIBRARY = NativeLibrary(SOURCE, "llama-decode", LlamaKernel)


def llama_kernel() -> LlamaKernel | None:
    """The compiled kernel, built on the first call; ``None`` when unavailable.

    Thread-safe; the build runs once per process and its result (or failure) is kept.
    """
    return LIBRARY.get()


def llama_kernel_status() -> str:
    """One line: where the kernel was loaded from, or why it is not used."""
    return LIBRARY.status()
