"""Tests of the GPT module: config round trip, attention paths agree, capture, KV cache."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from core.model import (
    GPT,
    CacheFullError,
    ConfigError,
    GPTConfig,
    InputError,
    generate,
    gpt2_config,
)
from core.model.attention import causal_attention_bf16, causal_mask, explicit_attention

TINY = GPTConfig(vocab_size=61, context_length=24, n_layer=2, n_head=4, n_embd=32)


def tiny_model(seed: int = 0, **overrides) -> GPT:
    torch.manual_seed(seed)
    return GPT(dataclasses.replace(TINY, **overrides)).eval()


def ids(b: int, t: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, TINY.vocab_size, (b, t), generator=g)


def test_config_json_round_trip_is_identical():
    cfg = GPTConfig(
        vocab_size=4096, context_length=256, n_layer=4, n_head=8, n_embd=256, dropout=0.1
    )
    assert GPTConfig.from_json(cfg.to_json()) == cfg
    assert GPTConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_embd": 30, "n_head": 4}, "not divisible"),
        ({"n_layer": 0}, "positive"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(TINY, **kwargs)


def test_config_start_token_is_checked_and_optional_in_old_json():
    cfg = dataclasses.replace(TINY, start_token=TINY.vocab_size - 1)
    assert GPTConfig.from_json(cfg.to_json()) == cfg
    old = {k: v for k, v in TINY.to_dict().items() if k != "start_token"}  # older checkpoints
    assert GPTConfig.from_dict(old).start_token is None
    for bad in (TINY.vocab_size, -1, True, "0"):
        with pytest.raises(ConfigError, match="start_token"):
            dataclasses.replace(TINY, start_token=bad)


def test_config_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="n_embed"):
        GPTConfig.from_dict({"n_embed": 3})


@pytest.mark.parametrize("tie", [True, False])
def test_parameter_count_matches_config_formula(tie):
    model = tiny_model(tie_embeddings=tie, qkv_bias=True)
    assert model.num_parameters() == model.config.num_parameters()


def test_gpt2_124m_parameter_count():
    assert gpt2_config("gpt2").num_parameters() == 124_439_808


def test_training_flops_per_token_of_the_builtin_shape():
    cfg = GPTConfig(vocab_size=4096, context_length=256, n_layer=4, n_head=8, n_embd=256)
    assert cfg.num_parameters() == 4_270_592
    assert cfg.matmul_parameters() == 4_270_592 - 256 * 256
    assert cfg.training_flops_per_token() == 6 * 4_205_056 + 12 * 4 * 256 * 256
    untied = dataclasses.replace(cfg, tie_embeddings=False)
    assert untied.matmul_parameters() == cfg.matmul_parameters()  # the extra table is a lookup


def test_causal_mask_offset():
    mask = causal_mask(2, 4, 2, torch.device("cpu"))
    assert mask.tolist() == [[True, True, True, False], [True, True, True, True]]


@pytest.mark.parametrize(("t_query", "t_key", "start"), [(5, 5, 0), (1, 6, 5), (3, 7, 4)])
def test_explicit_attention_matches_sdpa(t_query, t_key, start):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, t_query, 8, generator=g)
    k = torch.randn(2, 3, t_key, 8, generator=g)
    v = torch.randn(2, 3, t_key, 8, generator=g)
    mask = causal_mask(t_query, t_key, start, q.device)
    ours, weights = explicit_attention(q, k, v, mask, 0.0)
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, t_query))


def test_bf16_training_attention_matches_sdpa_in_values_and_gradients():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 40, 16, generator=g, requires_grad=True) for _ in range(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = causal_attention_bf16(q, k, v, 0.0)
    assert ours.dtype == torch.bfloat16
    reference = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(ours.float(), reference, atol=0.03, rtol=0.02)
    upstream = torch.randn(reference.shape, generator=g)
    ours_grads = torch.autograd.grad(ours.float(), (q, k, v), upstream)
    reference_grads = torch.autograd.grad(reference, (q, k, v), upstream)
    for got, want in zip(ours_grads, reference_grads, strict=True):
        torch.testing.assert_close(got, want, atol=0.05, rtol=0.05)


def test_bf16_autocast_forward_uses_the_bf16_path_and_keeps_causality():
    model = tiny_model().train()
    x = ids(2, 10)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x)
        changed = x.clone()
        changed[:, 6:] = (changed[:, 6:] + 1) % model.config.vocab_size
        logits_changed = model(changed)
    torch.testing.assert_close(logits[:, :6], logits_changed[:, :6])
    assert not torch.allclose(logits[:, 6:], logits_changed[:, 6:])
    with torch.no_grad():
        fp32 = model.eval()(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model(x)
    torch.testing.assert_close(bf16.float(), fp32, atol=0.1, rtol=0.05)


@pytest.mark.parametrize("block_bytes", [16 << 20, 4 * 7 * 61])  # one block; blocks of 7 rows
def test_next_token_loss_equals_cross_entropy_of_the_logits(monkeypatch, block_bytes):
    monkeypatch.setattr("core.model.gpt.LOSS_BLOCK_BYTES", block_bytes)
    model = tiny_model()
    assert model.config.vocab_size == 61  # 30 positions: 5 blocks of 7 and one of 2
    x, y = ids(3, 10), ids(3, 10, seed=2)
    loss = model.next_token_loss(x, y)
    (grads,) = torch.autograd.grad(loss, [model.head.weight])
    reference = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
    (reference_grads,) = torch.autograd.grad(reference, [model.head.weight])
    torch.testing.assert_close(loss, reference)
    torch.testing.assert_close(grads, reference_grads)


def test_capture_returns_the_same_logits_and_shapes():
    model = tiny_model()
    x = ids(2, 10)
    with torch.no_grad():
        fast = model(x)
        out = model(x, capture=True)
    torch.testing.assert_close(out.logits, fast, atol=1e-5, rtol=1e-5)
    assert fast.shape == (2, 10, TINY.vocab_size)
    assert len(out.attentions) == TINY.n_layer
    assert all(a.shape == (2, TINY.n_head, 10, 10) for a in out.attentions)
    assert len(out.hidden_states) == TINY.n_layer + 1
    assert all(h.shape == (2, 10, TINY.n_embd) for h in out.hidden_states)
    # causal: no weight above the diagonal, rows sum to one
    upper = torch.triu(torch.ones(10, 10, dtype=torch.bool), diagonal=1)
    assert float(out.attentions[0][..., upper].abs().max()) == 0.0
    torch.testing.assert_close(out.attentions[1].sum(-1), torch.ones(2, TINY.n_head, 10))
    # the logit lens of the last hidden state is the model's output
    torch.testing.assert_close(model.logit_lens(out.hidden_states[-1]), fast, atol=1e-5, rtol=1e-5)


def test_future_tokens_do_not_change_past_logits():
    model = tiny_model()
    a, b = ids(1, 8, seed=2), ids(1, 8, seed=3)
    b[:, :5] = a[:, :5]
    with torch.no_grad():
        torch.testing.assert_close(model(a)[:, :5], model(b)[:, :5])


@pytest.mark.parametrize("tie", [True, False])
def test_kv_cache_forward_matches_full_forward(tie):
    model = tiny_model(tie_embeddings=tie)
    x = ids(2, 12)
    with torch.no_grad():
        full = model(x)
        cache = model.new_kv_cache(2)
        pieces = [model(x[:, :5], kv_cache=cache), model(x[:, 5:6], kv_cache=cache)]
        pieces.append(model(x[:, 6:], kv_cache=cache))  # several tokens after a prefix
    assert cache.length == 12
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


def test_capture_with_cache_gives_rows_over_the_whole_prefix():
    model = tiny_model()
    x = ids(1, 9)
    with torch.no_grad():
        full = model(x, capture=True)
        cache = model.new_kv_cache()
        model(x[:, :6], kv_cache=cache)
        step = model(x[:, 6:], kv_cache=cache, capture=True)
    assert step.attentions[0].shape == (1, TINY.n_head, 3, 9)
    torch.testing.assert_close(
        step.attentions[1], full.attentions[1][:, :, 6:], atol=1e-5, rtol=1e-5
    )


def test_cache_truncate_and_clone_support_rewind_and_branching():
    model = tiny_model()
    x = ids(1, 10)
    with torch.no_grad():
        cache = model.new_kv_cache()
        model(x[:, :7], kv_cache=cache)
        branch = cache.clone()
        cache.truncate(4)
        assert (cache.length, branch.length) == (4, 7)
        rewound = model(x[:, 4:10], kv_cache=cache)
        torch.testing.assert_close(rewound, model(x)[:, 4:], atol=1e-5, rtol=1e-5)
        other = model(x[:, 7:8], kv_cache=branch)  # the branch is untouched by the rewind
        torch.testing.assert_close(other, model(x[:, :8])[:, 7:], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="truncate"):
        cache.truncate(11)


def test_cache_full_and_bad_inputs_raise_clear_errors():
    model = tiny_model()
    with torch.no_grad():
        cache = model.new_kv_cache()
        model(ids(1, 20), kv_cache=cache)
        with pytest.raises(CacheFullError, match="context length"):
            cache.check_room(5)
        with pytest.raises(InputError, match="context length 24"):
            model(ids(1, 5), kv_cache=cache)
        assert cache.length == 20  # a refused call does not advance the cache
        with pytest.raises(InputError, match="out of range"):
            model(torch.tensor([[0, TINY.vocab_size]]))
        with pytest.raises(InputError, match="batch"):
            model(ids(2, 1), kv_cache=model.new_kv_cache(1))
        with pytest.raises(InputError, match="shape"):
            model(torch.tensor([1, 2, 3]))


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_generation_with_cache_equals_without(temperature):
    model = tiny_model()
    prompt = ids(1, 4)
    outs = []
    for use_cache in (True, False):
        g = torch.Generator().manual_seed(7)
        outs.append(
            generate(
                model,
                prompt,
                30,
                temperature=temperature,
                top_k=20,
                generator=g,
                use_cache=use_cache,
            )
        )
    assert outs[0].shape == (1, 34)  # runs past the 24-token context: the window slides
    assert outs[0].tolist() == outs[1].tolist()


def test_generation_keeps_the_start_token_in_front_when_the_window_slides(monkeypatch):
    model = tiny_model()
    start = TINY.vocab_size - 1
    model.config = dataclasses.replace(TINY, start_token=start)
    prompt = torch.cat([torch.tensor([[start]]), ids(1, 4)], dim=1)
    real, fed = model.forward, []
    monkeypatch.setattr(model, "forward", lambda idx, **kw: fed.append(idx) or real(idx, **kw))
    outs = []
    for use_cache in (True, False):
        fed.clear()
        g = torch.Generator().manual_seed(7)
        out = generate(model, prompt, 30, temperature=0.8, generator=g, use_cache=use_cache)
        windows = [x for x in fed if x.shape[1] == TINY.context_length]
        assert windows and all(int(w[0, 0]) == start for w in windows)
        # the last step read the start token and the newest 23 tokens before the last one
        assert windows[-1][0, 1:].tolist() == out[0, -TINY.context_length : -1].tolist()
        outs.append(out.tolist())
    assert outs[0] == outs[1] and len(outs[0][0]) == 35


def test_generation_is_deterministic_for_a_seed_and_varies_across_seeds():
    model = tiny_model()
    prompt = ids(1, 3)

    def run(seed: int) -> list[int]:
        g = torch.Generator().manual_seed(seed)
        return generate(model, prompt, 15, temperature=1.5, generator=g)[0].tolist()

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_dropout_is_active_only_in_training():
    model = tiny_model(dropout=0.5)
    x = ids(1, 6)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))
        model.train()
        assert not torch.allclose(model(x), model(x))


def test_long_prompts_are_cropped_to_the_context_with_a_count():
    from core.model import crop_to_context

    x = torch.arange(30).unsqueeze(0)
    cropped, dropped = crop_to_context(x, TINY.context_length)
    assert dropped == 6 and cropped[0].tolist() == list(range(6, 30))
    assert crop_to_context(x[:, :5], 24)[1] == 0
    model = tiny_model()
    out = generate(model, x % TINY.vocab_size, 3)  # a 30-token prompt into a 24-token model
    assert out.shape == (1, 33)
