"""Resumable training state: AdamW moments, step and random-number-generator states.

A model checkpoint (``core.model.checkpoint``) holds weights only. To resume a run exactly,
the optimizer's first and second moments (book ch. 5.2, AdamW) and the random streams that
pick batches and dropout masks are saved beside it, also as safetensors (no pickles):
tensors ``exp_avg/<param>``, ``exp_avg_sq/<param>``, ``rng/batches``, ``rng/torch``, and the
step in the metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from core.model import CheckpointError

# Dense weights (and so their optimizer moments) are stored (out, in) since checkpoint format 2.
WEIGHT_LAYOUT = "out-in"


def save_trainer_state(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    step: int,
    batch_generator: torch.Generator,
    extra: dict | None = None,
) -> None:
    """Write optimizer moments and RNG states for resuming after ``step`` steps."""
    tensors: dict[str, torch.Tensor] = {
        "rng/batches": batch_generator.get_state(),
        "rng/torch": torch.get_rng_state(),
    }
    adam_step = 0.0
    for name, param in model.named_parameters():
        state = optimizer.state.get(param)
        if not state:
            continue
        tensors[f"exp_avg/{name}"] = state["exp_avg"].detach().cpu().contiguous()
        tensors[f"exp_avg_sq/{name}"] = state["exp_avg_sq"].detach().cpu().contiguous()
        adam_step = float(state["step"])
    metadata = {
        "step": str(step),
        "adam_step": str(adam_step),
        "weight_layout": WEIGHT_LAYOUT,
        "extra": json.dumps(extra or {}),
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)


def trainer_state_step(path: str | Path) -> int | None:
    """The step a trainer state file was written at; None when it is missing or unreadable."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return int((handle.metadata() or {})["step"])
    except (SafetensorError, OSError, KeyError, ValueError):
        return None


def settle_trainer_state(state: Path, pending: Path, step: int) -> None:
    """Finish a save that was cut off between its two renames.

    The trainer writes the state of a new last checkpoint to ``pending`` first, then the weights,
    then renames ``pending`` to ``state``. If the weights say ``step`` and ``state`` is older
    while ``pending`` is complete and from ``step``, the process died between the renames:
    do the second one now. Anything else (no pending file, or one from a save whose weights
    never landed) is left as it is.
    """
    if trainer_state_step(state) != step and trainer_state_step(pending) == step:
        pending.replace(state)


def load_trainer_state(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    batch_generator: torch.Generator,
) -> int:
    """Restore what :func:`save_trainer_state` wrote; returns the step to continue from."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"cannot resume: {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        step = int(meta["step"])
        adam_step = float(meta["adam_step"])
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise CheckpointError(
            f"cannot resume: {path} is not a readable trainer state ({exc})"
        ) from exc
    if meta.get("weight_layout") != WEIGHT_LAYOUT:
        raise CheckpointError(
            f"cannot resume: {path} was written by an older Glassbox that stored dense "
            "weights (in, out); its checkpoints still load, but start a new run to train on"
        )
    for name, param in model.named_parameters():
        if f"exp_avg/{name}" not in tensors:
            continue
        avg, avg_sq = tensors[f"exp_avg/{name}"], tensors[f"exp_avg_sq/{name}"]
        if avg.shape != param.shape:
            raise CheckpointError(f"cannot resume: optimizer state of {name} has another shape")
        optimizer.state[param] = {
            "step": torch.tensor(adam_step),
            "exp_avg": avg.to(param.device, param.dtype),
            "exp_avg_sq": avg_sq.to(param.device, param.dtype),
        }
    batch_generator.set_state(tensors["rng/batches"])
    torch.set_rng_state(tensors["rng/torch"])
    return step
