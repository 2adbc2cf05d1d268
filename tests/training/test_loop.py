"""The training loop: learning, evaluation, checkpoints, resume, NaN and stop handling."""

from __future__ import annotations

import math

import pytest
import torch

from core.model import GPT, load_checkpoint
from core.tokenization import tokenizer_spec
from core.training import TrainConfig, Trainer, TrainingCallbacks, prepare_data


class Collect(TrainingCallbacks):
    def __init__(self, stop_after: int | None = None, poison_at: int | None = None, model=None):
        self.steps, self.evals, self.samples, self.checkpoints, self.ends = [], [], [], [], []
        self.stop_after, self.poison_at, self.model = stop_after, poison_at, model

    def on_step(self, info):
        self.steps.append(info)
        if self.poison_at is not None and info.step == self.poison_at:
            with torch.no_grad():
                self.model.ln_f.weight[0] = math.nan

    def on_eval(self, step, train_loss, val_loss):
        self.evals.append((step, train_loss, val_loss))

    def on_sample(self, step, text):
        self.samples.append((step, text))

    def on_checkpoint(self, step, name, path):
        self.checkpoints.append((step, name))

    def on_end(self, result):
        self.ends.append(result)

    def should_stop(self):
        return self.stop_after is not None and len(self.steps) >= self.stop_after


def make_trainer(small_docs, small_bpe, tiny_config, tmp_path, callbacks=(), **overrides):
    enc = small_bpe.encoding()
    data = prepare_data(small_docs, enc, context_length=tiny_config.context_length)
    settings = dict(
        steps=40, batch_size=8, lr=3e-3, min_lr=3e-4, warmup_steps=5, eval_every=20, eval_windows=8
    )
    settings |= dict(sample_every=20, sample_tokens=8, checkpoint_every=20, seed=3)
    torch.manual_seed(0)
    model = GPT(tiny_config)
    return Trainer(
        model,
        data,
        TrainConfig(**(settings | overrides)),
        tmp_path,
        tokenizer_spec=tokenizer_spec(small_bpe),
        encode=enc.encode_ordinary,
        decode=enc.decode,
        callbacks=list(callbacks),
    )


def test_training_lowers_the_loss_and_reports_everything(
    small_docs, small_bpe, tiny_config, tmp_path
):
    seen = Collect()
    trainer = make_trainer(small_docs, small_bpe, tiny_config, tmp_path, [seen])
    result = trainer.run()
    assert result.status == "finished" and result.steps == 40
    assert result.tokens_seen == 40 * 8 * 32
    assert [s.step for s in seen.steps] == list(range(1, 41))
    assert seen.evals[0][0] == 20 and seen.evals[-1][0] == 40
    assert seen.evals[-1][2] < math.log(small_bpe.n_vocab) - 0.5  # well below a uniform guess
    assert seen.steps[-1].lr == pytest.approx(3e-4)
    assert [s for s, _ in seen.samples] == [20, 40] and all(
        isinstance(t, str) for _, t in seen.samples
    )
    assert set(result.checkpoints) == {"last", "best"}
    loaded = load_checkpoint(result.checkpoints["best"])
    assert loaded.extra["step"] == result.best_step
    assert loaded.tokenizer["kind"] == "bpe" and loaded.tokenizer["sha256"] == small_bpe.sha256()
    assert seen.ends == [result]


def test_resume_continues_exactly(small_docs, small_bpe, tiny_config, tmp_path):
    straight = make_trainer(
        small_docs, small_bpe, tiny_config, tmp_path / "a", steps=12, checkpoint_every=6
    )
    straight.run()
    first = make_trainer(
        small_docs, small_bpe, tiny_config, tmp_path / "b", steps=12, checkpoint_every=6
    )
    first.callbacks.append(Collect(stop_after=6))
    assert first.run().status == "interrupted"
    second = make_trainer(
        small_docs, small_bpe, tiny_config, tmp_path / "c", steps=12, checkpoint_every=6
    )
    second.resume(tmp_path / "b")
    assert second.step == 6
    assert second.run().status == "finished"
    for (name, a), b in zip(
        straight.model.state_dict().items(), second.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)


class Killed(Exception):
    """Stands in for SIGKILL at one chosen point of a checkpoint save."""


