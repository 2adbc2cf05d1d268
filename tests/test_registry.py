"""The registry: built-in model, training runs from the store, GPT-2 folders, tokenizers."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

import core.registry as registry
from core.model import GPT, CheckpointError, GPTConfig, file_sha256, save_checkpoint
from core.store import RunKind, RunStatus, add_artifact, create_run, finish_run, open_database
from core.tokenization import TokenizerError, save_tokenizer_run, tokenizer_spec, train_bpe

TEXT = "the quick brown fox jumps over the lazy dog; the dog sleeps. " * 20


@pytest.fixture(scope="module")
def bpe():
    return train_bpe(TEXT, vocab_size=280, name="reg-bpe")


@pytest.fixture
def no_builtin(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "BUILTIN_CHECKPOINT", tmp_path / "absent.safetensors")
    monkeypatch.setattr(registry, "BUILTIN_TOKENIZER", tmp_path / "absent.json")


def tiny_checkpoint(path, bpe, seed=0):
    torch.manual_seed(seed)
    model = GPT(
        GPTConfig(vocab_size=bpe.n_vocab, context_length=16, n_layer=1, n_head=2, n_embd=16)
    )
    return model, save_checkpoint(path, model, tokenizer=tokenizer_spec(bpe))


def stored_run(session_factory, path, sha, status=RunStatus.FINISHED):
    with session_factory.begin() as s:
        run = create_run(
            s, kind=RunKind.TRAINING, name="tiny", config={"model": {"n_layer": 1, "n_embd": 16}}
        )
        add_artifact(
            s,
            run.id,
            name=path.name,
            kind="checkpoint",
            path=str(path),
            sha256=sha,
            meta={"role": "best"},
        )
        finish_run(s, run.id, status=status, summary={"val_loss": 3.25})
        return run.id


def test_training_run_is_listed_and_loads(tmp_path, bpe, no_builtin):
    session_factory = open_database()
    model, sha = tiny_checkpoint(tmp_path / "best.safetensors", bpe)
    run_id = stored_run(session_factory, tmp_path / "best.safetensors", sha)
    entries = registry.list_models(session_factory)
    assert [(e.id, e.source, e.label) for e in entries] == [
        (f"run:{run_id}", "run", "tiny (run 1, 1x16, val 3.25)")
    ]
    assert registry.default_model_id(session_factory) == f"run:{run_id}"
    loaded = registry.load_model(f"run:{run_id}", session_factory)
    assert not loaded.model.training
    assert not any(p.requires_grad for p in loaded.model.parameters())
    assert loaded.tokenizer.n_vocab == bpe.n_vocab
    assert loaded.tokenizer.encode_ordinary("the dog") == bpe.encoding().encode_ordinary("the dog")
    x = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.cpu()(x), model.eval()(x))


def test_changed_checkpoint_file_is_refused(tmp_path, bpe, no_builtin):
    session_factory = open_database()
    _, sha = tiny_checkpoint(tmp_path / "best.safetensors", bpe)
    run_id = stored_run(session_factory, tmp_path / "best.safetensors", sha)
    tiny_checkpoint(tmp_path / "best.safetensors", bpe, seed=1)  # overwritten by another model
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        registry.load_model(f"run:{run_id}", session_factory)


def test_runs_without_a_checkpoint_file_are_not_listed(tmp_path, bpe, no_builtin):
    session_factory = open_database()
    stored_run(session_factory, tmp_path / "gone.safetensors", "0" * 64)
    assert registry.list_models(session_factory) == []
    assert registry.default_model_id(session_factory) is None
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        registry.load_model("run:1", session_factory)


def test_gpt2_folder_is_listed_and_loads(tmp_path, no_builtin):
    folder = registry.glassbox_home() / "models" / "tiny-gpt2"
    folder.mkdir(parents=True)
    config = {"n_layer": 1, "n_head": 2, "n_embd": 8, "n_positions": 16, "vocab_size": 50257}
    (folder / "config.json").write_text(json.dumps(config))
    g = torch.Generator().manual_seed(0)
    shapes = {
        "wte.weight": (50257, 8), "wpe.weight": (16, 8), "ln_f.weight": (8,), "ln_f.bias": (8,),
        "h.0.ln_1.weight": (8,), "h.0.ln_1.bias": (8,), "h.0.ln_2.weight": (8,), "h.0.ln_2.bias": (8,),
        "h.0.attn.c_attn.weight": (8, 24), "h.0.attn.c_attn.bias": (24,),
        "h.0.attn.c_proj.weight": (8, 8), "h.0.attn.c_proj.bias": (8,),
        "h.0.mlp.c_fc.weight": (8, 32), "h.0.mlp.c_fc.bias": (32,),
        "h.0.mlp.c_proj.weight": (32, 8), "h.0.mlp.c_proj.bias": (8,),
    }  # fmt: skip
    save_file(
        {k: torch.randn(s, generator=g) for k, s in shapes.items()},
        str(folder / "model.safetensors"),
    )
    session_factory = open_database()
    (entry,) = registry.list_models(session_factory)
    assert (entry.id, entry.source) == ("gpt2:tiny-gpt2", "gpt2")
    assert "1 layers, 2 heads, width 8" in entry.description
    loaded = registry.load_model("gpt2:tiny-gpt2", session_factory)
    assert loaded.tokenizer.name == "gpt2" and loaded.config.qkv_bias


def test_unknown_ids_raise_clear_errors(no_builtin):
    with pytest.raises(CheckpointError, match="unknown model id"):
        registry.load_model("nonsense")
    with pytest.raises(CheckpointError, match="built-in model is missing"):
        registry.load_model("builtin")
    with pytest.raises(CheckpointError, match="run:<number>"):
        registry.load_model("run:x")
    with pytest.raises(TokenizerError, match="unknown tokenizer"):
        registry.load_tokenizer("nonsense")


def test_tokenizers_include_encodings_builtin_and_store_runs(bpe):
    session_factory = open_database()
    with session_factory.begin() as s:
        run_id = save_tokenizer_run(s, bpe)
    ids = [e.id for e in registry.list_tokenizers(session_factory)]
    assert ids[:3] == ["gpt2", "cl100k_base", "o200k_base"]
    assert f"run:{run_id}" in ids
    assert registry.load_tokenizer("gpt2").encode("Hello, do") == [15496, 11, 466]
    assert registry.load_tokenizer(f"run:{run_id}", session_factory).n_vocab == bpe.n_vocab


@pytest.mark.skipif(
    not registry.BUILTIN_CHECKPOINT.is_file(), reason="built-in model not trained yet"
)
def test_builtin_model_loads_with_its_tokenizer():
    assert registry.default_model_id() == "builtin"
    assert "builtin" in [e.id for e in registry.list_tokenizers()]
    loaded = registry.load_model("builtin", device=torch.device("cpu"))
    assert (loaded.config.n_layer, loaded.config.n_embd, loaded.config.vocab_size) == (4, 256, 4096)
    assert loaded.tokenizer.n_vocab == registry.load_tokenizer("builtin").n_vocab == 4096
    ids = loaded.tokenizer.encode_ordinary("The for statement")
    with torch.no_grad():
        logits = loaded.model(torch.tensor([ids]))
    assert logits.shape == (1, len(ids), 4096) and bool(torch.isfinite(logits).all())


@pytest.mark.skipif(
    not registry.BUILTIN_CHECKPOINT.is_file(), reason="built-in model not trained yet"
)
def test_model_card_states_the_checkpoint_and_tokenizer_sha256():
    card = (registry.BUILTIN_DIR / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert file_sha256(registry.BUILTIN_CHECKPOINT) in card
    assert file_sha256(registry.BUILTIN_TOKENIZER) in card
    assert registry.BUILTIN_CHECKPOINT.stat().st_size < 25_000_000


def test_smollm2_absent_is_not_listed_and_says_how_to_get_it(no_builtin):
    assert registry.SMOLLM2_ID not in {m.id for m in registry.list_models()}
    assert registry.SMOLLM2_ID not in {t.id for t in registry.list_tokenizers()}
    with pytest.raises(CheckpointError, match="python -m core.models get smollm2"):
        registry.load_model(registry.SMOLLM2_ID)
    with pytest.raises(TokenizerError, match="python -m core.models get smollm2"):
        registry.load_tokenizer(registry.SMOLLM2_ID)


def test_smollm2_present_is_listed_and_loads(no_builtin, monkeypatch):
    """A tiny Llama GGUF stands in for the real file (same name, its size in the catalogue)."""
    import dataclasses

    from core.model.llama import Llama
    from tests.model.tiny_llama import tiny_hf_llama, write_gguf

    models = registry.models_dir()
    models.mkdir(parents=True)
    path = models / registry.SMOLLM2.file_name
    write_gguf(tiny_hf_llama(vocab_size=259), path, tokenizer=True)
    fake = dataclasses.replace(registry.SMOLLM2, size=path.stat().st_size)
    monkeypatch.setattr(registry, "SMOLLM2", fake)
    assert registry.SMOLLM2_ID in {m.id for m in registry.list_models()}
    assert registry.SMOLLM2_ID in {t.id for t in registry.list_tokenizers()}
    loaded = registry.load_model(registry.SMOLLM2_ID, device=torch.device("cpu"))
    assert isinstance(loaded.model, Llama) and not loaded.model.training
    assert loaded.config.eos_token_id == 2 and loaded.tokenizer.n_vocab == 259
    assert loaded.chat_template.startswith("{% for message in messages %}")
    assert "3 key/value heads" not in loaded.entry.description  # the tiny one has 2
    assert "4 query heads sharing 2 key/value heads" in loaded.entry.description
    assert list((registry.glassbox_home() / "cache" / "llama").glob("*.safetensors"))
    ids = loaded.tokenizer.encode("<|im_start|>user\n", allowed_special="all")
    assert ids[0] == 1 and loaded.model(torch.tensor([ids])).shape == (1, len(ids), 259)


def test_smollm2_corrupt_file_is_a_clear_error(no_builtin, monkeypatch):
    import dataclasses

    models = registry.models_dir()
    models.mkdir(parents=True)
    (models / registry.SMOLLM2.file_name).write_bytes(b"GGUF" + b"\x00" * 100)
    monkeypatch.setattr(registry, "SMOLLM2", dataclasses.replace(registry.SMOLLM2, size=104))
    with pytest.raises(CheckpointError, match="cannot be used: .* not a readable GGUF"):
        registry.load_model(registry.SMOLLM2_ID)
