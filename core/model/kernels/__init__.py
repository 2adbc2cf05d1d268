"""Native CPU kernels for decoding, compiled on first use (see :mod:`native`)."""

from core.model.kernels.native import (
    NativeKernels,
    native_decode_attention,
    native_decode_block,
    native_kernels,
    native_matvec,
)

__all__ = [
    "NativeKernels",
    "native_decode_attention",
    "native_decode_block",
    "native_kernels",
    "native_matvec",
]
