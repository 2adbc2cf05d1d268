"""One head number by number equals the model's own attention (GPT and Llama, GQA included)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.attention import (
    EXPLAIN_MAX_TOKENS,
    AttentionInputError,
    capture_attention,
    explain_head,
    head_layout,
)
from core.attention.explain import model_attention_output
from core.model import GPT, GPTConfig
from core.model.llama import Llama, LlamaConfig

IDS = [5, 17, 3, 5, 17, 9, 2]


def tiny_gpt(qkv_bias: bool) -> GPT:
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=32, context_length=16, n_layer=2, n_head=4, n_embd=32, qkv_bias=qkv_bias
    )
    model = GPT(config).eval()
    if qkv_bias:  # the GPT initialises biases at zero: make them count
        with torch.no_grad():
            for block in model.blocks:
                block.attn.qkv.bias.normal_(0, 0.5)
                block.attn.proj.bias.normal_(0, 0.5)
    return model


def tiny_llama() -> Llama:
    torch.manual_seed(1)
    config = LlamaConfig(
        vocab_size=32, context_length=16, n_layer=2, n_head=6, n_kv_head=2, n_embd=48,
        ffn_hidden=64, rope_theta=100.0,
    )  # fmt: skip
    model = Llama(config).eval()
    with torch.no_grad():  # Llama's nn.Linear default init is small; make the maps sharp
        for p in model.parameters():
            p.mul_(3.0)
    return model


MODELS = {
    "gpt": lambda: tiny_gpt(False),
    "gpt-bias": lambda: tiny_gpt(True),
    "llama-gqa": tiny_llama,
}


@pytest.mark.parametrize("name", MODELS)
def test_steps_reproduce_the_model(name):
    model = MODELS[name]()
    lay = head_layout(model)
    captured = capture_attention(model, IDS)  # (L, H, T, T)
    for layer in range(lay.n_layer):
        steps = [explain_head(model, IDS, layer, h) for h in range(lay.n_head)]
        reference = model_attention_output(model, IDS, layer)
        for h, s in enumerate(steps):
            np.testing.assert_allclose(s.weights, captured[layer, h], atol=1e-6)
            np.testing.assert_allclose(s.output, reference, atol=1e-5)
            np.testing.assert_allclose(s.scaled, s.scores / math.sqrt(s.head_dim), rtol=1e-6)
            assert np.isneginf(s.masked[np.triu_indices(len(IDS), 1)]).all()
            np.testing.assert_allclose(s.weights.sum(-1), 1.0, rtol=1e-6)
            np.testing.assert_allclose(s.context, s.weights @ s.v, atol=1e-6)
            np.testing.assert_allclose(s.q, _q_from_x(model, s), atol=1e-5)
            hd = s.head_dim
            np.testing.assert_array_equal(s.concat[:, h * hd : (h + 1) * hd], s.context)


def _q_from_x(model, s):
    """Independent re-derivation of the (rotated) queries from x and W_q."""
    q = s.x @ s.w_q
    if isinstance(model, GPT) and model.blocks[s.layer].attn.qkv.bias is not None:
        d = model.config.n_embd
        b = model.blocks[s.layer].attn.qkv.bias[:d].detach().numpy()
        q = q + b[s.head * s.head_dim : (s.head + 1) * s.head_dim]
    if s.angles is None:
        return q
    cos, sin = np.cos(s.angles), np.sin(s.angles)  # (T, hd/2): pairs (i, i + hd/2)
    a, b = q[:, : q.shape[1] // 2], q[:, q.shape[1] // 2 :]
    return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=1)


def test_llama_shows_the_rotation_and_the_shared_kv_head():
    model = tiny_llama()
    s = explain_head(model, IDS, 1, 5)
    assert s.kv_head == 1 and s.q_before_rotation is not None
    np.testing.assert_allclose(s.q_before_rotation, s.x @ s.w_q, atol=1e-5)
    np.testing.assert_allclose(s.q_before_rotation[0], s.q[0], atol=1e-6)  # angle 0
    assert not np.allclose(s.q_before_rotation[1:], s.q[1:], atol=1e-3)
    other = explain_head(model, IDS, 1, 3)  # heads 3, 4, 5 read key/value head 1
    np.testing.assert_array_equal(other.k, s.k)
    np.testing.assert_array_equal(other.v, s.v)
    assert head_layout(model).sharing(5) == (3, 4, 5)
    assert head_layout(model).sharing(0) == (0, 1, 2)


def test_gpt_steps_have_no_rotation():
    s = explain_head(tiny_gpt(False), IDS, 0, 2)
    assert s.q_before_rotation is None and s.angles is None and s.kv_head == 2


@pytest.mark.parametrize(
    ("layer", "head", "ids", "message"),
    [
        (2, 0, IDS, "layer 2 does not exist"),
        (0, 4, IDS, "head 4 does not exist"),
        (0, 0, [1] * (EXPLAIN_MAX_TOKENS + 1), "at most"),
    ],
)
def test_bad_requests_are_refused(layer, head, ids, message):
    with pytest.raises(AttentionInputError, match=message):
        explain_head(tiny_gpt(False), ids, layer, head)


@pytest.mark.parametrize(("name", "n_panels"), [("gpt", 11), ("llama-gqa", 13)])
def test_step_panels_follow_the_book_and_show_the_rotation_for_llama(name, n_panels):
    from core.attention.explain import step_panels, steps_intro

    model = MODELS[name]()
    s = explain_head(model, IDS, 1, 5 if name == "llama-gqa" else 2)
    tokens = [f"t{i}" for i in range(len(IDS))]
    panels = step_panels(s, tokens, head_layout(model).n_head)
    assert len(panels) == n_panels
    assert panels[0].title == "1. x" and panels[0].matrix is s.x and panels[0].columns is None
    assert panels[-1].title == "11. Projected: ·W_o" and panels[-1].matrix is s.output
    by_title = {p.title: p for p in panels}
    assert by_title["8. Softmax"].matrix is s.weights and not by_title["8. Softmax"].diverging
    assert by_title["5. Q·Kᵀ"].columns == tokens
    hd = s.head_dim
    assert by_title["6. ÷ √d"].text == f"scaled by 1/√{hd} = {1 / math.sqrt(hd):.4f}"
    assert by_title["10. Heads concatenated"].columns[hd] == "h1.0"
    if name == "llama-gqa":
        assert by_title["2b. Rotation angles"].matrix is s.angles
        assert by_title["3. K = rotate(x·W_k)"].text.startswith("keys of key/value head 1")
    else:
        assert "2b. Rotation angles" not in by_title
    assert steps_intro(s, 7, 0.0).endswith("(identical, to the last bit).")
    assert steps_intro(s, 7, 3e-7).endswith("(largest difference 3.0e-07).")
