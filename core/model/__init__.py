"""The GPT model: config, modules, KV cache, capture, checkpoints, GPT-2 import.

Follows "Build a Large Language Model (From Scratch)", ch. 3-5.
"""

from core.model.config import ConfigError, GPTConfig, gpt2_config
from core.model.generate import generate, sample_next
from core.model.gpt import GPT, InputError, ModelOutput
from core.model.kv_cache import CacheFullError, KVCache

__all__ = [
    "GPT",
    "CacheFullError",
    "ConfigError",
    "GPTConfig",
    "InputError",
    "KVCache",
    "ModelOutput",
    "generate",
    "gpt2_config",
    "sample_next",
]
