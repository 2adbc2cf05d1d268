"""Import OpenAI's released GPT-2 weights from a local Hugging Face-layout folder.

Follows the book's section 5.5 ("Loading pretrained weights from OpenAI"), reading the
Hugging Face layout instead of TensorFlow checkpoints. A folder holds ``config.json``
(``n_layer``, ``n_head``, ``n_embd``, ``n_positions``, ``vocab_size``, ``layer_norm_epsilon``)
and ``model.safetensors`` or ``pytorch_model.bin``; the latter is read with
``torch.load(weights_only=True)``, which refuses pickled code.

Name mapping (an optional ``transformer.`` prefix is dropped; ``lm_head.weight`` is the tied
``wte`` and is checked, not loaded; ``attn.bias``/``attn.masked_bias`` are mask buffers):

=================================  =====================================================
Hugging Face                       Glassbox
=================================  =====================================================
``wte.weight`` (vocab, d)          ``head.weight`` (vocab, d)
``wpe.weight``                     ``pos_emb.weight``
``h.{i}.ln_1`` / ``ln_2``          ``blocks.{i}.ln1`` / ``ln2``
``h.{i}.attn.c_attn`` (d, 3d)      ``blocks.{i}.attn.qkv`` (3d, d): transposed
``h.{i}.attn.c_proj``              ``blocks.{i}.attn.proj``
``h.{i}.mlp.c_fc`` / ``c_proj``    ``blocks.{i}.ffn.fc`` / ``ffn.proj``
``ln_f``                           ``ln_f``
=================================  =====================================================

GPT-2's ``Conv1D`` stores weights (in x out), the transpose of ``nn.Linear``; like the book,
which loads them into ``nn.Linear`` layers, the import transposes them into Glassbox's
:class:`~core.model.layers.Dense` (out x in). The embedding matrix is taken as it is.

To get the files (with internet access), e.g. for the 124M model::

    pip install huggingface_hub
    huggingface-cli download openai-community/gpt2 config.json model.safetensors \
        --local-dir ~/.glassbox/models/gpt2
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from core.model.checkpoint import CheckpointError, check_state_dict
from core.model.config import GPTConfig
from core.model.gpt import GPT

_BLOCK_NAMES = {
    "ln_1.weight": "ln1.weight",
    "ln_1.bias": "ln1.bias",
    "ln_2.weight": "ln2.weight",
    "ln_2.bias": "ln2.bias",
    "attn.c_attn.weight": "attn.qkv.weight",
    "attn.c_attn.bias": "attn.qkv.bias",
    "attn.c_proj.weight": "attn.proj.weight",
    "attn.c_proj.bias": "attn.proj.bias",
    "mlp.c_fc.weight": "ffn.fc.weight",
    "mlp.c_fc.bias": "ffn.fc.bias",
    "mlp.c_proj.weight": "ffn.proj.weight",
    "mlp.c_proj.bias": "ffn.proj.bias",
}
_TOP_NAMES = {
    "wpe.weight": "pos_emb.weight",
    "ln_f.weight": "ln_f.weight",
    "ln_f.bias": "ln_f.bias",
}
_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")


def read_gpt2_config(folder: str | Path) -> GPTConfig:
    """The :class:`GPTConfig` described by a Hugging Face GPT-2 ``config.json``."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{folder} has no config.json: is it a Hugging Face GPT-2 folder?")
    try:
        hf = json.loads(path.read_text())
        return GPTConfig(
            vocab_size=int(hf["vocab_size"]),
            context_length=int(hf.get("n_positions", hf.get("n_ctx", 1024))),
            n_layer=int(hf["n_layer"]),
            n_head=int(hf["n_head"]),
            n_embd=int(hf["n_embd"]),
            qkv_bias=True,
            tie_embeddings=True,
            layer_norm_eps=float(hf.get("layer_norm_epsilon", 1e-5)),
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a usable GPT-2 config ({exc!r})") from exc


def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    st, pt = folder / "model.safetensors", folder / "pytorch_model.bin"
    try:
        if st.is_file():
            return load_file(str(st))
        if pt.is_file():
            loaded = torch.load(pt, map_location="cpu", weights_only=True, mmap=True)
            if not isinstance(loaded, dict) or not all(
                isinstance(v, torch.Tensor) for v in loaded.values()
            ):
                raise ValueError("it does not hold a plain state dict of tensors")
            return loaded
    except (SafetensorError, pickle.UnpicklingError, RuntimeError, OSError, ValueError) as exc:
        name = st.name if st.is_file() else pt.name
        raise CheckpointError(f"{folder / name} cannot be read ({exc}); re-download it") from exc
    raise CheckpointError(f"{folder} has neither model.safetensors nor pytorch_model.bin")


def map_gpt2_state_dict(hf: dict[str, torch.Tensor], config: GPTConfig) -> dict[str, torch.Tensor]:
    """Rename (and where needed transpose) Hugging Face GPT-2 tensors to Glassbox names."""
    out: dict[str, torch.Tensor] = {}
    lm_head = None
    for raw_name, tensor in hf.items():
        name = raw_name.removeprefix("transformer.")
        if name.endswith(_IGNORED_SUFFIXES):
            continue
        if name == "lm_head.weight":
            lm_head = tensor
        elif name == "wte.weight":
            out["head.weight"] = tensor  # (vocab, d): the tied embedding/head table
        elif name in _TOP_NAMES:
            out[_TOP_NAMES[name]] = tensor
        elif name.startswith("h."):
            _, layer, rest = name.split(".", 2)
            if rest not in _BLOCK_NAMES:
                raise CheckpointError(f"unexpected GPT-2 tensor {raw_name}")
            target = _BLOCK_NAMES[rest]
            if target.endswith(".weight") and tensor.dim() == 2:  # Conv1D (in, out) -> (out, in)
                tensor = tensor.t().contiguous()
            out[f"blocks.{layer}.{target}"] = tensor
        else:
            raise CheckpointError(f"unexpected GPT-2 tensor {raw_name}")
    qkv = out.get("blocks.0.attn.qkv.weight")  # transposed above: (3d, d) for a Conv1D file
    if qkv is not None and tuple(qkv.shape) == (config.n_embd, 3 * config.n_embd):
        raise CheckpointError(
            "c_attn.weight is stored (3d, d) like nn.Linear, not (d, 3d) like GPT-2's Conv1D; "
            "this is not an original GPT-2 checkpoint layout"
        )
    if (
        lm_head is not None
        and "head.weight" in out
        and not torch.equal(lm_head, out["head.weight"])
    ):
        raise CheckpointError("lm_head.weight differs from wte.weight: untied heads are not GPT-2")
    return out


def load_gpt2(
    folder: str | Path,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> GPT:
    """Build a GPT in eval mode from a Hugging Face GPT-2 folder (any of the four sizes)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"GPT-2 folder {folder} does not exist")
    config = read_gpt2_config(folder)
    tensors = map_gpt2_state_dict(_read_weights(folder), config)
    with torch.device("meta"):
        model = GPT(config)
    check_state_dict(model, tensors, f"GPT-2 folder {folder}")
    tensors = {k: v.to(torch.float32).contiguous() for k, v in tensors.items()}
    model.load_state_dict(tensors, assign=True)
    return model.to(device=device or "cpu", dtype=dtype).eval()
