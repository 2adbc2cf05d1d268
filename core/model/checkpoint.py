"""Checkpoint files: a GPT's weights in safetensors with its config and tokenizer identity.

The book saves ``model.state_dict()`` with ``torch.save`` (ch. 5.4), a pickle that can run
code when loaded. Here weights go to a safetensors file (a JSON header plus raw tensor
bytes; loading runs no code), and the header's string metadata carries:

* ``glassbox_format``: ``"gpt-checkpoint/2"`` (format 1 stored the dense layers' weights
  (in x out); such files still load, transposed on the way in);
* ``config``: the :class:`GPTConfig` as JSON;
* ``tokenizer``: the tokenizer spec as JSON (``core.tokenization.tokenizer_spec``);
* ``tensors_sha256``: a digest of every tensor's name, dtype, shape and bytes, so a file
  whose data was damaged is refused even when its header still parses;
* ``extra``: free JSON (training step, losses, ...).

The sha256 of the whole file is returned by :func:`save_checkpoint` for the run store.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from core.model.config import ConfigError, GPTConfig
from core.model.gpt import GPT

FORMAT = "gpt-checkpoint/2"
# Format 1 stored Dense weights (in, out); format 2 stores them (out, in) like nn.Linear.
FORMAT_1 = "gpt-checkpoint/1"
_DENSE_WEIGHTS = ("attn.qkv.weight", "attn.proj.weight", "ffn.fc.weight", "ffn.proj.weight")


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded, with a message that says what to do."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model and what the file said about it."""

    model: GPT
    config: GPTConfig
    tokenizer: dict[str, Any] | None  # tokenizer spec, or None when the file did not say
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """Digest of tensors by sorted name: name, dtype, shape and raw bytes of each."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def save_checkpoint(
    path: str | Path,
    model: GPT,
    *,
    tokenizer: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """Write ``model`` to ``path`` (written to a temporary name, then renamed); return its sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.detach().contiguous().cpu() for name, t in model.state_dict().items()}
    metadata = {
        "glassbox_format": FORMAT,
        "config": model.config.to_json(),
        "tokenizer": json.dumps(tokenizer, sort_keys=True),
        "tensors_sha256": tensors_sha256(tensors),
        "extra": json.dumps(extra or {}, sort_keys=True),
    }
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)  # atomic: a crash never leaves a half-written checkpoint under `path`
    return file_sha256(path)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The safetensors header metadata, or :class:`CheckpointError` if the file is unreadable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path} is not a readable safetensors checkpoint ({exc}); the file may be "
            "truncated or of another format: re-download or re-train it"
        ) from exc


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path} is damaged: its tensors cannot be read ({exc})") from exc


def check_state_dict(model: GPT, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Refuse tensors whose names or shapes do not fit ``model``, naming the first misfit."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{source} does not fit the model: missing {missing[:4]}, unexpected {unexpected[:4]}"
        )
    for name in sorted(tensors):
        tensor = tensors[name]
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"{source}: tensor {name} has shape {tuple(tensor.shape)} but the config "
                f"expects {tuple(expected[name].shape)}"
            )


def load_checkpoint(
    path: str | Path,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    verify: bool = True,
) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint` as a GPT in eval mode."""
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("glassbox_format") not in (FORMAT, FORMAT_1):
        raise CheckpointError(
            f"{path} is a safetensors file but not a Glassbox GPT checkpoint (no "
            f"'glassbox_format: {FORMAT}' metadata); a GPT-2 download must be imported "
            "from its folder with core.model.gpt2_import.load_gpt2"
        )
    try:
        config = GPTConfig.from_json(meta["config"])
        tokenizer = json.loads(meta.get("tokenizer", "null"))
        extra = json.loads(meta.get("extra", "{}"))
    except (KeyError, ConfigError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} has a damaged config in its metadata: {exc}") from exc
    tensors = _read_tensors(path)
    if verify and tensors_sha256(tensors) != meta.get("tensors_sha256"):
        raise CheckpointError(
            f"{path} is corrupt: its tensor data does not match the sha256 recorded when "
            "it was saved"
        )
    if meta["glassbox_format"] == FORMAT_1:
        tensors = upgrade_format_1(tensors)
    with torch.device("meta"):
        model = GPT(config)
    check_state_dict(model, tensors, str(path))
    model.load_state_dict(tensors, assign=True)
    model = model.to(device=device or "cpu", dtype=dtype).eval()
    return Checkpoint(model=model, config=config, tokenizer=tokenizer, extra=extra, path=path)


def upgrade_format_1(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Format-1 tensors in format 2's layout: dense and head weights transposed to (out, in)."""
    return {
        name: (t.t().contiguous() if name.endswith(_DENSE_WEIGHTS) or name == "head.weight" else t)
        for name, t in tensors.items()
    }


def check_vocab_fits(
    config: GPTConfig, n_vocab: int, tokenizer_name: str = "the tokenizer"
) -> None:
    """Refuse a tokenizer whose ids would run past the model's embedding table."""
    if n_vocab > config.vocab_size:
        raise CheckpointError(
            f"{tokenizer_name} has {n_vocab:,} tokens but the model's vocabulary has "
            f"{config.vocab_size:,}: pick the tokenizer the model was trained with"
        )
