"""The training loop: AdamW, warmup + cosine, clipping, evaluation, samples, checkpoints.

Follows "Build a Large Language Model (From Scratch)", ch. 5.2 (``train_model_simple``:
cross-entropy on shifted windows, periodic train/val loss and a sample text) and appendix D
(warmup, cosine decay, gradient clipping). Progress goes to :class:`TrainingCallbacks`, so
the command line, the run store and a Streamlit page can all watch the same loop.

Failure rules: a non-finite loss or gradient norm stops the run with status ``failed``
before the bad update is applied; the last checkpoint written is always from finite weights,
so the last good model survives. A callback's ``should_stop`` (or Ctrl-C) ends it as
``interrupted`` after saving a checkpoint and the trainer state for ``--resume``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.model import GPT, CheckpointError, generate, save_checkpoint
from core.training.config import TrainConfig, lr_at
from core.training.data import TokenData, eval_windows, random_batch
from core.training.state import load_trainer_state, save_trainer_state, settle_trainer_state

LAST, BEST, STATE = "last.safetensors", "best.safetensors", "trainer_state.safetensors"
# The trainer state of the newest LAST, written before LAST and renamed to STATE after it: a
# kill between the two renames leaves it here, and resume finishes the rename.
PENDING_STATE = "trainer_state.pending.safetensors"


@dataclass
class StepInfo:
    step: int  # 1-based number of optimizer steps done
    loss: float  # training loss of this step's batch
    lr: float
    grad_norm: float  # global gradient norm before clipping
    tokens_seen: int
    tokens_per_s: float  # training throughput so far (evaluations excluded)


@dataclass
class TrainResult:
    status: str  # "finished", "failed" or "interrupted"
    steps: int  # optimizer steps done
    tokens_seen: int
    train_loss: float  # last evaluated train loss (fixed windows, eval mode)
    val_loss: float  # last evaluated validation loss
    best_val_loss: float
    best_step: int
    wall_time_s: float
    tokens_per_s: float
    message: str = ""
    checkpoints: dict[str, Path] = field(default_factory=dict)  # "last"/"best" -> file


class TrainingCallbacks:
    """Hooks the loop calls; subclass and override what you need (all default to no-ops)."""

    def on_step(self, info: StepInfo) -> None: ...

    def on_eval(self, step: int, train_loss: float, val_loss: float) -> None: ...

    def on_sample(self, step: int, text: str) -> None: ...

    def on_checkpoint(self, step: int, name: str, path: Path) -> None: ...

    def on_end(self, result: TrainResult) -> None: ...

    def should_stop(self) -> bool:
        return False


class Trainer:
    """Trains ``model`` on ``data``; writes checkpoints under ``out_dir``."""

    def __init__(
        self,
        model: GPT,
        data: TokenData,
        config: TrainConfig,
        out_dir: str | Path,
        *,
        tokenizer_spec: dict[str, Any] | None = None,
        encode: Callable[[str], list[int]] | None = None,
        decode: Callable[[list[int]], str] | None = None,
        callbacks: Sequence[TrainingCallbacks] = (),
    ) -> None:
        self.model, self.config, self.out_dir = model, config, Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        device = model.device
        self.train_ids, self.val_ids = data.train.to(device), data.val.to(device)
        self.tokenizer_spec, self.encode, self.decode = tokenizer_spec, encode, decode
        self.callbacks = list(callbacks)
        self.batches = torch.Generator(device=device).manual_seed(config.seed)
        matrices = [p for p in model.parameters() if p.dim() >= 2]
        others = [p for p in model.parameters() if p.dim() < 2]
        groups = [
            {"params": matrices, "weight_decay": config.weight_decay},
            {"params": others, "weight_decay": 0.0},
        ]
        self.optimizer = torch.optim.AdamW(
            groups,
            lr=config.lr,
            betas=(config.beta1, config.beta2),
            fused=device.type in ("cpu", "cuda"),
        )
        ctx, start = model.config.context_length, model.config.start_token
        self.eval_sets = {
            "train": eval_windows(self.train_ids, ctx, config.eval_windows, start),
            "val": eval_windows(self.val_ids, ctx, config.eval_windows, start),
        }
        self.step = 0
        self.best_val, self.best_step, self.last_losses = math.inf, 0, (math.nan, math.nan)

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast for matrix products when configured; a no-op for fp32."""
        if self.config.precision == "bf16":
            return torch.autocast(self.model.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy of inputs x (B, T) against targets y (B, T)."""
        with self.autocast():
            return self.model.next_token_loss(x, y)

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float]:
        """(train, val) loss on the fixed evaluation windows, in eval mode."""
        self.model.eval()
        out = []
        for name in ("train", "val"):
            xs, ys = self.eval_sets[name]
            total = sum(
                float(
                    self.loss(
                        xs[i : i + self.config.batch_size], ys[i : i + self.config.batch_size]
                    )
                )
                * len(xs[i : i + self.config.batch_size])
                for i in range(0, len(xs), self.config.batch_size)
            )
            out.append(total / len(xs))
        self.model.train()
        return out[0], out[1]

    @torch.no_grad()
    def sample_text(self) -> str | None:
        """A short continuation of the sample prompt (temperature 0.8, top-k 40, fixed seed)."""
        if self.encode is None or self.decode is None:
            return None
        self.model.eval()
        start = self.model.config.start_token
        ids = ([] if start is None else [start]) + self.encode(self.config.sample_prompt)
        prompt = torch.tensor([ids or [0]], device=self.model.device)
        g = torch.Generator(device=self.model.device).manual_seed(self.config.seed)
        ids = generate(
            self.model, prompt, self.config.sample_tokens, temperature=0.8, top_k=40, generator=g
        )
        self.model.train()
        return self.decode(ids[0, 1 if start is not None else 0 :].tolist())

    def save(self, name: str) -> Path | None:
        """Write a model checkpoint if every weight is finite; None when they are not."""
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            return None
        extra = {
            "step": self.step,
            "train_loss": self.last_losses[0],
            "val_loss": self.last_losses[1],
        }
        path = self.out_dir / name
        if name == LAST:
            save_trainer_state(
                self.out_dir / PENDING_STATE,
                self.model,
                self.optimizer,
                step=self.step,
                batch_generator=self.batches,
            )
        save_checkpoint(path, self.model, tokenizer=self.tokenizer_spec, extra=extra)
        if name == LAST:
            (self.out_dir / PENDING_STATE).replace(self.out_dir / STATE)
        for cb in self.callbacks:
            cb.on_checkpoint(self.step, name, path)
        return path

    def resume(self, folder: str | Path) -> None:
        """Continue from ``folder``'s last checkpoint weights and trainer state."""
        from core.model import load_checkpoint

        folder = Path(folder)
        loaded = load_checkpoint(folder / LAST, device=self.model.device)
        self.model.load_state_dict(loaded.model.state_dict())
        weights_step = int(loaded.extra.get("step", -1))
        settle_trainer_state(folder / STATE, folder / PENDING_STATE, weights_step)
        self.step = load_trainer_state(
            folder / STATE, self.model, self.optimizer, batch_generator=self.batches
        )
        if self.step != weights_step:
            raise CheckpointError(
                f"cannot resume: {folder / STATE} is from step {self.step} but {LAST} "
                f"from step {weights_step}"
            )
        best = folder / BEST
        if best.exists():
            extra = load_checkpoint(best).extra
            self.best_val, self.best_step = (
                float(extra.get("val_loss", math.inf)),
                int(extra.get("step", 0)),
            )

    def _eval_and_checkpoint(self) -> None:
        train_loss, val_loss = self.evaluate()
        self.last_losses = (train_loss, val_loss)
        for cb in self.callbacks:
            cb.on_eval(self.step, train_loss, val_loss)
        if val_loss < self.best_val:
            self.best_val, self.best_step = val_loss, self.step
            self.save(BEST)

    def run(self) -> TrainResult:
        """Train from ``self.step`` to ``config.steps``; never raises on NaN or Ctrl-C."""
        cfg, model = self.config, self.model
        ctx, tokens_per_step = (
            model.config.context_length,
            cfg.batch_size * model.config.context_length,
        )
        started, train_time, first_step = time.perf_counter(), 0.0, self.step
        status, message = "finished", ""
        model.train()
        try:
            while self.step < cfg.steps:
                if any(cb.should_stop() for cb in self.callbacks):
                    status, message = "interrupted", f"stopped on request at step {self.step}"
                    break
                t0 = time.perf_counter()
                lr = lr_at(self.step, cfg)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                x, y = random_batch(
                    self.train_ids, cfg.batch_size, ctx, self.batches, model.config.start_token
                )
                loss = self.loss(x, y)
                loss_value = float(loss.detach())
                self.optimizer.zero_grad(set_to_none=True)
                if math.isfinite(loss_value):
                    loss.backward()
                    limit = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
                    grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), limit))
                if not math.isfinite(loss_value) or not math.isfinite(grad_norm):
                    status = "failed"
                    what = "loss" if not math.isfinite(loss_value) else "gradient norm"
                    message = (
                        f"the {what} became non-finite at step {self.step + 1}; the run stopped"
                    )
                    break
                self.optimizer.step()
                self.step += 1
                train_time += time.perf_counter() - t0
                done = (self.step - first_step) * tokens_per_step
                info = StepInfo(
                    self.step,
                    loss_value,
                    lr,
                    grad_norm,
                    self.step * tokens_per_step,
                    done / train_time,
                )
                for cb in self.callbacks:
                    cb.on_step(info)
                if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                    self._eval_and_checkpoint()
                if cfg.sample_every and (
                    self.step % cfg.sample_every == 0 or self.step == cfg.steps
                ):
                    text = self.sample_text()
                    for cb in (cb for cb in self.callbacks if text is not None):
                        cb.on_sample(self.step, text)
                if self.step % cfg.checkpoint_every == 0:
                    self.save(LAST)
        except KeyboardInterrupt:
            status, message = "interrupted", f"interrupted at step {self.step}"
        saved = self.save(LAST)
        if status == "failed":
            kept = self.out_dir / LAST
            message += (
                f"; last good checkpoint: {kept}"
                if kept.exists()
                else "; no good checkpoint was saved"
            )
        elif saved is None:
            status, message = "failed", "weights became non-finite; the previous checkpoint is kept"
        checkpoints = {name: self.out_dir / f for name, f in (("last", LAST), ("best", BEST))}
        tokens = (self.step - first_step) * tokens_per_step
        result = TrainResult(
            status=status,
            steps=self.step,
            tokens_seen=self.step * tokens_per_step,
            train_loss=self.last_losses[0],
            val_loss=self.last_losses[1],
            best_val_loss=self.best_val,
            best_step=self.best_step,
            wall_time_s=time.perf_counter() - started,
            tokens_per_s=tokens / train_time if train_time else 0.0,
            message=message,
            checkpoints={k: p for k, p in checkpoints.items() if p.exists()},
        )
        for cb in self.callbacks:
            cb.on_end(result)
        return result
