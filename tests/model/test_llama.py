"""The Llama of core/model/llama.py, loaded from GGUF, against Hugging Face transformers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.model import InputError
from core.model.gguf import GGUFError
from core.model.llama import Llama, LlamaConfig
from core.model.llama_gguf import load_llama_gguf, unpermute_rotary_rows
from tests.model.tiny_llama import _permute, tiny_hf_llama, write_gguf

PROMPT = torch.tensor([[5, 17, 93, 2, 40, 41, 11, 70, 3]])  # (1, 9)


@pytest.fixture(params=[True, False], ids=["tied", "untied"])
def pair(request, tmp_path):
    """(Glassbox Llama from the GGUF file, transformers' Llama with the same decoded weights)."""
    hf = tiny_hf_llama(tie=request.param)
    reference = write_gguf(hf, tmp_path / "tiny.gguf")
    hf.load_state_dict(reference)
    ours = load_llama_gguf(tmp_path / "tiny.gguf", cache_dir=tmp_path / "cache")
    return ours, hf


def _greedy(model: Llama, ids: torch.Tensor, n: int, cached: bool) -> list[int]:
    out = ids[0].tolist()
    cache = model.new_kv_cache() if cached else None
    fed = ids
    for _ in range(n):
        logits = model(fed, kv_cache=cache, last_only=True)
        out.append(int(logits[0, -1].argmax()))
        fed = torch.tensor([out[-1:]]) if cached else torch.tensor([out])
    return out[ids.shape[1] :]


def test_config_from_metadata(pair):
    ours, hf = pair
    c = ours.config
    assert (c.n_layer, c.n_head, c.n_kv_head, c.n_embd, c.ffn_hidden, c.vocab_size) == (
        2,
        4,
        2,
        64,
        96,
        96,
    )
    assert c.rope_theta == 10_000.0
    assert c.tie_embeddings == hf.config.tie_word_embeddings
    assert ours.num_parameters() == c.num_parameters() == hf.num_parameters()


def test_logits_match_transformers(pair):
    ours, hf = pair
    with torch.no_grad():
        expected = hf(PROMPT).logits
        got = ours(PROMPT)
    assert got.shape == expected.shape == (1, 9, 96)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_cached_steps_match_transformers(pair):
    ours, hf = pair
    cache = ours.new_kv_cache()
    with torch.no_grad():
        expected = hf(PROMPT).logits
        first = ours(PROMPT[:, :4], kv_cache=cache)
        rest = [ours(PROMPT[:, i : i + 1], kv_cache=cache) for i in range(4, 9)]
    assert cache.length == 9
    torch.testing.assert_close(torch.cat([first, *rest], dim=1), expected, atol=1e-4, rtol=0)


def test_greedy_tokens_match_transformers(pair):
    ours, hf = pair
    with torch.no_grad():
        hf_tokens = hf.generate(PROMPT, max_new_tokens=12, do_sample=False, pad_token_id=0)
        expected = hf_tokens[0, PROMPT.shape[1] :].tolist()
        assert _greedy(ours, PROMPT, 12, cached=True) == expected
        assert _greedy(ours, PROMPT, 12, cached=False) == expected


def test_attention_weights_and_hidden_states_match_transformers(pair):
    ours, hf = pair
    hf.config._attn_implementation = "eager"
    with torch.no_grad():
        ref = hf(PROMPT, output_attentions=True, output_hidden_states=True)
        out = ours(PROMPT, capture=True)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (1, 4, 9, 9)
    for got, expected in zip(out.attentions, ref.attentions, strict=True):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert len(out.hidden_states) == 3
    for got, expected in zip(out.hidden_states[:2], ref.hidden_states[:2], strict=True):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    # transformers' last hidden state has the final norm applied; ours is before it
    torch.testing.assert_close(
        ours.norm(out.hidden_states[-1]), ref.hidden_states[-1], atol=1e-5, rtol=0
    )
    torch.testing.assert_close(out.logits, ours(PROMPT), atol=1e-5, rtol=0)
    # the logit lens reads any layer's hidden state through the final norm and the head
    torch.testing.assert_close(ours.logit_lens(out.hidden_states[-1]), out.logits)
    torch.testing.assert_close(
        ours.token_embedding_matrix(), hf.get_input_embeddings().weight, atol=0, rtol=0
    )


def test_explicit_and_fast_attention_agree_with_a_cache():
    torch.manual_seed(3)
    model = Llama(LlamaConfig(vocab_size=50, context_length=32, n_layer=2, n_head=6, n_kv_head=2,
                              n_embd=48, ffn_hidden=64)).eval()  # fmt: skip
    ids = torch.randint(0, 50, (2, 7))
    fast_cache, slow_cache = model.new_kv_cache(2), model.new_kv_cache(2)
    with torch.no_grad():
        model(ids[:, :3], kv_cache=fast_cache)
        model(ids[:, :3], kv_cache=slow_cache, capture=True)
        fast = model(ids[:, 3:], kv_cache=fast_cache)
        slow = model(ids[:, 3:], kv_cache=slow_cache, capture=True)
    torch.testing.assert_close(slow.logits, fast, atol=1e-5, rtol=0)
    weights = slow.attentions[0]  # (B, H, 4 new queries, 7 keys)
    assert weights.shape == (2, 6, 4, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 6, 4))
    assert weights[:, :, 0, 4:].abs().max() == 0  # query at position 3 sees keys 0..3 only
    assert [model.kv_head_of(h) for h in range(6)] == [0, 0, 0, 1, 1, 1]


