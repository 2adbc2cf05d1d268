"""Dense and GELU: PyTorch's own nn.Linear and GELU give the same numbers."""

from __future__ import annotations

import math

import pytest
import torch

from core.model.layers import Dense, FeedForward, gelu


@pytest.mark.parametrize("bias", [True, False])
def test_dense_equals_nn_linear_with_the_same_weights(bias):
    torch.manual_seed(0)
    dense, linear = Dense(48, 20, bias=bias), torch.nn.Linear(48, 20, bias=bias)
    assert dense.weight.shape == linear.weight.shape == (20, 48)  # stored (out, in)
    with torch.no_grad():
        linear.weight.copy_(dense.weight)
        if bias:
            dense.bias.normal_()
            linear.bias.copy_(dense.bias)
    x = torch.randn(2, 5, 48)
    torch.testing.assert_close(dense(x), linear(x), atol=0, rtol=0)


def test_dense_with_bf16_weights_keeps_the_activations_dtype():
    torch.manual_seed(0)
    dense = Dense(64, 32)
    with torch.no_grad():
        dense.bias.normal_()
    reference = (
        torch.nn.functional.linear(torch.ones(1, 64).bfloat16(), dense.weight.bfloat16()).float()
        + dense.bias
    )
    dense.weight.data = dense.weight.data.bfloat16()  # what GPT.cast_matrices does
    out = dense(torch.ones(1, 64))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, reference, atol=0, rtol=0)


def test_gelu_is_the_tanh_formula_and_the_feed_forward_widens_4x():
    x = torch.linspace(-4, 4, 81, dtype=torch.float64)
    formula = 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    torch.testing.assert_close(gelu(x), formula)
    ffn = FeedForward(8)
    assert ffn.fc.weight.shape == (32, 8) and ffn.proj.weight.shape == (8, 32)
