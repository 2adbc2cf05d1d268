"""The Training page's model: bounds, estimate, job flags, uploads, the live view of a run."""

from __future__ import annotations

import pytest

from core.corpus import CorpusError
from core.model import GPT, GPTConfig, save_checkpoint
from core.store import RunKind, RunStatus, add_artifact, open_database, record_run
from core.training import page as tp


def test_estimate_counts_parameters_flops_memory_and_time():
    form = tp.TrainForm(preset="tiny", steps=100, batch_size=4)
    est = tp.estimate(form, vocab_size=4096, flops_per_s=1e9)
    cfg = GPTConfig(vocab_size=4096, context_length=64, n_layer=2, n_head=2, n_embd=64)
    assert est.parameters == cfg.num_parameters() == 365_952
    assert est.tokens == 100 * 4 * 64
    assert est.flops == cfg.training_flops_per_token() * est.tokens
    assert est.seconds == pytest.approx(est.flops / 1e9)
    # 16 bytes per parameter (weights, gradients, two AdamW moments) + activations + logits
    per_layer = 64 * 4 * 64 * (34 + 5 * 2 * 64 / 64) * 2
    assert est.memory_bytes == int(16 * 365_952 + 2 * per_layer + 2 * 4 * 4 * 64 * 4096)


def test_form_problems_name_what_to_change():
    assert tp.form_problems(tp.TrainForm(), 4096, 1e9) == []
    bad = tp.TrainForm(preset="custom", n_layer=0, n_head=3, n_embd=64, steps=10, warmup_steps=10)
    assert tp.form_problems(bad, 4096, 1e9) == [
        "n layer must be from 1 to 12",
        "width 64 must be a multiple of the 3 heads",
        "warmup (10 steps) must be shorter than the run",
    ]
    assert tp.form_problems(tp.TrainForm(corpora=()), 4096, 1e9) == [
        "choose at least one corpus or upload a .txt file"
    ]
    huge = tp.TrainForm(preset="custom", n_layer=12, n_head=12, n_embd=768, context_length=1024,
                        steps=100_000, batch_size=256)  # fmt: skip
    (cost, memory) = tp.form_problems(huge, 50257, 1e10)
    assert cost.startswith("this job would cost") and "lower the steps" in cost
    assert memory.startswith("this job would need about") and "GiB" in memory


def test_job_spec_is_the_command_line_of_the_form(tmp_path):
    form = tp.TrainForm(tokenizer="gpt2", steps=30, eval_every=50, name=" mine ")
    spec = tp.job_spec(form, ["builtin", str(tmp_path / "a.txt")])
    args = list(spec.args)
    assert args[:4] == ["--corpus", "builtin", "--corpus", str(tmp_path / "a.txt")]
    flags = dict(zip(args[::2], args[1::2], strict=True))
    assert flags["--tokenizer"] == "gpt2" and flags["--n-layer"] == "2"
    assert flags["--eval-every"] == "30"  # never beyond the run
    assert (flags["--lr"], flags["--min-lr"]) == ("0.003", "0.0003")
    assert flags["--name"] == "mine" and spec.label == "mine, 30 steps"
    tuned = tp.job_spec(form, ["builtin"], init_from=tmp_path / "last.safetensors")
    assert "--init-from" in tuned.args and "--tokenizer" not in tuned.args
    assert tp.tokenizer_arg("builtin").endswith("assets/builtin/tokenizer.json")


def test_finetune_form_takes_the_checkpoint_shape(tmp_path):
    cfg = GPTConfig(vocab_size=300, context_length=24, n_layer=3, n_head=2, n_embd=16)
    path = tmp_path / "last.safetensors"
    save_checkpoint(path, GPT(cfg), tokenizer={"kind": "encoding", "name": "gpt2"})
    form, vocab = tp.finetune_form(tp.TrainForm(), path)
    assert vocab == 300 and form.shape() == (3, 2, 16, 24) and form.preset == "custom"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("a.txt", b"", "is empty"),
        ("a.txt", b"  \n ", "is empty"),
        ("a.txt", b"PK\x03\x04\x00\x00zip", "NUL bytes"),
        ("a.txt", "caf\u00e9".encode("latin-1"), "not valid UTF-8"),
        ("a.txt", b"x" * 2001, "limit on this server is"),
        ("a.pdf", b"text", "is not a .txt file"),
    ],
)
def test_uploads_that_cannot_be_trained_on(name, data, message):
    with pytest.raises(CorpusError, match=message):
        tp.check_upload(name, data, max_bytes=2000)


def test_an_accepted_upload_is_saved_once_by_content(monkeypatch):
    text = tp.check_upload("notes.TXT", "héllo wörld\n".encode(), max_bytes=2000)
    assert text == "héllo wörld\n"
    first, second = tp.save_upload(text), tp.save_upload(text)
    assert first == second and first.read_text(encoding="utf-8") == text
    monkeypatch.setenv(tp.UPLOAD_MAX_ENV, "0.5")
    assert tp.upload_limit() == 2**19
    monkeypatch.setenv(tp.UPLOAD_MAX_ENV, "lots")
    assert tp.upload_limit() == 20 * 2**20


def test_live_view_reads_progress_curves_samples_and_eta():
    factory = open_database()
    with factory.begin() as session:
        run = record_run(
            session, kind=RunKind.TRAINING, name="live", status=RunStatus.RUNNING,
            config={"model": {"context_length": 16}, "train": {"steps": 100, "batch_size": 4},
                    "args": {"steps": 100}},
            series={"train_loss": [(1, 5.0), (2, 4.0)], "val_loss": [(2, 4.5)]},
            summary={"progress": {"step": 2, "steps": 100, "tokens_per_s": 64.0}},
        )  # fmt: skip
        for step in (1, 2):
            add_artifact(session, run.id, name=f"sample@{step}", kind="sample",
                         meta={"step": step}, content=f"text {step}".encode())  # fmt: skip
        run_id = run.id
    with factory() as session:
        view = tp.live_view(session, run_id)
    assert (view.status, view.step, view.steps, view.fraction) == ("running", 2, 100, 0.02)
    assert view.eta_s == pytest.approx(98 * 4 * 16 / 64.0)
    assert view.samples == [(2, "text 2"), (1, "text 1")]
    assert view.val_loss == [(2.0, 4.5)] and not view.resumable


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "–"), (5.4, "5 s"), (75, "1 min 15 s"), (4000, "1 h 06 min")]
)
def test_format_duration(seconds, text):
    assert tp.format_duration(seconds) == text