def test_unpermute_inverts_llama_cpp_permutation():
    w = np.arange(8 * 3 * 5, dtype=np.float32).reshape(24, 5)  # 3 heads of width 8
    restored = unpermute_rotary_rows(torch.from_numpy(_permute(w, 3)), 3)
    np.testing.assert_array_equal(restored.numpy(), w)


def test_second_load_reads_the_cache(tmp_path):
    hf = tiny_hf_llama()
    write_gguf(hf, tmp_path / "tiny.gguf")
    first = load_llama_gguf(tmp_path / "tiny.gguf", cache_dir=tmp_path / "cache")
    (cached,) = (tmp_path / "cache").glob("*.safetensors")
    (tmp_path / "tiny.gguf").write_bytes(b"")  # same name, but the cache key (size) changes
    with pytest.raises(GGUFError, match="not a readable GGUF"):
        load_llama_gguf(tmp_path / "tiny.gguf", cache_dir=tmp_path / "cache")
    write_gguf(hf, tmp_path / "again.gguf")
    load_llama_gguf(tmp_path / "again.gguf", cache_dir=tmp_path / "cache")
    again = (tmp_path / "cache").glob("again*.safetensors")
    second = load_llama_gguf(tmp_path / "again.gguf", cache_dir=tmp_path / "cache")
    assert cached.is_file() and len(list(again)) == 1
    assert second.head.weight is second.tok_emb.weight  # still tied after the cache
    torch.testing.assert_close(second(PROMPT), first(PROMPT), atol=0, rtol=0)


def test_corrupt_cache_is_rebuilt(tmp_path):
    write_gguf(tiny_hf_llama(), tmp_path / "tiny.gguf")
    first = load_llama_gguf(tmp_path / "tiny.gguf", cache_dir=tmp_path / "cache")
    (cached,) = (tmp_path / "cache").glob("*.safetensors")
    cached.write_bytes(b"garbage")
    again = load_llama_gguf(tmp_path / "tiny.gguf", cache_dir=tmp_path / "cache")
    torch.testing.assert_close(again(PROMPT), first(PROMPT), atol=0, rtol=0)
    assert cached.stat().st_size > 1000


def test_other_architecture_is_refused(tmp_path):
    write_gguf(tiny_hf_llama(), tmp_path / "x.gguf", arch="falcon")
    with pytest.raises(GGUFError, match="holds a 'falcon' model; .* architectures llama"):
        load_llama_gguf(tmp_path / "x.gguf")


def test_bad_input(pair):
    ours, _ = pair
    with pytest.raises(InputError, match="out of range"):
        ours(torch.tensor([[96]]))
    with pytest.raises(InputError, match="empty"):
        ours(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(InputError, match="exceed the context length 64"):
        ours(torch.zeros(1, 65, dtype=torch.long))


def test_cached_load_does_not_parse_the_gguf_again(tmp_path, monkeypatch):
    import core.model.llama_gguf as loader
    from tests.model.tiny_llama import CHATML

    write_gguf(tiny_hf_llama(vocab_size=259), tmp_path / "t.gguf", tokenizer=True)
    first, meta = loader.read_llama_gguf(tmp_path / "t.gguf", cache_dir=tmp_path / "c")
    assert meta["tokenizer.chat_template"] == CHATML and len(meta["tokenizer.ggml.tokens"]) == 259

    def refuse(path):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(loader, "open_gguf", refuse)
    second, meta_again = loader.read_llama_gguf(tmp_path / "t.gguf", cache_dir=tmp_path / "c")
    assert meta_again == meta
    torch.testing.assert_close(second(PROMPT), first(PROMPT), atol=0, rtol=0)
