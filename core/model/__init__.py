"""The models: GPT and Llama, config, KV cache, capture, checkpoints, GPT-2 and GGUF import.

Follows "Build a Large Language Model (From Scratch)", ch. 3-5::

    from core.model import GPT, GPTConfig, KVCache, ModelOutput
    model = GPT(GPTConfig(vocab_size=4096, context_length=256, n_layer=4, n_head=8, n_embd=256))
    cache = model.new_kv_cache()
    logits = model(ids, kv_cache=cache)        # (B, T_new, vocab); the cache advances
    out = model(ids, capture=True)             # ModelOutput(logits, attentions, hidden_states)

    from core.model import load_llama_gguf       # a Llama (SmolLM2) from a GGUF file
    llama = load_llama_gguf(path, cache_dir=home / "cache")  # same interface as GPT

    from core.model.decoding import pick_decoder  # fast one-token steps beside the model
    decoder = pick_decoder(model, cache)          # None: model(token, kv_cache=cache)
"""

from core.model.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_vocab_fits,
    file_sha256,
    load_checkpoint,
    save_checkpoint,
)
from core.model.config import ConfigError, GPTConfig, gpt2_config
from core.model.generate import crop_to_context, generate, sample_next
from core.model.gguf import GGUFError
from core.model.gpt import GPT, InputError, ModelOutput
from core.model.gpt2_import import load_gpt2
from core.model.kv_cache import CacheFullError, KVCache
from core.model.llama import Llama, LlamaConfig
from core.model.llama_gguf import load_llama_gguf

__all__ = [
    "GPT",
    "CacheFullError",
    "Checkpoint",
    "CheckpointError",
    "ConfigError",
    "GGUFError",
    "GPTConfig",
    "InputError",
    "KVCache",
    "Llama",
    "LlamaConfig",
    "ModelOutput",
    "check_vocab_fits",
    "crop_to_context",
    "file_sha256",
    "generate",
    "gpt2_config",
    "load_checkpoint",
    "load_gpt2",
    "load_llama_gguf",
    "sample_next",
    "save_checkpoint",
]
