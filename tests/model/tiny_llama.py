"""A tiny random Hugging Face Llama, and the GGUF file llama.cpp's converter would make of it.

``write_gguf`` follows ``convert_hf_to_gguf.py`` (``LlamaModel``): the metadata keys of the
llama architecture, tensor names ``blk.N.attn_q.weight``..., and the Q/K rows permuted for
llama.cpp's rotary layout. Matrices are stored Q8_0 or Q4_1 (with ``gguf.quants``), norms
F32. ``reference_state`` is what those tensors decode to in Hugging Face's row order, made
with the ``gguf`` package alone, so the comparison does not depend on Glassbox's code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from gguf import GGMLQuantizationType, GGUFWriter
from gguf.quants import dequantize, quantize
from transformers import LlamaConfig as HFLlamaConfig
from transformers import LlamaForCausalLM

Q = GGMLQuantizationType

HF_NAMES = {
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
}


def tiny_hf_llama(tie: bool = True, seed: int = 0, vocab_size: int = 96) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = HFLlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        rope_theta=10_000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=tie,
        attention_bias=False,
        mlp_bias=False,
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # norms away from 1 so a swapped norm would show
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0.0, 0.2)
    return model


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's ``LlamaModel.permute``: each head's rows (2, hd/2) -> (hd/2, 2)."""
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def _gguf_name(hf_name: str) -> str:
    if hf_name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf_name == "model.norm.weight":
        return "output_norm.weight"
    if hf_name == "lm_head.weight":
        return "output.weight"
    _, _, layer, rest = hf_name.split(".", 3)
    return f"blk.{layer}.{HF_NAMES[rest]}"


def _qtype(gguf_name: str) -> Q:
    if "norm" in gguf_name:
        return Q.F32
    if gguf_name in ("token_embd.weight", "output.weight") or "attn_v" in gguf_name:
        return Q.Q8_0
    return Q.Q4_1


CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _add_byte_tokenizer(writer: GGUFWriter, vocab_size: int) -> None:
    """A byte-level vocabulary: 3 ChatML specials, then the 256 bytes (``vocab_size`` 259)."""
    from core.tokenization.gguf_tokenizer import _byte_alphabet

    chars = {b: c for c, b in _byte_alphabet().items()}
    base = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    rest = vocab_size - len(base)
    tokens = base + [chars[b] for b in range(256)][:rest]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types([3, 3, 3] + [1] * rest)
    writer.add_token_merges([])
    writer.add_eos_token_id(2)
    writer.add_chat_template(CHATML)


def write_gguf(
    model: LlamaForCausalLM, path: Path, arch: str = "llama", tokenizer: bool = False
) -> dict[str, torch.Tensor]:
    """Write ``model`` as llama.cpp would; return the decoded weights in HF names and order."""
    c = model.config
    writer = GGUFWriter(path, arch)
    if tokenizer:
        _add_byte_tokenizer(writer, c.vocab_size)
    writer.add_block_count(c.num_hidden_layers)
    writer.add_context_length(c.max_position_embeddings)
    writer.add_embedding_length(c.hidden_size)
    writer.add_feed_forward_length(c.intermediate_size)
    writer.add_head_count(c.num_attention_heads)
    writer.add_head_count_kv(c.num_key_value_heads)
    writer.add_rope_freq_base(c.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(c.rms_norm_eps)
    writer.add_rope_dimension_count(c.hidden_size // c.num_attention_heads)
    writer.add_vocab_size(c.vocab_size)
    reference: dict[str, torch.Tensor] = {}
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and c.tie_word_embeddings:
            continue
        name = _gguf_name(hf_name)
        w = tensor.numpy().astype(np.float32)
        qtype = _qtype(name)
        # quantization runs along rows, so it commutes with the row permutation below
        decoded = w if qtype == Q.F32 else dequantize(quantize(w, qtype), qtype)
        reference[hf_name] = torch.from_numpy(decoded.copy())
        if name.endswith("attn_q.weight"):
            w = _permute(w, c.num_attention_heads)
        elif name.endswith("attn_k.weight"):
            w = _permute(w, c.num_key_value_heads)
        if qtype == Q.F32:
            writer.add_tensor(name, w)
        else:
            writer.add_tensor(name, quantize(w, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    if c.tie_word_embeddings:
        reference["lm_head.weight"] = reference["model.embed_tokens.weight"]
    return reference
