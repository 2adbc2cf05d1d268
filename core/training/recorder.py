"""Training callbacks that report progress: to a text log, and to the run store.

:class:`StoreRecorder` saves a training run the way every Glassbox run is saved (kind
``training``): the series ``train_loss``, ``lr`` and ``grad_norm`` per step and
``val_loss``/``eval_train_loss`` per evaluation as points, sample texts and checkpoints (with
sha256) as artifacts, final metrics as the summary. Points are buffered and written at each
evaluation, each checkpoint and at least every ``flush_every_s`` seconds, so the database
sees a few bulk inserts rather than one per step, and a live page can follow the run while
it trains: each write also puts ``summary.progress`` (step, steps, tokens/s, seconds
training) in the run. Each checkpoint is recorded when it is written (its record replaced
when the file is rewritten), so a run whose process is killed keeps a resumable checkpoint.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from sqlalchemy.orm import Session, sessionmaker

from core.model import file_sha256
from core.store import (
    RunStatus,
    add_artifact,
    add_points,
    finish_run,
    finite,
    replace_artifact,
    update_run,
)
from core.training.loop import StepInfo, TrainingCallbacks, TrainResult


class ConsoleLogger(TrainingCallbacks):
    """One line per ``every`` steps, per evaluation and per sample, to ``stream``."""

    def __init__(self, every: int = 10, stream: TextIO | None = None) -> None:
        self.every, self.stream = every, stream or sys.stdout

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def on_step(self, info: StepInfo) -> None:
        if info.step % self.every == 0 or info.step == 1:
            self._print(
                f"step {info.step:>6}  loss {info.loss:.4f}  lr {info.lr:.2e}  "
                f"|g| {info.grad_norm:.2f}  {info.tokens_per_s:,.0f} tok/s"
            )

    def on_eval(self, step: int, train_loss: float, val_loss: float) -> None:
        self._print(f"eval @ {step}: train {train_loss:.4f}  val {val_loss:.4f}")

    def on_sample(self, step: int, text: str) -> None:
        self._print(f"sample @ {step}: {text!r}")

    def on_end(self, result: TrainResult) -> None:
        self._print(
            f"{result.status}: {result.steps} steps, {result.tokens_seen:,} tokens, "
            f"val {result.val_loss:.4f} (best {result.best_val_loss:.4f} @ {result.best_step}), "
            f"{result.wall_time_s:.0f} s, {result.tokens_per_s:,.0f} tok/s {result.message}"
        )


class StoreRecorder(TrainingCallbacks):
    """Writes one training run's progress into the run store (run created by the caller)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        run_id: int,
        *,
        steps: int = 0,
        flush_every_s: float = 2.0,
    ) -> None:
        self.session_factory, self.run_id = session_factory, run_id
        self.steps, self.flush_every_s = steps, flush_every_s
        self.pending: dict[str, list[tuple[float, float]]] = {}
        self.progress: dict[str, float] = {}
        self.started = self.last_flush = time.monotonic()

    def _add(self, series: str, x: float, y: float) -> None:
        self.pending.setdefault(series, []).append((x, y))

    def flush(self) -> None:
        """Write buffered points and the progress summary in one transaction."""
        if not any(self.pending.values()):
            return
        with self.session_factory.begin() as session:
            for series, points in self.pending.items():
                # replace: an interrupt (Ctrl-C, ray.cancel) can land after the commit and
                # before the buffer is cleared; the next flush then writes these again
                add_points(session, self.run_id, series, points, replace=True)
            if self.progress:
                update_run(session, self.run_id, summary={"progress": dict(self.progress)})
        self._written()

    def _written(self) -> None:
        self.pending = {}
        self.last_flush = time.monotonic()

    def on_step(self, info: StepInfo) -> None:
        self._add("train_loss", info.step, info.loss)
        self._add("lr", info.step, info.lr)
        self._add("grad_norm", info.step, info.grad_norm)
        self.progress = {
            "step": info.step,
            "steps": self.steps,
            "tokens_seen": info.tokens_seen,
            "tokens_per_s": round(info.tokens_per_s, 1),
            "elapsed_s": round(time.monotonic() - self.started, 2),
        }
        if time.monotonic() - self.last_flush >= self.flush_every_s:
            self.flush()

    def on_eval(self, step: int, train_loss: float, val_loss: float) -> None:
        self._add("val_loss", step, val_loss)
        self._add("eval_train_loss", step, train_loss)
        self.flush()

    def on_checkpoint(self, step: int, name: str, path: Path) -> None:
        self.flush()
        with self.session_factory.begin() as session:
            replace_artifact(
                session,
                self.run_id,
                name=Path(path).name,
                kind="checkpoint",
                path=str(Path(path).resolve()),
                sha256=file_sha256(path),
                meta={"role": Path(path).stem, "step": step},
            )

    def on_sample(self, step: int, text: str) -> None:
        with self.session_factory.begin() as session:
            add_artifact(
                session,
                self.run_id,
                name=f"sample@{step}",
                kind="sample",
                meta={"step": step},
                content=text.encode("utf-8"),
            )

    def on_end(self, result: TrainResult) -> None:
        self.flush()
        with self.session_factory.begin() as session:
            for name, path in sorted(result.checkpoints.items()):
                replace_artifact(
                    session,
                    self.run_id,
                    name=Path(path).name,
                    kind="checkpoint",
                    path=str(Path(path).resolve()),
                    sha256=file_sha256(path),
                    meta={"role": name, "best_step": result.best_step, "steps": result.steps},
                )
            finish_run(
                session,
                self.run_id,
                status=RunStatus(result.status),
                summary={
                    "val_loss": finite(result.best_val_loss),
                    "final_val_loss": finite(result.val_loss),
                    "train_loss": finite(result.train_loss),
                    "steps": result.steps,
                    "tokens_seen": result.tokens_seen,
                    "tokens_per_s": round(result.tokens_per_s, 1),
                    "wall_time_s": round(result.wall_time_s, 1),
                    "message": result.message,
                },
            )
