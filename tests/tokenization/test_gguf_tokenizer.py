"""GGUF tokenizers as tiktoken encodings, and chat templates, against Hugging Face."""

from __future__ import annotations

import pytest

from core.tokenization import TokenizerError
from core.tokenization.gguf_tokenizer import (
    ChatTemplateError,
    _byte_alphabet,
    gguf_encoding,
    render_chat,
)
from tests.model.smollm2 import SMOLLM2_GGUF

TEXTS = [
    "Hello world",
    "def f(x):\n    return x**2  # square\n\n\n\tpass",
    "東京は日本の首都です。한국어 텍스트",
    "😀👍🏽 emoji 🇫🇷 flags and ZWJ 👩‍👩‍👧",
    "a  1 22  333\t\t4 x1y2 ٣٤ ½",
    "I'm sure you'll see they've GONE'S",
    "<|im_start|>user\nHi<|im_end|>\n<|endoftext|><file_sep>",
    "   leading\n\n  \n trailing   ",
    "x = 3.14159e-10; y=[1,2,3]; print(f'{x:>10}')",
    "control \x04 chars !\x04! and\x1d\x7f end",
    "",
]

# Byte tokens in GPT-2's alphabet: ids 2.. for every byte; merges make "ab", "abc", " a".
_ALPHA = {b: c for c, b in _byte_alphabet().items()}


def _tiny_metadata(merges=("a b", "ab c", "Ġ a"), pre="smollm"):
    tokens = ["<|endoftext|>", "<|im_end|>", *(_ALPHA[b] for b in range(256))]
    tokens += ["ab", "abc", "Ġa"][: len(merges)]
    return {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": pre,
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": [3, 3, *[1] * (len(tokens) - 2)],
        "tokenizer.ggml.merges": list(merges),
    }


def test_tiny_vocabulary_encodes_with_merges_and_specials():
    enc = gguf_encoding(_tiny_metadata(), "tiny")
    assert enc.n_vocab == 261
    byte = {b: 2 + b for b in range(256)}
    assert enc.encode("abc a12") == [259, 260, byte[ord("1")], byte[ord("2")]]
    assert enc.encode("x<|im_end|>", allowed_special="all") == [byte[ord("x")], 1]
    assert enc.decode([259, 260, 1]) == "abc a<|im_end|>"
    assert enc.special_tokens_set == {"<|endoftext|>", "<|im_end|>"}


def test_unsupported_tokenizers_are_refused():
    with pytest.raises(TokenizerError, match="pre-tokenizer 'qwen2' is not supported"):
        gguf_encoding(_tiny_metadata(pre="qwen2"), "x")
    meta = _tiny_metadata() | {"tokenizer.ggml.model": "llama"}
    with pytest.raises(TokenizerError, match="only byte-level BPE"):
        gguf_encoding(meta, "x")
    with pytest.raises(TokenizerError, match="ranks cannot drive tiktoken"):
        gguf_encoding(_tiny_metadata(merges=("ab c", "a b")), "x")
    meta = _tiny_metadata()
    meta["tokenizer.ggml.tokens"] = [t for t in meta["tokenizer.ggml.tokens"] if t != _ALPHA[0x85]]
    meta["tokenizer.ggml.token_type"] = meta["tokenizer.ggml.token_type"][:-1]
    with pytest.raises(TokenizerError, match="continuation byte 0x85"):
        gguf_encoding(meta, "x")
    with pytest.raises(TokenizerError, match="carries no tokenizer"):
        gguf_encoding({"tokenizer.ggml.model": "gpt2"}, "x")


CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def test_render_chat_by_hand():
    text = render_chat(CHATML, [{"role": "user", "content": "Hi"}])
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_template_sandbox_and_bad_messages():
    escape = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(ChatTemplateError, match="cannot be rendered"):
        render_chat(escape, [{"role": "user", "content": "x"}])
    mutate = "{{ messages.append({'role': 'user'}) }}"
    with pytest.raises(ChatTemplateError, match="cannot be rendered"):
        render_chat(mutate, [{"role": "user", "content": "x"}])
    refuse = "{{ raise_exception('roles must alternate') }}"
    with pytest.raises(ChatTemplateError, match="refused the messages: roles must alternate"):
        render_chat(refuse, [{"role": "user", "content": "x"}])
    with pytest.raises(ChatTemplateError, match="cannot be rendered"):
        render_chat("{% for %}", [{"role": "user", "content": "x"}])
    with pytest.raises(ChatTemplateError, match="role 'tool'"):
        render_chat(CHATML, [{"role": "tool", "content": "x"}])
    with pytest.raises(ChatTemplateError, match="has no text"):
        render_chat(CHATML, [{"role": "user", "content": 3}])
    with pytest.raises(ChatTemplateError, match="at most 100,000"):
        render_chat(CHATML, [{"role": "user", "content": "x" * 100_001}])


# ------------------------------------------------------------------ the real SmolLM2 file


@pytest.fixture(scope="module")
def smollm2(smollm2_gguf, transformers_reads_gguf_once):
    from tokenizers import Tokenizer, pre_tokenizers
    from transformers import AutoTokenizer

    gguf = smollm2_gguf  # opened once per session (tests/conftest.py)
    ours = gguf_encoding(gguf.metadata, "smollm2")
    with transformers_reads_gguf_once():  # the reference model's parse of the file, reused
        plain = AutoTokenizer.from_pretrained(SMOLLM2_GGUF.parent, gguf_file=SMOLLM2_GGUF.name)
    # transformers' GGUF converter ignores `pre`; SmolLM2's own tokenizer.json (and
    # llama.cpp's "smollm") split every digit off first. Same vocabulary and merges.
    original = Tokenizer.from_str(plain.backend_tokenizer.to_str())
    original.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    return ours, plain, original, gguf.metadata["tokenizer.chat_template"]


@pytest.mark.slow
@pytest.mark.parametrize("text", TEXTS)
def test_ids_equal_transformers(smollm2, text):
    ours, plain, original, _ = smollm2
    ids = ours.encode(text, allowed_special="all")
    assert ids == original.encode(text).ids
    if not any(c.isspace() and n.isdigit() for c, n in zip(text, text[1:], strict=False)):
        assert ids == plain.encode(text)  # the two differ only on whitespace before a digit
    assert ours.decode(ids) == original.decode(ids, skip_special_tokens=False)


@pytest.mark.slow
def test_special_tokens_and_size(smollm2):
    ours, plain, _, _ = smollm2
    assert ours.n_vocab == len(plain) == 49152
    assert ours.encode("<|im_start|><|im_end|>", allowed_special="all") == [1, 2]
    assert ours.eot_token == 0
    assert len(ours.special_tokens_set) == 17


@pytest.mark.slow
@pytest.mark.parametrize("generation", [True, False])
@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "What is the capital of France?"}],
        [
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Hi!"},
            {"role": "assistant", "content": "Bonjour !"},
            {"role": "user", "content": "<b>{{ not a template }}</b>"},
        ],
    ],
)
def test_chat_template_equals_transformers(smollm2, messages, generation):
    _, plain, _, template = smollm2
    ours = render_chat(template, messages, add_generation_prompt=generation)
    expected = plain.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)
    assert ours == expected
