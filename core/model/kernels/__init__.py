"""Native CPU kernels for decoding, compiled on first use (see :mod:`native`)."""

from core.model.kernels.native import (
    LayerWeights,
    ModelEnds,
    NativeKernels,
    TokenPlan,
    native_decode_attention,
    native_decode_block,
    native_decode_layers,
    native_kernels,
    native_matvec,
)

__all__ = [
    "LayerWeights",
    "ModelEnds",
    "NativeKernels",
    "TokenPlan",
    "native_decode_attention",
    "native_decode_block",
    "native_decode_layers",
    "native_kernels",
    "native_matvec",
]
