"""``python -m core.tokenization``: train to a file and to the run store, encode, errors."""

from __future__ import annotations

from core.tokenization import BPETokenizer
from core.tokenization.__main__ import main


def test_train_to_file_and_store_then_encode(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat; the dog sat on the log. " * 40, encoding="utf-8")
    out = tmp_path / "tok.json"
    assert main(["train", str(corpus), "--vocab-size", "270", "--out", str(out), "--store"]) == 0
    printed = capsys.readouterr()
    assert "merge 13/13" in printed.err
    assert "bpe-gpt4-270: 13 merges" in printed.out and "saved as run 1" in printed.out
    assert BPETokenizer.load(out).n_vocab == 270
    for tokenizer in (str(out), "run:1"):
        assert main(["encode", "--tokenizer", tokenizer, " the cat sat"]) == 0
        assert capsys.readouterr().out.startswith("4 tokens, 12 chars (3.00/token)")
    assert main(["encode", "--tokenizer", "gpt2", "--allow-special", "a<|endoftext|>"]) == 0
    assert "ids: [64, 50256]" in capsys.readouterr().out


def test_errors_are_one_line_with_status_2(tmp_path, capsys):
    assert main(["train", "builtin", "--vocab-size", "100"]) == 2
    assert capsys.readouterr().err == (
        "error: vocab size 100 is too small: the 256 single bytes and 1 special token(s) "
        "already need 257 ids\n"
    )
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe")
    assert main(["train", str(bad)]) == 2
    assert "is not valid UTF-8 text" in capsys.readouterr().err
    assert main(["encode", "--tokenizer", str(tmp_path / "missing.json"), "x"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["encode", "--tokenizer", "gpt2"]) == 2
