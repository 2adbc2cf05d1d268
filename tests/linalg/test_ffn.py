"""The feed-forward as rank-1 units and split across devices, on the built-in GPT, a tiny
Llama and (when its file is present) SmolLM2."""

from __future__ import annotations

import pytest
import torch

from core.linalg import LinalgError
from core.linalg.ffn import (
    ffn_input,
    ffn_of,
    hidden,
    output,
    tensor_parallel,
    top_units,
    unit_contribution,
    unit_reading,
    with_replaced,
    without_unit,
)
from core.model import GPT, load_checkpoint
from core.model.llama import Llama, LlamaConfig
from core.registry import BUILTIN_CHECKPOINT

TINY = dict(
    vocab_size=101, context_length=16, n_layer=2, n_head=4, n_kv_head=2, n_embd=32, ffn_hidden=48
)


@pytest.fixture(scope="module")
def builtin() -> GPT:
    return load_checkpoint(BUILTIN_CHECKPOINT).model.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def tiny_llama() -> Llama:
    torch.manual_seed(0)
    return Llama(LlamaConfig(**TINY)).eval().requires_grad_(False)


def _ids(n: int, vocab: int) -> torch.Tensor:
    return torch.randint(0, vocab, (1, n), generator=torch.Generator().manual_seed(3))


def _check_rank1(model, layer: int) -> None:
    ids = _ids(6, model.config.vocab_size)
    f = ffn_of(model, layer)
    x = ffn_input(model, ids, layer)
    full = f.module(x)
    # the layer written as units gives the module's own output
    torch.testing.assert_close(output(f, x), full, atol=1e-5, rtol=1e-5)
    # ... and the block's output is its input + attention + this feed-forward
    before = model.state_dict()[f"blocks.{layer}.ffn.{f.down_name}"].clone()
    for unit, _ in top_units(f, x, 3):
        change = full - without_unit(f, x, unit)
        contribution = unit_contribution(f, x, unit)
        torch.testing.assert_close(change, contribution, atol=1e-5, rtol=1e-4)
        assert torch.linalg.matrix_rank(contribution) == 1
    assert torch.equal(model.state_dict()[f"blocks.{layer}.ffn.{f.down_name}"], before)


def test_builtin_gpt_unit_removal_is_its_rank1_contribution(builtin):
    _check_rank1(builtin, 2)


def test_tiny_llama_unit_removal_is_its_rank1_contribution(tiny_llama):
    _check_rank1(tiny_llama, 1)


@pytest.mark.parametrize("layer", [0, 1])
def test_ffn_input_is_what_the_block_feeds_its_feed_forward(tiny_llama, builtin, layer):
    for model in (tiny_llama, builtin):
        ids = _ids(5, model.config.vocab_size)
        out = model(ids, capture=True)
        x = ffn_input(model, ids, layer)
        block = model.blocks[layer]
        # block output − FFN output = the residual stream the FFN's norm read
        resid = out.hidden_states[layer + 1][0] - block.ffn(x)
        norm = block.ffn_norm if isinstance(model, Llama) else block.ln2
        torch.testing.assert_close(norm(resid), x, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("devices", [1, 2, 3, 4, 7])
def test_tensor_parallel_equals_the_unsplit_layer(tiny_llama, builtin, devices):
    for model in (tiny_llama, builtin):
        f = ffn_of(model, 1)
        x = ffn_input(model, _ids(4, model.config.vocab_size), 1)
        tp = tensor_parallel(f, x, devices)
        torch.testing.assert_close(tp.reduced, f.module(x), atol=1e-5, rtol=1e-5)
        assert [u for s in tp.shards for u in s.units] == list(range(f.hidden_width))
        assert tp.max_abs_diff < 1e-5
        d, H = f.width, f.hidden_width
        matrices = (3 if f.kind == "swiglu" else 2) * d * H
        bias = 0 if f.kind == "swiglu" else H + devices * d  # up bias split, down replicated
        assert sum(s.bytes_held for s in tp.shards) == 4 * (matrices + bias)
        sent = 0 if devices == 1 else 2 * (devices - 1) * 4 * d * 4 // devices
        assert all(s.bytes_sent == sent for s in tp.shards)


def test_bounds_are_refused(tiny_llama):
    f = ffn_of(tiny_llama, 0)
    x = torch.zeros(2, 32)
    with pytest.raises(LinalgError, match="layer must be from 0 to 1"):
        ffn_of(tiny_llama, 2)
    with pytest.raises(LinalgError, match="hidden unit must be from 0 to 47"):
        unit_contribution(f, x, 48)
    with pytest.raises(LinalgError, match="devices must be from 1 to 16"):
        tensor_parallel(f, x, 17)
    with pytest.raises(LinalgError, match="no parameter named"):
        with_replaced(f.module, {"nope": torch.zeros(1)})


def test_hidden_matches_swiglu_formula(tiny_llama):
    f = ffn_of(tiny_llama, 0)
    x = torch.randn(3, 32, generator=torch.Generator().manual_seed(0))
    m = tiny_llama.blocks[0].ffn
    expected = torch.nn.functional.silu(m.gate(x)) * m.up(x)
    torch.testing.assert_close(hidden(f, x), expected)


def test_smollm2_swiglu_units_and_tensor_parallel(smollm2_model):
    model = smollm2_model  # the session's shared model (tests/conftest.py), read-only
    _check_rank1(model, 10)
    f = ffn_of(model, 10)
    x = ffn_input(model, _ids(5, 49152), 10)
    tp = tensor_parallel(f, x, 4)
    torch.testing.assert_close(tp.reduced, f.module(x), atol=1e-4, rtol=1e-4)
    assert [s.bytes_held for s in tp.shards] == [3 * 576 * 384 * 4] * 4


def test_unit_reading_writes_out_how_h_is_made(builtin, tiny_llama):
    for model, start in ((builtin, "h = gelu(x·W_up[:, 5] + b_5) = gelu("),
                         (tiny_llama, "h = silu(x·W_gate[:, 5]) · (x·W_up[:, 5]) = silu(")):  # fmt: skip
        f = ffn_of(model, 0)
        x = ffn_input(model, _ids(4, model.config.vocab_size), 0)
        text = unit_reading(f, x, 5)
        assert text.startswith(start)
        assert float(text.rsplit("= ", 1)[1]) == pytest.approx(float(hidden(f, x)[-1, 5]), rel=1e-3)
    m = builtin.blocks[0].ffn
    pre = float(m.fc(x := ffn_input(builtin, _ids(4, 4096), 0))[-1, 5])
    assert f"gelu({pre:.4g})" in unit_reading(ffn_of(builtin, 0), x, 5)
