"""Native CPU kernels for decoding, compiled on first use.

:mod:`.native` builds and loads the C library (and wraps its matrix-vector product);
:mod:`.steps` wraps its decoding steps (attention, the blocks, the whole token).
"""

from core.model.kernels.native import NativeKernels, native_kernels, native_matvec
from core.model.kernels.steps import (
    LayerWeights,
    ModelEnds,
    TokenPlan,
    native_decode_attention,
    native_decode_block,
    native_decode_layers,
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
