"""Small C kernels for decoding one token on the CPU, compiled on first use.

Decoding one token multiplies every weight matrix by one vector, so its speed is the speed
at which the weights stream from memory. PyTorch 2.13's CPU kernels for that shape leave
bandwidth unused: ``F.linear`` runs on one thread, and for bfloat16 weights no kernel
streams faster than float32 does (``bench/bench_decode.py`` measures them side by side).
``decode.c`` is about 400 lines of C with OpenMP. Its matrix-vector product lets each
thread stream its own block of rows; with bfloat16 weights it multiplies bfloat16 pairs
(AVX512-BF16's ``vdpbf16ps``, the vector rounded to bfloat16 as PyTorch's bfloat16 products
round it) or, on CPUs without that instruction, widens the weight to float32 in registers,
so half the bytes give float32 sums. Its token step runs a whole GPT decoding step for one
token in one parallel region: the embedding, every pre-LayerNorm block (LayerNorms, QKV,
writing the new key and value into the KV cache and attending over it, projections, GELU),
the final LayerNorm and the output head, replacing about twenty small PyTorch operations per
layer whose fixed costs add up when a token takes a few milliseconds. This module builds
and loads the library; :mod:`.abi` names its interface, and the decoders beside the models
(:mod:`core.model.gpt_decoder`, :mod:`core.model.llama_decoder`) call it.

The C file is compiled once per machine and loaded once per process by :mod:`.build`
(``cc -O3 -march=native -fopenmp``, cached under ``~/.cache/glassbox/kernels`` or
``$GLASSBOX_KERNEL_DIR``) and loaded with :mod:`ctypes`, which releases the GIL during the
call. Without a compiler, or with ``GLASSBOX_NATIVE_KERNELS=0``, :func:`native_kernels`
returns ``None`` and the samplers decode with the plain model: same results, slower
decoding. The library links ``libgomp.so.1`` by name; loaded after ``torch``, it shares
PyTorch's OpenMP runtime and thread count.
"""

from __future__ import annotations

from pathlib import Path

import torch

from core.model.kernels import abi
from core.model.kernels.build import Built, NativeLibrary

SOURCE = Path(__file__).with_name("decode.c")


class NativeKernels:
    """The loaded kernel library: :meth:`matvec`, and the functions the decoders call."""

    def __init__(self, built: Built) -> None:
        lib = built.lib
        abi.declare(lib)
        self.path = built.path
        self.compiler = built.compiler
        self.build_seconds = built.build_seconds  # 0.0 when the library came from the cache
        self._lib = lib  # keeps the library loaded while its functions are in use
        self._functions = {
            torch.float32: lib.glassbox_matvec_f32,
            torch.bfloat16: lib.glassbox_matvec_bf16,
        }
        self.decode_token = lib.glassbox_decode_token  # see core.model.gpt_decoder
        # With AVX512-BF16, products with bfloat16 weights round the vector to bfloat16 too
        # (for widths that are multiples of 64), as PyTorch's bfloat16 products do.
        self.bf16_pairs = bool(lib.glassbox_bf16_pairs())

    def __repr__(self) -> str:
        return f"NativeKernels(path={str(self.path)!r}, compiler={self.compiler!r})"

    def matvec(
        self, weight: torch.Tensor, x: torch.Tensor, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``weight @ x (+ bias)`` in float32 for a contiguous CPU weight (rows, cols).

        weight is float32 or bfloat16; x (cols values) and bias (rows) are read as float32.
        Returns a new float32 tensor (rows,).
        """
        if not weight.is_contiguous() or weight.device.type != "cpu" or weight.dim() != 2:
            raise ValueError("native matvec needs a contiguous 2-D CPU weight")
        rows, cols = weight.shape
        if x.numel() != cols:
            raise ValueError(f"x has {x.numel()} values, the weight has {cols} columns")
        if bias is not None and bias.numel() != rows:
            raise ValueError(f"bias has {bias.numel()} values, the weight has {rows} rows")
        fn = self._functions.get(weight.dtype)
        if fn is None:
            raise ValueError(f"native matvec supports float32 and bfloat16, not {weight.dtype}")
        # the C function reads float32 copies of x and bias (no copy when already so)
        x32 = x.reshape(cols).to(torch.float32).contiguous()
        b32 = None if bias is None else bias.to(torch.float32).contiguous()
        out = torch.empty(rows, dtype=torch.float32)
        fn(
            weight.data_ptr(),
            x32.data_ptr(),
            None if b32 is None else b32.data_ptr(),
            out.data_ptr(),
            rows,
            cols,
        )
        return out


LIBRARY = NativeLibrary(SOURCE, "decode", NativeKernels)


def native_kernels(*, cache_dir: Path | None = None) -> NativeKernels | None:
    """The compiled kernels, building them on the first call; ``None`` when unavailable.

    Thread-safe; the build runs once per process and its result (or failure) is kept.
    :func:`native_status` says why the kernels are unavailable.
    """
    return LIBRARY.get(cache_dir)


def native_status(*, cache_dir: Path | None = None) -> str:
    """One line: where the kernels were loaded from, or why they are not used."""
    return LIBRARY.status(cache_dir)
