"""Checkpoint I/O: round trip, metadata, and clear refusals of bad files."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from safetensors.torch import save_file

from core.model import (
    GPT,
    CheckpointError,
    GPTConfig,
    check_vocab_fits,
    file_sha256,
    load_checkpoint,
    save_checkpoint,
)
from core.model.checkpoint import read_metadata

TINY = GPTConfig(vocab_size=61, context_length=24, n_layer=2, n_head=4, n_embd=32)
SPEC = {"kind": "tiktoken", "name": "gpt2"}


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    path = tmp_path / "m.safetensors"
    sha = save_checkpoint(path, model, tokenizer=SPEC, extra={"step": 12, "val_loss": 2.5})
    return model, path, sha


@pytest.mark.parametrize("tie", [True, False])
def test_round_trip_gives_identical_logits_and_metadata(tmp_path, tie):
    torch.manual_seed(0)
    model = GPT(dataclasses.replace(TINY, tie_embeddings=tie)).eval()
    path = tmp_path / "m.safetensors"
    sha = save_checkpoint(path, model, tokenizer=SPEC, extra={"step": 12})
    loaded = load_checkpoint(path)
    x = torch.tensor([[1, 2, 3, 60]])
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))
    assert loaded.config == model.config
    assert loaded.tokenizer == SPEC
    assert loaded.extra == {"step": 12}
    assert sha == file_sha256(path)
    assert not loaded.model.training
    assert read_metadata(path)["glassbox_format"] == "gpt-checkpoint/2"
    assert not (tmp_path / "m.safetensors.tmp").exists()


def test_load_in_bfloat16(saved):
    _, path, _ = saved
    assert load_checkpoint(path, dtype=torch.bfloat16).model.head.weight.dtype == torch.bfloat16


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_non_safetensors_file(tmp_path):
    path = tmp_path / "notes.safetensors"
    path.write_text("this is a text file, not a checkpoint\n" * 3)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_checkpoint(path)


def test_pickle_file_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_checkpoint(path)


def test_truncated_file(saved, tmp_path):
    _, path, _ = saved
    data = path.read_bytes()
    short = tmp_path / "short.safetensors"
    short.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated|damaged"):
        load_checkpoint(short)


def test_corrupted_tensor_bytes_fail_the_sha256_check(saved, tmp_path):
    _, path, _ = saved
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # flip bits inside the last tensor's data
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)


def test_plain_safetensors_without_metadata(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not a Glassbox GPT checkpoint"):
        load_checkpoint(path)


def test_shape_mismatch_names_the_tensor(saved, tmp_path):
    model, path, _ = saved
    meta = read_metadata(path)
    wider = dataclasses.replace(TINY, n_embd=64)
    meta["config"] = wider.to_json()
    meta["tensors_sha256"] = "skip"
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    other = tmp_path / "other.safetensors"
    save_file(tensors, str(other), metadata=meta)
    with pytest.raises(
        CheckpointError,
        match=r"blocks.0.attn.proj.bias has shape \(32,\) but the config expects \(64,\)",
    ):
        load_checkpoint(other, verify=False)


def test_damaged_config_metadata(saved, tmp_path):
    model, path, _ = saved
    meta = read_metadata(path) | {"config": json.dumps({"n_embed": 3})}
    other = tmp_path / "other.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(other), metadata=meta)
    with pytest.raises(CheckpointError, match="damaged config"):
        load_checkpoint(other)


def test_tokenizer_with_a_larger_vocabulary_is_refused():
    check_vocab_fits(TINY, 61)
    with pytest.raises(CheckpointError, match="50,257 tokens but the model's vocabulary has 61"):
        check_vocab_fits(TINY, 50257, "gpt2")


def test_format_1_files_load_with_their_dense_weights_transposed(saved, tmp_path):
    """Format 1 stored dense and head weights (in, out); such files load unchanged in effect."""
    from core.model.checkpoint import FORMAT_1, tensors_sha256

    model, path, _ = saved
    old = {
        name: (t.t().contiguous() if t.dim() == 2 and name != "pos_emb.weight" else t)
        for name, t in model.state_dict().items()
    }
    meta = read_metadata(path)
    meta.update(glassbox_format=FORMAT_1, tensors_sha256=tensors_sha256(old))
    old_path = tmp_path / "old.safetensors"
    save_file(old, str(old_path), metadata=meta)
    loaded = load_checkpoint(old_path).model
    ids = torch.randint(0, TINY.vocab_size, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids), model(ids))