def test_a_kill_between_the_weights_and_the_state_resumes_from_the_newer_pair(
    small_docs, small_bpe, tiny_config, tmp_path, monkeypatch
):
    from pathlib import Path

    from core.training.loop import LAST, PENDING_STATE, STATE
    from core.training.state import trainer_state_step

    straight = make_trainer(
        small_docs, small_bpe, tiny_config, tmp_path / "a", steps=12, checkpoint_every=6
    )
    straight.run()
    real_replace = Path.replace

    def replace(self, target):  # the process dies after the weights of step 12 land
        if self.name == PENDING_STATE and trainer_state_step(self) == 12:
            raise Killed
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", replace)
    first = make_trainer(
        small_docs, small_bpe, tiny_config, tmp_path / "b", steps=12, checkpoint_every=6
    )
    with pytest.raises(Killed):
        first.run()
    monkeypatch.undo()
    folder = tmp_path / "b"
    assert load_checkpoint(folder / LAST).extra["step"] == 12
    assert trainer_state_step(folder / STATE) == 6  # without the fix: resume at 6 on 12's weights
    second = make_trainer(
        small_docs, small_bpe, tiny_config, tmp_path / "c", steps=12, checkpoint_every=6
    )
    second.resume(folder)
    assert second.step == 12 and trainer_state_step(folder / STATE) == 12
    for index, a in straight.optimizer.state_dict()["state"].items():
        b = second.optimizer.state_dict()["state"][index]
        torch.testing.assert_close(a["exp_avg_sq"], b["exp_avg_sq"], msg=str(index))


def test_a_state_that_does_not_match_the_weights_is_refused(
    small_docs, small_bpe, tiny_config, tmp_path
):
    import shutil

    from core.model import CheckpointError
    from core.training.loop import STATE

    for name, steps in (("a", 4), ("b", 8)):
        make_trainer(small_docs, small_bpe, tiny_config, tmp_path / name, steps=steps).run()
    shutil.copy(tmp_path / "a" / STATE, tmp_path / "b" / STATE)
    second = make_trainer(small_docs, small_bpe, tiny_config, tmp_path / "c", steps=12)
    with pytest.raises(CheckpointError, match="from step 4 but"):
        second.resume(tmp_path / "b")


def test_resuming_a_state_from_the_old_weight_layout_is_refused(
    small_docs, small_bpe, tiny_config, tmp_path
):
    from safetensors import safe_open
    from safetensors.torch import save_file

    from core.model import CheckpointError
    from core.training.loop import STATE

    first = make_trainer(small_docs, small_bpe, tiny_config, tmp_path / "a", steps=4)
    first.run()
    state = tmp_path / "a" / STATE
    with safe_open(str(state), framework="pt") as handle:
        meta = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    del meta["weight_layout"]  # what format-1 era states looked like
    save_file(tensors, str(state), metadata=meta)
    second = make_trainer(small_docs, small_bpe, tiny_config, tmp_path / "b", steps=8)
    with pytest.raises(CheckpointError, match="older Glassbox"):
        second.resume(tmp_path / "a")


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(
    small_docs, small_bpe, tiny_config, tmp_path
):
    trainer = make_trainer(
        small_docs, small_bpe, tiny_config, tmp_path, checkpoint_every=4, eval_every=4
    )
    seen = Collect(poison_at=6, model=trainer.model)
    trainer.callbacks.append(seen)
    result = trainer.run()
    assert result.status == "failed"
    assert "non-finite at step 7" in result.message and "last good checkpoint" in result.message
    assert result.steps == 6
    kept = load_checkpoint(result.checkpoints["last"])
    assert kept.extra["step"] == 4
    assert all(bool(torch.isfinite(p).all()) for p in kept.model.parameters())


def test_bf16_autocast_trains(small_docs, small_bpe, tiny_config, tmp_path):
    trainer = make_trainer(
        small_docs, small_bpe, tiny_config, tmp_path, steps=6, eval_every=6, sample_every=0
    )
    trainer.config = TrainConfig(**(trainer.config.to_dict() | {"precision": "bf16"}))
    result = trainer.run()
    assert result.status == "finished" and math.isfinite(result.val_loss)
    assert trainer.model.head.weight.dtype == torch.float32  # master weights stay fp32


def test_attention_learns_a_previous_token_head():
    """Copying the previous token is only possible by attending to it: a head must form."""
    import torch.nn.functional as F

    from core.model import GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=16, context_length=16, n_layer=1, n_head=2, n_embd=32))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(80):
        x = torch.randint(0, 16, (32, 16), generator=g)
        logits = model(x)[:, 1:]  # predict x[t-1] at position t
        loss = F.cross_entropy(logits.flatten(0, 1), x[:, :-1].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.3
    with torch.no_grad():
        (weights,) = model.eval()(x[:4], capture=True).attentions  # (4, H, T, T)
    on_previous = torch.diagonal(weights, offset=-1, dim1=-2, dim2=-1).mean(dim=(0, 2))  # (H,)
    assert float(on_previous.max()) > 0.9
