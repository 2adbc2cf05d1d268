"""TrainConfig and the learning-rate schedule (linear warmup, then cosine decay).

Follows "Build a Large Language Model (From Scratch)", appendix D (D.1 learning-rate warmup,
D.2 cosine decay, D.3 gradient clipping) with AdamW as in ch. 5.2. Every field is JSON-typed
so the whole config is stored with the run and a run can be resumed or repeated exactly.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

PRECISIONS = ("fp32", "bf16")


class TrainConfigError(ValueError):
    """A training setting that cannot work, with the value to change."""


@dataclass(frozen=True)
class TrainConfig:
    """How long and how to train; the model's shape is a separate GPTConfig."""

    steps: int = 2000  # optimizer steps in total
    batch_size: int = 16  # windows per step
    lr: float = 3e-3  # peak learning rate, reached after the warmup
    min_lr: float = 3e-4  # learning rate at the end of the cosine decay
    warmup_steps: int = 100  # linear ramp from ~0 to lr (stabilises early Adam updates)
    weight_decay: float = 0.1  # AdamW decoupled decay, on matrices only (not biases/LayerNorms)
    beta1: float = 0.9  # Adam first-moment decay
    beta2: float = 0.95  # Adam second-moment decay (0.95 is steadier than 0.999 for GPTs)
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    val_fraction: float = 0.1  # tail of the token stream held out for validation
    eval_every: int = 100  # steps between validation-loss evaluations
    eval_windows: int = 32  # fixed validation windows per evaluation
    sample_every: int = 500  # steps between sample texts (0: never)
    sample_prompt: str = "The "  # prompt of the sample texts
    sample_tokens: int = 60  # new tokens per sample text
    checkpoint_every: int = 500  # steps between checkpoints (also saved at the end)
    precision: str = "fp32"  # "fp32", or "bf16" autocast for matrix products
    seed: int = 1337  # seeds initialisation, batch order and samples

    def __post_init__(self) -> None:
        positive = ("steps", "batch_size", "eval_every", "eval_windows", "checkpoint_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise TrainConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.min_lr <= self.lr:
            raise TrainConfigError(f"need 0 < min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        if self.warmup_steps < 0 or self.grad_clip < 0 or self.sample_every < 0:
            raise TrainConfigError("warmup_steps, grad_clip and sample_every cannot be negative")
        if self.precision not in PRECISIONS:
            raise TrainConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainConfigError(f"unknown TrainConfig field(s): {', '.join(unknown)}")
        return cls(**data)


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based).

    Linear warmup over ``warmup_steps`` to ``lr``, then half a cosine down to ``min_lr`` at the
    last step. E.g. lr=1, min_lr=0.1, warmup 10, 110 steps: step 0 -> 0.1, step 9 -> 1.0,
    step 60 -> ~0.55, step 109 -> 0.1.
    """
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    decay_steps = max(1, config.steps - 1 - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / decay_steps)
    return config.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (config.lr - config.min_lr)
