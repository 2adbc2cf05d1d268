"""GPT-2 import from a Hugging Face-layout folder, checked against an independent forward pass.

The test writes a tiny GPT-2 in exactly Hugging Face's layout and naming (config.json keys,
``h.{i}.attn.c_attn.weight`` stored (in, out) like Conv1D, ``attn.bias`` mask buffers) and
compares Glassbox's logits with a from-the-formulas GPT-2 forward over the raw HF tensors.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from core.model import CheckpointError, load_gpt2
from core.model.gpt2_import import read_gpt2_config

N_LAYER, N_HEAD, D, VOCAB, CTX = 2, 4, 32, 61, 24


def hf_tensors(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.2

    t = {
        "wte.weight": r(VOCAB, D),
        "wpe.weight": r(CTX, D),
        "ln_f.weight": 1 + r(D),
        "ln_f.bias": r(D),
    }
    for i in range(N_LAYER):
        p = f"h.{i}."
        t |= {
            p + "ln_1.weight": 1 + r(D),
            p + "ln_1.bias": r(D),
            p + "attn.bias": torch.tril(torch.ones(CTX, CTX)).view(1, 1, CTX, CTX),
            p + "attn.c_attn.weight": r(D, 3 * D),  # Conv1D: (in, out)
            p + "attn.c_attn.bias": r(3 * D),
            p + "attn.c_proj.weight": r(D, D),
            p + "attn.c_proj.bias": r(D),
            p + "ln_2.weight": 1 + r(D),
            p + "ln_2.bias": r(D),
            p + "mlp.c_fc.weight": r(D, 4 * D),
            p + "mlp.c_fc.bias": r(4 * D),
            p + "mlp.c_proj.weight": r(4 * D, D),
            p + "mlp.c_proj.bias": r(D),
        }
    return t


def reference_gpt2(t: dict[str, torch.Tensor], idx: torch.Tensor) -> torch.Tensor:
    """GPT-2 forward straight from the HF tensors (Conv1D is x @ W + b)."""
    T = idx.shape[1]
    x = t["wte.weight"][idx] + t["wpe.weight"][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(N_LAYER):
        p = f"h.{i}."
        h = F.layer_norm(x, (D,), t[p + "ln_1.weight"], t[p + "ln_1.bias"], 1e-5)
        q, k, v = (h @ t[p + "attn.c_attn.weight"] + t[p + "attn.c_attn.bias"]).split(D, dim=-1)
        q, k, v = (z.view(1, T, N_HEAD, D // N_HEAD).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-1, -2) / math.sqrt(D // N_HEAD)).masked_fill(~mask, float("-inf"))
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(1, T, D)
        x = x + y @ t[p + "attn.c_proj.weight"] + t[p + "attn.c_proj.bias"]
        h = F.layer_norm(x, (D,), t[p + "ln_2.weight"], t[p + "ln_2.bias"], 1e-5)
        h = F.gelu(h @ t[p + "mlp.c_fc.weight"] + t[p + "mlp.c_fc.bias"], approximate="tanh")
        x = x + h @ t[p + "mlp.c_proj.weight"] + t[p + "mlp.c_proj.bias"]
    x = F.layer_norm(x, (D,), t["ln_f.weight"], t["ln_f.bias"], 1e-5)
    return x @ t["wte.weight"].T


def write_config(folder) -> None:
    config = {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "activation_function": "gelu_new",
        "n_layer": N_LAYER,
        "n_head": N_HEAD,
        "n_embd": D,
        "n_positions": CTX,
        "n_ctx": CTX,
        "vocab_size": VOCAB,
        "layer_norm_epsilon": 1e-5,
    }
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("layout", ["safetensors", "pytorch_bin"])
def test_import_matches_reference_forward(tmp_path, layout):
    tensors = hf_tensors()
    write_config(tmp_path)
    if layout == "safetensors":
        save_file(
            {k: v.contiguous() for k, v in tensors.items()}, str(tmp_path / "model.safetensors")
        )
    else:  # GPT2LMHeadModel.state_dict(): "transformer." prefix plus the tied lm_head
        sd = {"transformer." + k: v for k, v in tensors.items()} | {
            "lm_head.weight": tensors["wte.weight"]
        }
        torch.save(sd, tmp_path / "pytorch_model.bin")
    model = load_gpt2(tmp_path)
    idx = torch.tensor([[3, 14, 15, 9, 26, 53, 58, 9, 7]])
    with torch.no_grad():
        torch.testing.assert_close(model(idx), reference_gpt2(tensors, idx), atol=1e-4, rtol=1e-4)
    assert model.config == read_gpt2_config(tmp_path)
    assert model.config.qkv_bias and model.config.tie_embeddings


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_gpt2(tmp_path / "absent")
    with pytest.raises(CheckpointError, match="no config.json"):
        load_gpt2(tmp_path)
    write_config(tmp_path)
    with pytest.raises(CheckpointError, match="neither model.safetensors nor pytorch_model.bin"):
        load_gpt2(tmp_path)


def test_linear_layout_is_refused(tmp_path):
    tensors = hf_tensors()
    for i in range(N_LAYER):
        tensors[f"h.{i}.attn.c_attn.weight"] = tensors[f"h.{i}.attn.c_attn.weight"].t().contiguous()
    write_config(tmp_path)
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match="nn.Linear"):
        load_gpt2(tmp_path)


def test_config_that_does_not_fit_the_weights(tmp_path):
    write_config(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text()) | {"n_embd": 64}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    save_file(hf_tensors(), str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match="expects"):
        load_gpt2(tmp_path)


def test_pickled_code_is_not_executed(tmp_path):
    write_config(tmp_path)

    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pwned')",))

    torch.save({"x": Evil()}, tmp_path / "pytorch_model.bin", _use_new_zipfile_serialization=True)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_gpt2(tmp_path)


def test_corrupt_weights_file(tmp_path):
    write_config(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00\x01garbage")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_gpt2(tmp_path)


def test_matches_transformers_gpt2(tmp_path):
    """A tiny random ``transformers.GPT2LMHeadModel`` saved with save_pretrained loads equal."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    hf_config = GPT2Config(
        vocab_size=VOCAB, n_positions=CTX, n_embd=D, n_layer=N_LAYER, n_head=N_HEAD
    )
    reference = GPT2LMHeadModel(hf_config).eval()
    with torch.no_grad():  # away from the init values, so a swapped tensor would show
        for p in reference.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    reference.save_pretrained(tmp_path / "tiny-gpt2", safe_serialization=True)
    ours = load_gpt2(tmp_path / "tiny-gpt2").eval()
    ids = torch.tensor([[3, 14, 15, 9, 2, 6, 53, 5]])
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), reference(ids).logits, atol=1e-4, rtol=0)
        expected = reference.generate(ids, max_new_tokens=10, do_sample=False, pad_token_id=0)
    out = ids[0].tolist()
    cache = ours.new_kv_cache()
    fed = ids
    with torch.no_grad():
        for _ in range(10):
            out.append(int(ours(fed, kv_cache=cache, last_only=True)[0, -1].argmax()))
            fed = torch.tensor([out[-1:]])
    assert out == expected[0].tolist()
