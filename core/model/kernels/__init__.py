"""Native CPU kernels for decoding, compiled on first use.

:mod:`.build` compiles a C source once per machine and loads it once per process, for both
libraries: :mod:`.native` wraps ``decode.c`` (the GPT's token step and a matrix-vector
product), whose interface :mod:`.abi` names once; :mod:`.llama` wraps ``llama_decode.c``
(the Llama's token step) and declares its signatures. The decoders that call them live
beside the models: :mod:`core.model.gpt_decoder` and :mod:`core.model.llama_decoder`.
"""

from core.model.kernels.native import NativeKernels, native_kernels, native_status

__all__ = ["NativeKernels", "native_kernels", "native_status"]
