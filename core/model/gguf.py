"""GGUF files: read the container, dequantize its tensors (Q8_0, Q4_1, F32, F16, BF16).

GGUF is llama.cpp's single-file format: a header of typed key/value metadata (architecture,
shapes, tokenizer, chat template), then a table of tensors, then their bytes. The container
is read with the ``gguf`` package (llama.cpp's own reader, numpy only); the arithmetic that
turns quantized blocks back into weights is written out here, one block format per function,
because it is what a learner should see:

* **Q8_0**: blocks of 32 weights stored as one float16 scale ``d`` and 32 int8 codes ``q``;
  ``w = d * q``. 34 bytes per 32 weights = 8.5 bits per weight.
* **Q4_1**: blocks of 32 weights stored as a float16 scale ``d``, a float16 minimum ``m``
  and 16 bytes of 4-bit codes (the low nibbles are weights 0-15, the high nibbles 16-31);
  ``w = d * q + m``. 20 bytes per 32 weights = 5 bits per weight.

Tests check both against ``gguf.quants.dequantize`` (llama.cpp's reference in Python).
GGUF lists a tensor's shape innermost-first: a (rows x cols) PyTorch matrix shows as
``[cols, rows]``; :func:`read_tensor` returns the PyTorch shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

QK = 32  # weights per quantization block, for Q8_0 and Q4_1
Q8_0_BLOCK_BYTES = 2 + QK  # float16 d, 32 x int8
Q4_1_BLOCK_BYTES = 2 + 2 + QK // 2  # float16 d, float16 m, 32 x 4 bits

SUPPORTED_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_1")

# Metadata arrays longer than this stay out of repr-like summaries (the tokenizer's lists).
_MAX_FIELD_ITEMS = 1_000_000


class GGUFError(ValueError):
    """A GGUF file that cannot be used: unreadable, truncated, or of an unsupported kind."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a GGUF file, still in its stored (possibly quantized) form."""

    name: str  # e.g. "blk.0.attn_q.weight"
    type_name: str  # GGML type: "Q4_1", "Q8_0", "F32", ...
    shape: tuple[int, ...]  # PyTorch order, outermost first: (rows, cols)
    raw: np.ndarray  # the stored bytes or values, a view into the memory-mapped file

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class GGUFFile:
    """The metadata (plain Python values) and tensors of a GGUF file."""

    path: Path
    metadata: Mapping[str, Any]
    tensors: Mapping[str, TensorInfo]

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))


# ------------------------------------------------------------------ dequantization


def dequantize_q8_0(blocks: np.ndarray) -> np.ndarray:
    """Weights (n_blocks * 32,) float32 from Q8_0 blocks (n_blocks, 34) uint8.

    Each block: bytes 0-1 = float16 scale d, bytes 2-33 = 32 signed 8-bit codes q;
    weight j = d * q[j]. Example: d = 0.5, q = [2, -4, ...] -> [1.0, -2.0, ...].
    """
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (n, 1)
    q = blocks[:, 2:].view(np.int8).astype(np.float32)  # (n, 32)
    return (d * q).reshape(-1)


def dequantize_q4_1(blocks: np.ndarray) -> np.ndarray:
    """Weights (n_blocks * 32,) float32 from Q4_1 blocks (n_blocks, 20) uint8.

    Each block: float16 scale d, float16 minimum m, then 16 bytes; byte i holds weight i in
    its low 4 bits and weight i + 16 in its high 4 bits (codes 0..15); weight = d * q + m.
    Example: d = 0.1, m = -0.8, byte 0x3A -> weight 0 = 0.1*10 - 0.8 = 0.2, weight 16 = -0.5.
    """
    d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)  # (n, 1)
    m = blocks[:, 2:4].copy().view(np.float16).astype(np.float32)  # (n, 1)
    packed = blocks[:, 4:]  # (n, 16)
    low = packed & 0x0F  # weights 0..15
    high = packed >> 4  # weights 16..31
    q = np.concatenate([low, high], axis=1).astype(np.float32)  # (n, 32)
    return (d * q + m).reshape(-1)


