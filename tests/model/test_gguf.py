"""GGUF reading and dequantization, checked against llama.cpp's own ``gguf`` package."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType, GGUFWriter
from gguf.quants import dequantize as reference_dequantize
from gguf.quants import quantize as reference_quantize

from core.model.gguf import (
    GGUFError,
    dequantize,
    dequantize_q4_1,
    dequantize_q8_0,
    open_gguf,
    read_tensor,
)

Q = GGMLQuantizationType


def _weights(rows: int, cols: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((rows, cols)) * rng.uniform(0.01, 3.0, (rows, 1))).astype(
        np.float32
    )


def test_q8_0_block_by_hand():
    block = np.zeros(34, np.uint8)
    block[:2] = np.frombuffer(np.float16(0.5).tobytes(), np.uint8)
    block[2:4] = np.array([2, -4], np.int8).view(np.uint8)
    out = dequantize_q8_0(block[None])
    assert out.shape == (32,)
    assert out[:3].tolist() == [1.0, -2.0, 0.0]


def test_q4_1_block_by_hand():
    block = np.zeros(20, np.uint8)
    block[0:2] = np.frombuffer(np.float16(0.25).tobytes(), np.uint8)
    block[2:4] = np.frombuffer(np.float16(-1.0).tobytes(), np.uint8)
    block[4] = 0x3A  # weight 0 has code 10, weight 16 has code 3
    out = dequantize_q4_1(block[None])
    assert out[0] == 0.25 * 10 - 1.0
    assert out[16] == 0.25 * 3 - 1.0
    assert out[1] == -1.0


@pytest.mark.parametrize("qtype", [Q.Q8_0, Q.Q4_1])
@pytest.mark.parametrize("shape", [(4, 32), (3, 96), (7, 64)])
def test_synthetic_blocks_equal_reference(qtype, shape):
    packed = reference_quantize(_weights(*shape, seed=sum(shape)), qtype)  # (rows, bytes)
    ours = dequantize(packed, qtype.name, shape)
    np.testing.assert_array_equal(ours, reference_dequantize(packed, qtype))


@pytest.mark.parametrize("qtype", [Q.Q8_0, Q.Q4_1])
def test_random_bytes_equal_reference(qtype):
    """Any bit pattern (odd scales, extreme codes) decodes exactly as llama.cpp's does."""
    block_bytes = {Q.Q8_0: 34, Q.Q4_1: 20}[qtype]
    rng = np.random.default_rng(7)
    raw = rng.integers(0, 256, (5, 3 * block_bytes), dtype=np.uint8)
    raw[:, 1::block_bytes] &= 0x3B  # keep the float16 scales finite
    if qtype == Q.Q4_1:
        raw[:, 3::block_bytes] &= 0x3B
    ours = dequantize(raw, qtype.name, (5, 96))
    np.testing.assert_array_equal(ours, reference_dequantize(raw, qtype))


def test_float_passthrough():
    x = _weights(2, 8, seed=1)
    np.testing.assert_array_equal(dequantize(x, "F32", (2, 8)), x)
    half = x.astype(np.float16)
    np.testing.assert_array_equal(dequantize(half, "F16", (2, 8)), half.astype(np.float32))
    bf16 = torch.from_numpy(x).bfloat16()
    raw = bf16.view(torch.int16).numpy().view(np.uint16)
    np.testing.assert_array_equal(dequantize(raw, "BF16", (2, 8)), bf16.float().numpy())


def test_unsupported_type_names_the_supported_ones():
    with pytest.raises(GGUFError, match="Q4_K is not supported; supported: F32, F16, BF16"):
        dequantize(np.zeros(144, np.uint8), "Q4_K", (256,))


def test_wrong_byte_count_is_corrupt():
    with pytest.raises(GGUFError, match="corrupt"):
        dequantize(np.zeros(33, np.uint8), "Q8_0", (32,))


def _write(path, tensors: dict[str, tuple[np.ndarray, Q]], arch: str = "llama") -> None:
    writer = GGUFWriter(path, arch)
    for name, (values, qtype) in tensors.items():
        if values.dtype == np.uint8:  # already the stored bytes
            writer.add_tensor(name, values, raw_dtype=qtype)
        elif qtype in (Q.F32, Q.F16):
            writer.add_tensor(name, values.astype(np.float32 if qtype == Q.F32 else np.float16))
        else:
            writer.add_tensor(name, reference_quantize(values, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_file_round_trip(tmp_path):
    w8, w4, norm = _weights(6, 64, 1), _weights(4, 32, 2), _weights(1, 32, 3)[0]
    path = tmp_path / "m.gguf"
    _write(path, {"a": (w8, Q.Q8_0), "b": (w4, Q.Q4_1), "n": (norm, Q.F32)})
    f = open_gguf(path)
    assert f.architecture == "llama"
    assert {n: (t.type_name, t.shape) for n, t in f.tensors.items()} == {
        "a": ("Q8_0", (6, 64)),
        "b": ("Q4_1", (4, 32)),
        "n": ("F32", (32,)),
    }
    a = read_tensor(f.tensors["a"])
    assert a.dtype == torch.float32
    np.testing.assert_array_equal(
        a.numpy(), reference_dequantize(reference_quantize(w8, Q.Q8_0), Q.Q8_0)
    )
    np.testing.assert_array_equal(read_tensor(f.tensors["n"]).numpy(), norm)
    assert np.abs(read_tensor(f.tensors["b"]).numpy() - w4).max() < 0.5  # 4 bits: coarse


def test_truncated_file(tmp_path):
    path = tmp_path / "m.gguf"
    _write(path, {"a": (_weights(64, 64, 1), Q.Q8_0)})
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 7):
        bad = tmp_path / f"cut{cut}.gguf"
        bad.write_bytes(data[:cut])
        with pytest.raises(GGUFError, match="not a readable GGUF file"):
            open_gguf(bad)


def test_not_gguf_and_missing(tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"PK\x03\x04 this is a zip, not a model" * 10)
    with pytest.raises(GGUFError, match="not a readable GGUF file"):
        open_gguf(bad)
    with pytest.raises(GGUFError, match="does not exist"):
        open_gguf(tmp_path / "absent.gguf")


def test_unsupported_tensor_type_in_file(tmp_path):
    path = tmp_path / "m.gguf"
    _write(path, {"a": (np.zeros((2, 144), np.uint8), Q.Q4_K)})  # 2 rows of 256 weights
    with pytest.raises(GGUFError, match="Q4_K, which this project cannot dequantize"):
        open_gguf(path)


@pytest.mark.slow
def test_real_file_blocks_equal_reference(smollm2_gguf):
    """Every quantized tensor of the real SmolLM2 file decodes exactly as llama.cpp's does."""
    f = smollm2_gguf  # open_gguf(SMOLLM2_GGUF), once per session (tests/conftest.py)
    types = {}
    for info in f.tensors.values():
        types[info.type_name] = types.get(info.type_name, 0) + 1
        if info.type_name == "F32":
            continue
        rows = info.raw[:64]  # the first rows of each matrix: every block format, fast
        ours = dequantize(rows, info.type_name, (rows.shape[0], info.shape[-1]))
        np.testing.assert_array_equal(ours, reference_dequantize(rows, Q[info.type_name]))
    assert types == {"Q4_1": 210, "Q8_0": 1, "F32": 61}
