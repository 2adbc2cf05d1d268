"""GPTConfig: the hyper-parameters that fix a GPT's shapes, with a JSON round trip.

Follows "Build a Large Language Model (From Scratch)", ch. 4 (the ``GPT_CONFIG_124M`` dict
of section 4.1), made a typed dataclass so it can be stored in checkpoints and the run store
and come back identical.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A GPTConfig whose values cannot describe a model, with the value to change."""


@dataclass(frozen=True)
class GPTConfig:
    """Shapes and options of a GPT; frozen so a loaded model's config cannot drift."""

    vocab_size: int = 50257  # rows of the token-embedding table = size of the tokenizer
    context_length: int = 1024  # longest sequence; rows of the positional-embedding table
    n_layer: int = 12  # number of transformer blocks
    n_head: int = 12  # attention heads per block; n_embd must divide evenly among them
    n_embd: int = 768  # width of the residual stream (embedding dimension)
    dropout: float = 0.0  # dropout on embeddings and block outputs while training
    attn_dropout: float | None = None  # dropout on attention weights; None = same as dropout
    qkv_bias: bool = False  # bias on the query/key/value projection (GPT-2 has one)
    tie_embeddings: bool = True  # output head reuses the token-embedding matrix (GPT-2 does)
    layer_norm_eps: float = 1e-5  # epsilon of every LayerNorm (GPT-2: 1e-5)
    # Token id every training window began with (e.g. <|endoftext|>); whoever feeds the model
    # puts it at position 0 too. None: windows started anywhere in the text (GPT-2).
    start_token: int | None = None

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context_length", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ConfigError(
                f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}; "
                "pick a head count that divides the width"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.attn_dropout is not None and not 0.0 <= self.attn_dropout < 1.0:
            raise ConfigError(f"attn_dropout must be in [0, 1), got {self.attn_dropout}")
        if self.start_token is not None and (
            not isinstance(self.start_token, int)
            or isinstance(self.start_token, bool)
            or not 0 <= self.start_token < self.vocab_size
        ):
            raise ConfigError(
                f"start_token must be a token id in [0, {self.vocab_size}) or None, "
                f"got {self.start_token!r}"
            )

    @property
    def attention_dropout(self) -> float:
        """Dropout on attention weights (``attn_dropout``, else ``dropout``).

        On CPU, dropping attention weights forces the unfused attention kernel and draws a
        mask of B*H*T*T values per layer; ``attn_dropout=0`` keeps the fused kernel.
        """
        return self.dropout if self.attn_dropout is None else self.attn_dropout

    @property
    def head_dim(self) -> int:
        """Width of one attention head (n_embd / n_head)."""
        return self.n_embd // self.n_head

    def num_parameters(self) -> int:
        """Trainable parameters, counting a tied embedding/head matrix once.

        GPT-2 124M (``GPTConfig(qkv_bias=True)``) gives 124,439,808.
        """
        d, v, t, L = self.n_embd, self.vocab_size, self.context_length, self.n_layer
        qkv = d * 3 * d + (3 * d if self.qkv_bias else 0)
        per_block = 2 * 2 * d + qkv + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
        head = 0 if self.tie_embeddings else d * v
        return v * d + t * d + L * per_block + 2 * d + head

    def matmul_parameters(self) -> int:
        """Parameters that take part in a matrix product per token (the head, not the lookups).

        This is the ``N`` of the ``6·N`` training-FLOPs rule: positional embeddings are a
        lookup; a tied token-embedding matrix counts once because the head multiplies by it,
        an untied one is only a lookup.
        """
        lookups = self.context_length + (0 if self.tie_embeddings else self.vocab_size)
        return self.num_parameters() - lookups * self.n_embd

    def training_flops_per_token(self) -> int:
        """Forward + backward FLOPs per token: ``6·N + 12·n_layer·n_embd·context_length``.

        The second term is attention's QK^T and AV products at full context (PaLM, Chowdhery
        et al. 2022, appendix B), counted without the causal half as is customary.
        """
        return 6 * self.matmul_parameters() + 12 * self.n_layer * self.n_embd * self.context_length

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (JSON-serializable)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The config as a JSON object string with sorted keys."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GPTConfig:
        """Build a config from a dict, refusing unknown keys with their names."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown GPTConfig field(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> GPTConfig:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"GPTConfig JSON is malformed: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError("GPTConfig JSON must be an object")
        return cls.from_dict(data)


# GPT-2 sizes (Radford et al. 2019, table 2), as the book's section 5.5 lists them.
GPT2_SIZES: dict[str, dict[str, int]] = {
    "gpt2": {"n_layer": 12, "n_head": 12, "n_embd": 768},
    "gpt2-medium": {"n_layer": 24, "n_head": 16, "n_embd": 1024},
    "gpt2-large": {"n_layer": 36, "n_head": 20, "n_embd": 1280},
    "gpt2-xl": {"n_layer": 48, "n_head": 25, "n_embd": 1600},
}


def gpt2_config(size: str = "gpt2") -> GPTConfig:
    """The config of a released GPT-2 (vocab 50257, context 1024, QKV bias, tied head)."""
    if size not in GPT2_SIZES:
        raise ConfigError(f"unknown GPT-2 size {size!r}; choose one of {sorted(GPT2_SIZES)}")
    return GPTConfig(vocab_size=50257, context_length=1024, qkv_bias=True, **GPT2_SIZES[size])
