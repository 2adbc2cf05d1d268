"""Quantization against torch's own quantizers and llama.cpp's reference dequantizer."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch
from gguf.constants import GGMLQuantizationType

from core.linalg import LinalgError
from core.linalg.quant import (
    block_count,
    error,
    histogram,
    matrices,
    next_token_effect,
    open_blocks,
    quantize,
)
from core.model import load_checkpoint
from core.model.gguf import TensorInfo
from core.registry import BUILTIN_CHECKPOINT

# torch's qint8 tensors (the independent reference here) warn that they are deprecated
pytestmark = pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")


@pytest.fixture(scope="module")
def builtin():
    return load_checkpoint(BUILTIN_CHECKPOINT).model.eval().requires_grad_(False)


def _matrix(seed: int = 0) -> torch.Tensor:
    return torch.randn(8, 64, generator=torch.Generator().manual_seed(seed)) * 0.05


def test_per_tensor_int8_equals_torch_quantize_per_tensor():
    w = _matrix()
    q = quantize(w, 8)
    scale = float(w.abs().max()) / 127
    ref = torch.quantize_per_tensor(w, scale, 0, torch.qint8)
    assert torch.equal(q.codes, ref.int_repr().float())
    torch.testing.assert_close(q.values, ref.dequantize())
    assert q.scales.shape == (1,) and q.bits_per_weight == 8 + 16 / w.numel()


def test_per_group_int8_equals_torch_quantize_per_channel_on_groups():
    w = _matrix(1)
    q = quantize(w, 8, group=32)
    groups = w.reshape(-1, 32)
    scales = groups.abs().amax(1).double() / 127
    ref = torch.quantize_per_channel(groups, scales, torch.zeros(16, dtype=torch.long), 0,
                                     torch.qint8)  # fmt: skip
    assert torch.equal(q.codes.reshape(-1, 32), ref.int_repr().float())
    torch.testing.assert_close(q.values.reshape(-1, 32), ref.dequantize())
    assert q.scales.shape == (16,) and q.bits_per_weight == 8.5


def test_int4_worked_example():
    q = quantize(torch.tensor([[0.7, -0.3, 0.14, 0.0]]), 4)
    assert q.codes.tolist() == [[7.0, -3.0, 1.0, 0.0]]
    torch.testing.assert_close(q.values, torch.tensor([[0.7, -0.3, 0.1, 0.0]]))
    e = error(torch.tensor([[0.7, -0.3, 0.14, 0.0]]), q.values)
    assert e.max_abs == pytest.approx(0.04, abs=1e-6)
    assert e.rmse == pytest.approx(0.02, abs=1e-6)


def test_per_group_beats_per_tensor_with_an_outlier():
    w = _matrix(2)
    w[0, 0] = 3.0  # one outlier stretches the per-tensor grid
    per_tensor, per_group = quantize(w, 4), quantize(w, 4, group=32)
    assert error(w, per_group.values).rmse < error(w, per_tensor.values).rmse / 3
    counts, edges = histogram(w, bins=10)
    assert counts.sum() == w.numel() and edges[0] == pytest.approx(float(w.min()))


def test_bad_requests_are_refused():
    with pytest.raises(LinalgError, match="8 or 4"):
        quantize(_matrix(), 3)
    with pytest.raises(LinalgError, match="must divide the row length 64"):
        quantize(_matrix(), 8, group=48)
    with pytest.raises(LinalgError, match="a matrix"):
        quantize(torch.zeros(4), 8)


def test_effect_on_the_builtin_models_next_token(builtin):
    ids = torch.tensor([[4095, 10, 20, 30, 40]])
    name = "blocks.1.ffn.fc.weight"
    assert matrices(builtin)[name] == (1024, 256)
    w = builtin.get_parameter(name)
    before = w.clone()
    same = next_token_effect(builtin, ids, name, w.clone())
    assert same.kl == pytest.approx(0.0, abs=1e-9) and same.overlap == 10 and same.same_top1
    probs = torch.softmax(builtin(ids)[0, -1].double(), -1)
    assert same.top_before[0][1] == pytest.approx(float(probs.max()))
    coarse = next_token_effect(builtin, ids, name, quantize(w, 4).values)
    fine = next_token_effect(builtin, ids, name, quantize(w, 8, group=32).values)
    assert coarse.kl > fine.kl > 0
    assert torch.equal(builtin.get_parameter(name), before)  # the shared model is unchanged
    # the tied head: replacing it changes the embeddings too (one parameter)
    head = builtin.get_parameter("head.weight")
    assert next_token_effect(builtin, ids, "head.weight", quantize(head, 4).values).kl > 0
    with pytest.raises(LinalgError, match="no parameter"):
        next_token_effect(builtin, ids, "nope.weight", w)


def _q4_1_info(values: np.ndarray) -> TensorInfo:
    raw = gguf.quants.quantize(values, GGMLQuantizationType.Q4_1)
    return TensorInfo("t", "Q4_1", values.shape, raw)


def test_q4_1_blocks_opened_up_equal_llama_cpps_reference():
    values = np.random.default_rng(0).normal(size=(2, 64)).astype(np.float32)
    info = _q4_1_info(values)
    blocks = open_blocks(info, 0, 4)
    assert block_count(info) == 4 and [(b.row, b.col) for b in blocks] == [
        (0, 0), (0, 32), (1, 0), (1, 32),
    ]  # fmt: skip
    reference = gguf.quants.dequantize(info.raw, GGMLQuantizationType.Q4_1).reshape(-1)
    for b in blocks:
        assert all(0 <= c <= 15 for c in b.codes)
        assert np.allclose(b.values, [b.scale * c + b.minimum for c in b.codes], atol=1e-6)
        assert np.array_equal(np.float32(b.values), reference[b.index * 32 : b.index * 32 + 32])
    assert np.abs(np.array([b.values for b in blocks]).reshape(2, 64) - values).max() < 0.3
    with pytest.raises(LinalgError, match="block must be from 0 to 3"):
        open_blocks(info, 4)


def test_smollm2_file_blocks_match_the_loaded_model(smollm2_model, smollm2_gguf):
    f = smollm2_gguf
    info = f.tensors["blk.3.ffn_down.weight"]
    assert info.type_name == "Q4_1" and info.shape == (576, 1536)
    blocks = open_blocks(info, 100, 3)
    weight = smollm2_model.blocks[3].ffn.down.weight
    for b in blocks:
        assert b.row == b.index * 32 // 1536
        torch.testing.assert_close(
            torch.tensor(b.values), weight[b.row, b.col : b.col + 32], atol=0, rtol=0
        )
    q8 = open_blocks(f.tensors["token_embd.weight"], 0, 1)[0]
    assert q8.minimum is None and all(-128 <= c <= 127 for c in q8.codes)
    with pytest.raises(LinalgError, match="not in quantized blocks"):
        open_blocks(f.tensors["blk.0.attn_norm.weight"], 0)
