"""Native CPU kernels for decoding, compiled on first use.

:mod:`.native` builds and loads the C library (and wraps its matrix-vector product);
:mod:`.abi` names its interface once. The decoders that call it live beside the models:
:mod:`core.model.gpt_decoder` and :mod:`core.model.llama_decoder`.
"""

from core.model.kernels.native import NativeKernels, native_kernels, native_status

__all__ = ["NativeKernels", "native_kernels", "native_status"]
