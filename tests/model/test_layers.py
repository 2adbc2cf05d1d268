"""Dense: nn.Linear's layout; its one-row products (native or split) equal F.linear."""

from __future__ import annotations

import pytest
import torch

from core.model import GPT, GPTConfig
from core.model.layers import SPLIT_MATVEC_MIN_WEIGHTS, Dense, split_matvec


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("d_out", [3072, 4097, 7])  # even, odd (a remainder column), tiny
@pytest.mark.parametrize("threads", [2, 3])
def test_split_matvec_equals_mm(d_out, threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(d_out)
        w = torch.randn(d_out, 96, generator=g)  # (out, in)
        x = torch.randn(1, 96, generator=g)
        b = torch.randn(d_out, generator=g)
        with torch.no_grad():
            torch.testing.assert_close(split_matvec(x, w, b), torch.addmm(b, x, w.t()))
            torch.testing.assert_close(split_matvec(x, w, None), x @ w.t())
    finally:
        torch.set_num_threads(before)


def test_dense_splits_only_one_row_products_without_grad(two_threads, monkeypatch, spy):
    monkeypatch.setattr("core.model.layers.native_matvec", lambda *a: None)  # no C compiler
    calls = spy("core.model.layers.split_matvec")
    layer = Dense(512, SPLIT_MATVEC_MIN_WEIGHTS // 512)
    x = torch.randn(1, 1, 512)
    with torch.no_grad():
        one = layer(x)
        layer(torch.randn(3, 512))  # several rows: a GEMM, no split
    assert calls == [(1, 512)]
    assert one.shape == (1, 1, layer.out_features)
    torch.testing.assert_close(one, torch.nn.functional.linear(x, layer.weight, layer.bias))
    layer(x).sum().backward()  # with autograd: the plain product (its backward is known)
    assert calls == [(1, 512)] and layer.weight.grad is not None
    small = Dense(64, 64)
    with torch.no_grad():
        small(torch.randn(1, 64))  # cached anyway: not worth splitting
    assert calls == [(1, 512)]


def test_decoding_with_split_products_matches_the_full_forward(two_threads):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=2049, context_length=16, n_layer=1, n_head=4, n_embd=512)
    model = GPT(config).eval()
    ids = torch.randint(0, config.vocab_size, (1, 8))
    with torch.no_grad():
        full = model(ids)
        cache = model.new_kv_cache()
        steps = [model(ids[:, i : i + 1], kv_cache=cache) for i in range(8)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-4, rtol=1e-4)
