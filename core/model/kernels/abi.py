"""The C interface of ``decode.c``, named once for the Python side.

The kernels get raw addresses, so Python and C must agree on every function's arguments,
on the layout of the two structs the whole-token step reads, on the scratch it writes and
on the limits it checks. They are written down here and nowhere else: :mod:`.native` sets
the functions' ctypes signatures from :data:`SIGNATURES`, and
:class:`core.model.gpt_decoder.NativeGPTDecoder` fills the structs by field name. A test
(``tests/model/test_kernels.py``) reads ``decode.c`` and checks each name and number here
against it.

The structs are arrays of 8-byte fields (pointers and ``int64_t``), so Python passes each
as an int64 tensor of addresses: ``glassbox_layer`` per block (an absent bias is 0, a NULL
pointer) and one ``glassbox_ends``.
"""

from __future__ import annotations

import ctypes

# Positions one attention step reads (``MAX_POSITIONS``: its scores live on the C stack).
MAX_POSITIONS = 4096
# Widest residual stream the block step takes (``MAX_WIDTH``).
MAX_WIDTH = 16384

# ``glassbox_layer``: one pre-LayerNorm block's parameters and KV caches, in struct order.
LAYER_FIELDS = (
    "ln1_g", "ln1_b", "w_qkv", "b_qkv", "w_proj", "b_proj",
    "ln2_g", "ln2_b", "w_fc", "b_fc", "w_out", "b_out", "k_cache", "v_cache",
)  # fmt: skip
# ``glassbox_ends``: what the whole-token step reads besides the blocks, in struct order.
ENDS_FIELDS = ("tok_emb", "tok_bf16", "pos_emb", "lnf_g", "lnf_b", "w_head", "vocab")
# ``glassbox_decode_token``'s float32 scratch buffers, each a multiple of the width d.
TOKEN_SCRATCH = {"x": 1, "qkv": 3, "ctx": 1, "f": 4}

_P, _I64, _F32, _INT = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float, ctypes.c_int

# Every exported function: (argument types, result type), in the order decode.c declares them.
SIGNATURES: dict[str, tuple[list, type | None]] = {
    "glassbox_matvec_f32": ([_P] * 4 + [_I64] * 2, None),  # w, x, b, y, rows, cols
    "glassbox_matvec_bf16": ([_P] * 4 + [_I64] * 2, None),
    "glassbox_bf16_pairs": ([], _INT),
    # token, pos, ends, layers, n, d, eps, bf16, heads, max_len, then the scratch buffers in
    # TOKEN_SCRATCH's order and the logits (vocab)
    "glassbox_decode_token": (
        [_I64, _I64, _P, _P, _I64, _I64, _F32, _INT, _I64, _I64] + [_P] * 5,
        _INT,
    ),
}


def declare(lib: ctypes.CDLL) -> None:
    """Set the ctypes signature of every function in :data:`SIGNATURES` on ``lib``."""
    for name, (argtypes, restype) in SIGNATURES.items():
        function = getattr(lib, name)
        function.argtypes = argtypes
        function.restype = restype
