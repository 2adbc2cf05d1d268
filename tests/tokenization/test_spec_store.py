"""Saving and loading trained tokenizers: JSON files, checkpoint specs, the run store."""

from __future__ import annotations

import json

import pytest

from core.corpus import builtin_corpus
from core.store import RunKind, RunStatus, get_points, get_run, record_run
from core.tokenization import (
    BPETokenizer,
    TokenizerError,
    get_encoding,
    list_tokenizer_runs,
    load_tokenizer,
    load_tokenizer_run,
    save_tokenizer_run,
    tokenizer_spec,
    train_bpe,
)

SAMPLE = "The interpreter reads a line: x = [1, 2, 3] # 你好 🙂 <|endoftext|> done"


@pytest.fixture(scope="module")
def tok() -> BPETokenizer:
    return train_bpe(builtin_corpus()[:30000], 700, "gpt4", name="tiny")


def test_json_round_trip(tok, tmp_path):
    path = tmp_path / "tok.json"
    digest = tok.save(path)
    back = BPETokenizer.load(path)
    assert back == tok
    assert back.sha256() == digest == tok.sha256()
    ids = back.encoding().encode(SAMPLE, allowed_special="all")
    assert ids == tok.encoding().encode(SAMPLE, allowed_special="all")
    assert back.encoding().decode(ids) == SAMPLE


def test_tiktoken_spec_loads_the_real_encoding():
    spec = tokenizer_spec("gpt2")
    assert spec == {"kind": "tiktoken", "name": "gpt2"}
    assert load_tokenizer(json.loads(json.dumps(spec))) is get_encoding("gpt2")
    with pytest.raises(TokenizerError, match="unknown encoding 'gpt5'"):
        tokenizer_spec("gpt5")


def test_bpe_spec_by_path_is_sha256_checked(tok, tmp_path):
    path = tmp_path / "sub" / "tok.json"
    spec = tokenizer_spec(tok, path)
    assert path.is_file() and "json" not in spec
    assert spec["kind"] == "bpe" and spec["name"] == "tiny" and spec["sha256"] == tok.sha256()
    assert load_tokenizer(spec).encode("x = 1") == tok.encoding().encode("x = 1")
    path.write_text(path.read_text().replace('"tiny"', '"evil"'))
    with pytest.raises(TokenizerError, match="was changed or replaced"):
        load_tokenizer(spec)
    path.unlink()
    with pytest.raises(TokenizerError, match="is missing; copy it back"):
        load_tokenizer(spec)


def test_bpe_spec_inline_and_refusals(tok, tmp_path):
    spec = tokenizer_spec(tok)
    assert load_tokenizer(json.loads(json.dumps(spec))).n_vocab == 700
    other = train_bpe(builtin_corpus()[:10000], 300)
    path = tmp_path / "tok.json"
    other.save(path)
    with pytest.raises(TokenizerError, match="already holds a different tokenizer"):
        tokenizer_spec(tok, path)
    with pytest.raises(TokenizerError, match="not a tokenizer spec"):
        load_tokenizer({"kind": "sentencepiece"})
    with pytest.raises(TokenizerError, match="no database"):
        load_tokenizer({"kind": "run", "run_id": 3})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('{"format": "other"}', "not a Glassbox BPE tokenizer"),
        ('{"format": "glassbox-bpe", "version": 9}', "version 9 is not supported"),
        ('{"format": "glassbox-bpe", "version": 1, "merges": [[999, 1, 2]]}', "not yet defined"),
        ('{"format": "glassbox-bpe", "version": 1, "merges": []}', "malformed"),
    ],
)
def test_bad_tokenizer_files(text, message):
    with pytest.raises(TokenizerError, match=message):
        BPETokenizer.from_json(text)


def test_run_store_round_trip(tok, session_factory):
    with session_factory.begin() as s:
        run_id = save_tokenizer_run(s, tok, corpus_name="builtin")
    with session_factory.begin() as s:
        back = load_tokenizer_run(s, run_id)
        run = get_run(s, run_id)
        assert run.kind == "tokenizer" and run.status == "finished"
        assert run.config["pattern"] == "gpt4" and run.config["vocab_size"] == 700
        assert run.summary["n_vocab"] == 700
        curve = get_points(s, run_id, "chars_per_token")["chars_per_token"]
        assert curve[0][0] == 257 and curve[-1] == (
            700,
            pytest.approx(tok.chars_per_token()[-1]),
        )
        infos = list_tokenizer_runs(s)
        assert [i.run_id for i in infos] == [run_id]
        assert infos[0].label == f"tiny (run {run_id}, 700 tokens)"
        spec = {"kind": "run", "run_id": run_id, "sha256": tok.sha256()}
        assert load_tokenizer(spec, session=s).n_vocab == 700
    assert back == tok
    with session_factory.begin() as s, pytest.raises(TokenizerError, match="does not exist"):
        load_tokenizer_run(s, run_id + 100)
    with session_factory.begin() as s:  # a run of another kind
        other = record_run(s, kind=RunKind.SAMPLING, name="x", status=RunStatus.FINISHED)
    with session_factory.begin() as s, pytest.raises(TokenizerError, match="not a saved tokenizer"):
        load_tokenizer_run(s, other.id)
