"""``python -m core.training``: a run saved to the store with points and checkpoint artifacts."""

from __future__ import annotations

import pytest

from core.model import file_sha256, load_checkpoint
from core.store import RunKind, get_artifacts, get_points, list_runs, open_database
from core.training.cli import main


@pytest.fixture
def tokenizer_file(small_bpe, tmp_path):
    path = tmp_path / "tok.json"
    small_bpe.save(path)
    return path


def corpus_file(tmp_path, small_docs):
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(small_docs), encoding="utf-8")
    return path


def cli_args(tmp_path, tokenizer_file, small_docs, *extra):
    return [
        "--corpus", str(corpus_file(tmp_path, small_docs)), "--tokenizer", str(tokenizer_file),
        "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--context-length", "16",
        "--steps", "6", "--batch-size", "4", "--warmup-steps", "2", "--eval-every", "3",
        "--eval-windows", "4", "--sample-every", "6", "--sample-tokens", "4",
        "--checkpoint-every", "3", "--out", str(tmp_path / "run"), "--log-every", "3", *extra,
    ]  # fmt: skip


def test_cli_saves_the_run_to_the_store(tmp_path, tokenizer_file, small_docs, capsys):
    assert (
        main(cli_args(tmp_path, tokenizer_file, small_docs, "--name", "tiny", "--tag", "test")) == 0
    )
    assert "finished: 6 steps" in capsys.readouterr().out
    session_factory = open_database()
    with session_factory() as session:
        (run,) = list_runs(session).runs
        assert (run.kind, run.name, run.status) == (RunKind.TRAINING, "tiny", "finished")
        assert run.config["model"]["n_embd"] == 16 and run.config["train"]["steps"] == 6
        assert run.summary["steps"] == 6 and run.summary["val_loss"] > 0
        assert sorted(run.tag_names) == ["cli", "test"]
        points = get_points(session, run.id)
        assert [x for x, _ in points["train_loss"]] == [1, 2, 3, 4, 5, 6]
        assert [x for x, _ in points["val_loss"]] == [3, 6]
        assert len(points["lr"]) == 6
        checkpoints = get_artifacts(session, run.id, kind="checkpoint")
        assert {a.meta["role"] for a in checkpoints} == {"last", "best"}
        for artifact in checkpoints:
            assert artifact.sha256 == file_sha256(artifact.path)
            assert load_checkpoint(artifact.path).config.n_embd == 16
        assert len(get_artifacts(session, run.id, kind="sample")) == 1


def test_cli_without_store_and_resume(tmp_path, tokenizer_file, small_docs):
    args = cli_args(tmp_path, tokenizer_file, small_docs, "--no-store")
    assert main(args) == 0
    more = [a if a != "6" else "9" for a in args]  # --steps 9, continuing the same folder
    assert main([*more, "--resume", str(tmp_path / "run")]) == 0
    assert load_checkpoint(tmp_path / "run" / "last.safetensors").extra["step"] == 9


def test_cli_refuses_a_corpus_shorter_than_a_window(tmp_path, tokenizer_file):
    short = tmp_path / "short.txt"
    short.write_text("tiny", encoding="utf-8")
    with pytest.raises(Exception, match="at least"):
        main(
            [
                "--corpus",
                str(short),
                "--tokenizer",
                str(tokenizer_file),
                "--no-store",
                "--context-length",
                "16",
            ]
        )


def test_cli_start_token_is_stored_in_the_checkpoint(
    tmp_path, tokenizer_file, small_docs, small_bpe
):
    args = cli_args(tmp_path, tokenizer_file, small_docs, "--no-store", "--start-token", "eot")
    assert main(args) == 0
    config = load_checkpoint(tmp_path / "run" / "last.safetensors").config
    eot = small_bpe.encoding().encode_single_token("<|endoftext|>")
    assert config.start_token == eot
    # resuming with other windows than the checkpoint's is refused
    plain = [a for a in args if a not in ("--start-token", "eot")]
    with pytest.raises(SystemExit, match="start_token"):
        main([*plain, "--resume", str(tmp_path / "run")])


def test_cli_fine_tunes_from_a_checkpoint(tmp_path, tokenizer_file):
    corpus = tmp_path / "rep.txt"
    corpus.write_text("the cat sat on the mat. " * 300, encoding="utf-8")
    base = [
        "--corpus", str(corpus), "--tokenizer", str(tokenizer_file), "--n-layer", "1",
        "--n-head", "2", "--n-embd", "16", "--context-length", "16", "--steps", "30",
        "--batch-size", "4", "--lr", "0.01", "--warmup-steps", "2", "--eval-every", "30",
        "--eval-windows", "4", "--sample-every", "0", "--dropout", "0.0",
    ]  # fmt: skip
    assert main([*base, "--out", str(tmp_path / "base"), "--name", "base"]) == 0
    tuned = [a if a != "30" else "3" for a in base]  # 3 steps, shape flags ignored:
    tuned[tuned.index("--n-embd") + 1] = "64"  # the checkpoint's shape wins
    args = [*tuned, "--init-from", str(tmp_path / "base" / "last.safetensors"), "--name", "ft"]
    assert main([*args, "--out", str(tmp_path / "ft")]) == 0
    with open_database()() as session:
        runs = {r.name: r for r in list_runs(session).runs}
        first = {n: get_points(session, r.id)["train_loss"][0][1] for n, r in runs.items()}
        assert runs["ft"].config["model"] == runs["base"].config["model"]
        assert runs["ft"].config["args"]["init_from"].endswith("last.safetensors")
    assert first["ft"] < first["base"] - 1.0  # it starts from the trained weights
    assert load_checkpoint(tmp_path / "ft" / "last.safetensors").config.n_embd == 16


def test_the_default_tokenizer_is_the_built_in_models_as_on_the_training_page(tmp_path, small_docs):
    from core.tokenization import BPETokenizer
    from core.training.builtin import TOKENIZER_FILE
    from core.training.cli import build_parser, resolve_tokenizer
    from core.training.page import TrainForm, tokenizer_arg

    assert build_parser().parse_args([]).tokenizer == "builtin" == TrainForm().tokenizer
    enc, spec = resolve_tokenizer("builtin", None)
    _, page_spec = resolve_tokenizer(tokenizer_arg("builtin"), None)
    assert enc.n_vocab == BPETokenizer.load(TOKENIZER_FILE).n_vocab == 4096
    assert spec == page_spec  # the same checkpoint spec as a run started from the page
    args = cli_args(tmp_path, "unused", small_docs, "--no-store")
    del args[2:4]  # no --tokenizer: the default
    assert main(args) == 0
    assert load_checkpoint(tmp_path / "run" / "last.safetensors").config.vocab_size == 4096