def _blocks(raw: np.ndarray, block_bytes: int, n_elements: int, type_name: str) -> np.ndarray:
    flat = np.ascontiguousarray(raw).view(np.uint8).reshape(-1)
    expected = n_elements // QK * block_bytes
    if n_elements % QK or flat.size != expected:
        raise GGUFError(
            f"a {type_name} tensor of {n_elements} weights needs {expected} bytes in blocks of "
            f"{QK}, the file holds {flat.size}: the file is corrupt"
        )
    return flat.reshape(-1, block_bytes)


def dequantize(raw: np.ndarray, type_name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 array of ``shape`` (PyTorch order) from a tensor's stored data."""
    n = int(np.prod(shape))
    if type_name == "Q8_0":
        values = dequantize_q8_0(_blocks(raw, Q8_0_BLOCK_BYTES, n, type_name))
    elif type_name == "Q4_1":
        values = dequantize_q4_1(_blocks(raw, Q4_1_BLOCK_BYTES, n, type_name))
    elif type_name == "F32":
        values = np.ascontiguousarray(raw).view(np.float32).reshape(-1)
    elif type_name == "F16":
        values = np.ascontiguousarray(raw).view(np.float16).reshape(-1).astype(np.float32)
    elif type_name == "BF16":  # the top 16 bits of a float32
        bits = np.ascontiguousarray(raw).view(np.uint16).reshape(-1).astype(np.uint32) << 16
        values = bits.view(np.float32)
    else:
        raise GGUFError(
            f"tensor type {type_name} is not supported; supported: {', '.join(SUPPORTED_TYPES)}"
        )
    if values.size != n:
        raise GGUFError(f"a {type_name} tensor of shape {shape} holds {values.size} values")
    return values.reshape(shape)


def read_tensor(info: TensorInfo) -> torch.Tensor:
    """The tensor as float32 in PyTorch shape (a copy, independent of the mapped file)."""
    return torch.from_numpy(np.array(dequantize(info.raw, info.type_name, info.shape)))


# ------------------------------------------------------------------ the container


def _field_value(field: Any) -> Any:
    value = field.contents()
    if isinstance(value, list) and len(value) > _MAX_FIELD_ITEMS:
        raise GGUFError(f"metadata {field.name} has {len(value)} items: too many")
    return value


def open_gguf(path: str | Path) -> GGUFFile:
    """Read a GGUF file's metadata and tensor table (the tensor data stays memory-mapped).

    Raises :class:`GGUFError` for a missing, truncated or corrupt file and for tensors of a
    type this project cannot dequantize (the message names the supported ones).
    """
    from gguf import GGUFReader  # imported here: the package is only needed for GGUF files

    path = Path(path)
    if not path.is_file():
        raise GGUFError(f"{path} does not exist")
    try:
        reader = GGUFReader(path, "r")
        metadata = {name: _field_value(field) for name, field in reader.fields.items()}
        tensors = {}
        for t in reader.tensors:
            shape = tuple(int(s) for s in reversed(t.shape.tolist()))
            tensors[t.name] = TensorInfo(t.name, t.tensor_type.name, shape, t.data)
    except GGUFError:
        raise
    except Exception as exc:  # the reader raises ValueError, IndexError, struct errors...
        raise GGUFError(
            f"{path.name} is not a readable GGUF file (truncated or corrupt?): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    unsupported = sorted({t.type_name for t in tensors.values()} - set(SUPPORTED_TYPES))
    if unsupported:
        raise GGUFError(
            f"{path.name} stores tensors as {', '.join(unsupported)}, which this project cannot "
            f"dequantize; supported: {', '.join(SUPPORTED_TYPES)}"
        )
    return GGUFFile(path=path, metadata=metadata, tensors=tensors)
