"""The real SmolLM2-135M-Instruct file: Glassbox's Llama against transformers loading the same GGUF.

transformers reads the GGUF with its own loader (``from_pretrained(..., gguf_file=...)``,
which dequantizes with the ``gguf`` package and undoes the Q/K permutation itself), so the
two sides share only the file. Both models load once per test session (``tests/conftest.py``).
"""

from __future__ import annotations

import pytest
import torch

from core.tokenization.gguf_tokenizer import gguf_encoding, render_chat

pytestmark = pytest.mark.slow

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    ",
    "Once upon a time, in a small village,",
]
CHATS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Name three primary colours."},
    ],
]


@pytest.fixture(scope="module")
def models(smollm2_model, smollm2_reference, smollm2_gguf):
    gguf = smollm2_gguf
    encoding = gguf_encoding(gguf.metadata, "smollm2")
    return smollm2_model, smollm2_reference, encoding, gguf.metadata["tokenizer.chat_template"]


def _ids(encoding, text: str) -> torch.Tensor:
    return torch.tensor([encoding.encode(text, allowed_special="all")])


def _greedy(model, ids: torch.Tensor, n: int, stop: int) -> list[int]:
    cache, fed, out = model.new_kv_cache(), ids, []
    for _ in range(n):
        token = int(model(fed, kv_cache=cache, last_only=True)[0, -1].argmax())
        out.append(token)
        if token == stop:
            break
        fed = torch.tensor([[token]])
    return out


def test_shape_matches_the_file(models):
    ours, reference, _, _ = models
    c = ours.config
    assert (c.n_layer, c.n_embd, c.n_head, c.n_kv_head, c.ffn_hidden) == (30, 576, 9, 3, 1536)
    assert (c.vocab_size, c.rope_theta, c.eos_token_id) == (49152, 100_000.0, 2)
    assert ours.num_parameters() == reference.num_parameters() == 134_515_008


def test_logits_agree(models):
    ours, reference, encoding, _ = models
    with torch.inference_mode():
        for text in PROMPTS:
            ids = _ids(encoding, text)
            expected = reference(ids).logits
            got = ours(ids)
            torch.testing.assert_close(got, expected, atol=2e-4, rtol=0)


def test_greedy_continuations_and_chat_agree(models):
    ours, reference, encoding, template = models
    texts = PROMPTS + [render_chat(template, chat) for chat in CHATS]
    with torch.inference_mode():
        for text in texts:
            ids = _ids(encoding, text)
            expected = reference.generate(
                ids, max_new_tokens=16, do_sample=False, eos_token_id=2, pad_token_id=2
            )[0, ids.shape[1] :].tolist()
            assert _greedy(ours, ids, 16, stop=2) == expected, text


def test_answers_paris(models):
    ours, _, encoding, template = models
    ids = _ids(encoding, render_chat(template, CHATS[0]))
    with torch.inference_mode():
        reply = encoding.decode(_greedy(ours, ids, 16, stop=2))
    assert reply == "The capital of France is Paris.<|im_end|>"
