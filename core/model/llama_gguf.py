"""Load a Llama from a GGUF file (llama.cpp's format), with a cache of the dequantized weights.

Three steps:

1. read the architecture's numbers from the metadata (``llama.block_count``, ...) into a
   :class:`LlamaConfig`;
2. dequantize every tensor (``core/model/gguf.py``) and rename it (``blk.3.attn_q.weight``
   -> ``blocks.3.attn.q.weight``);
3. undo the row order llama.cpp's converter gives the Q and K projections. Its rotary code
   pairs dimensions (0, 1), (2, 3), ... of a head, while Hugging Face's Llama (and ours,
   ``rotate``) pairs dimension i with i + head_dim/2; the converter therefore interleaves the
   two halves of each head's rows. :func:`unpermute_rotary_rows` puts them back. Skipping it
   leaves a model that loads but writes gibberish; the tests compare logits with
   ``transformers`` and catch it.

Dequantizing 134.5M weights takes seconds, so the float32 weights are kept as a safetensors
file in ``cache_dir`` (named after the GGUF file's size and modification time), with the
tokenizer's metadata in its header: a second start reads it in a fraction of a second.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from core.model.gguf import GGUFError, GGUFFile, open_gguf, read_tensor
from core.model.llama import Llama, LlamaConfig, rotary_tables

# What the loader knows how to build; anything else gets a clear message.
SUPPORTED_ARCHITECTURES = ("llama",)
# Longest context Glassbox uses by default: the KV cache is allocated for the whole context
# (SmolLM2 at 8,192 positions would be 377 MB per sequence in float32; 2,048 is 94 MB).
DEFAULT_CONTEXT = 2048
CACHE_FORMAT = 1  # bump when the cached layout changes

_LAYER_NAMES = {
    "attn_norm.weight": "attn_norm.weight",
    "attn_q.weight": "attn.q.weight",
    "attn_k.weight": "attn.k.weight",
    "attn_v.weight": "attn.v.weight",
    "attn_output.weight": "attn.o.weight",
    "ffn_norm.weight": "ffn_norm.weight",
    "ffn_gate.weight": "ffn.gate.weight",
    "ffn_up.weight": "ffn.up.weight",
    "ffn_down.weight": "ffn.down.weight",
}
_TOP_NAMES = {
    "token_embd.weight": "tok_emb.weight",
    "output_norm.weight": "norm.weight",
    "output.weight": "head.weight",
}


def unpermute_rotary_rows(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Undo llama.cpp's row order of a Q or K weight (n_heads * head_dim, d).

    The converter (``convert_hf_to_gguf.py``, ``LlamaModel.permute``) reshapes each head's
    rows as (2, head_dim/2) and swaps the two axes, so rows [a0 a1 .. | b0 b1 ..] become
    [a0 b0 a1 b1 ..]. This reshapes them as (head_dim/2, 2) and swaps back.
    """
    rows, d = weight.shape
    head_dim = rows // n_heads
    return (
        weight.reshape(n_heads, head_dim // 2, 2, d).transpose(1, 2).reshape(rows, d).contiguous()
    )


def _number(meta, key: str, kind=int):
    if key not in meta:
        raise GGUFError(f"the GGUF metadata has no {key!r}: not a complete llama model file")
    value = meta[key]
    return kind(value)


def llama_config(gguf: GGUFFile, context_length: int | None = DEFAULT_CONTEXT) -> LlamaConfig:
    """The :class:`LlamaConfig` a GGUF file describes (raises for other architectures)."""
    arch = gguf.architecture
    if arch not in SUPPORTED_ARCHITECTURES:
        raise GGUFError(
            f"{gguf.path.name} holds a {arch!r} model; Glassbox loads GGUF files of the "
            f"architectures {', '.join(SUPPORTED_ARCHITECTURES)} (GPT-2 weights load from a "
            "Hugging Face folder instead)"
        )
    m = gguf.metadata
    n_embd = _number(m, "llama.embedding_length")
    n_head = _number(m, "llama.attention.head_count")
    tokens = m.get("tokenizer.ggml.tokens")
    vocab = int(m.get("llama.vocab_size", len(tokens) if tokens else 0))
    if vocab <= 0:
        raise GGUFError("the GGUF metadata gives no vocabulary size")
    rope_dims = int(m.get("llama.rope.dimension_count", n_embd // n_head))
    if rope_dims != n_embd // n_head:
        raise GGUFError(f"partial rotary embeddings ({rope_dims} dimensions) are not supported")
    file_context = _number(m, "llama.context_length")
    eos = m.get("tokenizer.ggml.eos_token_id")
    try:
        return LlamaConfig(
            vocab_size=vocab,
            context_length=min(file_context, context_length or file_context),
            n_layer=_number(m, "llama.block_count"),
            n_head=n_head,
            n_kv_head=int(m.get("llama.attention.head_count_kv", n_head)),
            n_embd=n_embd,
            ffn_hidden=_number(m, "llama.feed_forward_length"),
            rope_theta=float(m.get("llama.rope.freq_base", 10_000.0)),
            rms_norm_eps=_number(m, "llama.attention.layer_norm_rms_epsilon", float),
            tie_embeddings="output.weight" not in gguf.tensors,
            eos_token_id=None if eos is None else int(eos),
        )
    except ValueError as exc:
        raise GGUFError(f"the GGUF metadata describes an impossible model: {exc}") from exc


def gguf_state_dict(gguf: GGUFFile, config: LlamaConfig) -> dict[str, torch.Tensor]:
    """Dequantized float32 weights under :class:`Llama`'s names, Q/K rows in our order."""
    state: dict[str, torch.Tensor] = {}
    for name, info in gguf.tensors.items():
        if name in _TOP_NAMES:
            ours = _TOP_NAMES[name]
        elif name.startswith("blk.") and name.split(".", 2)[2] in _LAYER_NAMES:
            _, layer, rest = name.split(".", 2)
            ours = f"blocks.{layer}.{_LAYER_NAMES[rest]}"
        elif name == "rope_freqs.weight":
            raise GGUFError("rotary frequency factors (rope scaling) are not supported")
        else:
            continue  # tensors the model does not use (none in SmolLM2)
        weight = read_tensor(info)
        if name.endswith("attn_q.weight"):
            weight = unpermute_rotary_rows(weight, config.n_head)
        elif name.endswith("attn_k.weight"):
            weight = unpermute_rotary_rows(weight, config.n_kv_head)
        state[ours] = weight
    if config.tie_embeddings:
        state["head.weight"] = state.get("tok_emb.weight", torch.empty(0))
    return state


def _build(config: LlamaConfig, state: dict[str, torch.Tensor], source: str) -> Llama:
    with torch.device("meta"):
        model = Llama(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected != got:
        missing = sorted(set(expected) - set(got))[:3]
        wrong = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])[:3]
        raise GGUFError(
            f"{source} does not match the llama layout its metadata describes "
            f"(missing {missing}, wrong shape {wrong})"
        )
    model.load_state_dict(state, assign=True)
    if config.tie_embeddings:
        model.head.weight = model.tok_emb.weight
    model.rope_cos, model.rope_sin = rotary_tables(config)  # buffers made on "meta" above
    return model.eval().requires_grad_(False)


def _cache_path(path: Path, cache_dir: Path, context_length: int | None) -> Path:
    stat = path.stat()
    tag = f"{path.stem}-{stat.st_size}-{stat.st_mtime_ns}-c{context_length}-v{CACHE_FORMAT}"
    return cache_dir / f"{tag}.safetensors"


def read_llama_gguf(
    path: str | Path,
    *,
    cache_dir: str | Path | None = None,
    context_length: int | None = DEFAULT_CONTEXT,
) -> tuple[Llama, dict[str, Any]]:
    """A :class:`Llama` in eval mode (float32, CPU) and the file's ``tokenizer.*`` metadata.

    With ``cache_dir`` the dequantized weights (and that metadata) are written there once
    (atomically) and read back on later calls, without parsing the GGUF file again. Raises
    :class:`GGUFError` with a message a user can act on.
    """
    path = Path(path)
    cached = None if cache_dir is None else _cache_path(path, Path(cache_dir), context_length)
    if cached is not None and cached.is_file():
        try:
            with safe_open(cached, "pt") as f:
                header = f.metadata()
            config = LlamaConfig.from_dict(json.loads(header["config"]))
            tokenizer = json.loads(header["tokenizer"])
            state = load_file(cached)
            state["head.weight"] = state.get("head.weight", state.get("tok_emb.weight"))
            return _build(config, state, str(cached)), tokenizer
        except (SafetensorError, OSError, KeyError, ValueError):
            cached.unlink(missing_ok=True)  # unreadable cache: rebuild it from the GGUF
    gguf = open_gguf(path)
    config = llama_config(gguf, context_length)
    state = gguf_state_dict(gguf, config)
    model = _build(config, state, path.name)
    tokenizer = {k: v for k, v in gguf.metadata.items() if k.startswith("tokenizer.")}
    if cached is not None:
        _write_cache(cached, path.stem, state, config, tokenizer)
    return model, tokenizer


def load_llama_gguf(
    path: str | Path,
    *,
    cache_dir: str | Path | None = None,
    context_length: int | None = DEFAULT_CONTEXT,
) -> Llama:
    """A :class:`Llama` from a GGUF file (:func:`read_llama_gguf` without the metadata)."""
    return read_llama_gguf(path, cache_dir=cache_dir, context_length=context_length)[0]


def _write_cache(
    target: Path,
    stem: str,
    state: dict[str, torch.Tensor],
    config: LlamaConfig,
    tokenizer: dict[str, Any],
) -> None:
    """Save the weights next to ``target`` then rename: a reader never sees half a file."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for old in target.parent.glob(f"{stem}-*.safetensors"):
            old.unlink(missing_ok=True)  # caches of earlier versions of the file
        fd, tmp_name = tempfile.mkstemp(suffix=".part", dir=target.parent)  # one per writer
        os.close(fd)
        tmp = Path(tmp_name)
        tensors = {
            k: v for k, v in state.items() if not (config.tie_embeddings and k == "head.weight")
        }
        header = {"config": json.dumps(config.to_dict()), "tokenizer": json.dumps(tokenizer)}
        try:
            save_file(tensors, tmp, metadata=header)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    except (OSError, SafetensorError, TypeError, ValueError):
        pass  # no cache (read-only or full disk): the next load dequantizes again
