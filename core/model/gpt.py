"""GPT: token + positional embeddings, pre-LayerNorm transformer blocks, tied output head.

Follows "Build a Large Language Model (From Scratch)", ch. 4 (4.2 LayerNorm, 4.4 shortcut
connections, 4.5 ``TransformerBlock``, 4.6 ``GPTModel``) and GPT-2's layout (Radford et al.
2019): ``x + attn(ln1(x))`` then ``x + ffn(ln2(x))``, a final LayerNorm, and an output head
that by default reuses the token-embedding matrix.

The module holds only weights. Per-sequence state lives in a :class:`KVCache` passed to
``forward``; asking for ``capture=True`` returns every layer's attention weights and the
hidden state after each block, for attention maps, contextual embeddings and a logit lens.
The tied embedding/head matrix is stored (vocab x n_embd), like ``nn.Embedding`` and like the
head's (out x in) weight (see ``layers.py``); a token's embedding is one row of it.

This module is plain PyTorch. The decoders that make the same one-token step fast sit
beside it and are chosen by the samplers (``core/model/decoding.py``): the native CPU
kernel (``gpt_decoder.py``) and CUDA graphs (``graphs.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from core.model.attention import CausalSelfAttention
from core.model.config import GPTConfig
from core.model.kv_cache import KVCache
from core.model.layers import Dense, FeedForward, residual_init_std


class InputError(ValueError):
    """Token ids a model cannot take (wrong shape, dtype, out of vocabulary, too long)."""


# Largest float32 logits block :meth:`GPT.next_token_loss` makes on the CPU. glibc serves
# allocations up to 32 MB from memory it keeps; larger ones are mapped and unmapped each time.
LOSS_BLOCK_BYTES = 16 << 20


@dataclass
class ModelOutput:
    """What ``GPT.forward(..., capture=True)`` returns."""

    logits: torch.Tensor  # (B, T, vocab)
    attentions: list[torch.Tensor] = field(default_factory=list)  # per layer (B, H, T, T_key)
    hidden_states: list[torch.Tensor] = field(default_factory=list)  # n_layer+1 x (B, T, d)


class Block(nn.Module):
    """One pre-LayerNorm transformer block with two shortcut connections (book 4.5)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.ffn = FeedForward(config.n_embd, residual_std=residual_init_std(config.n_layer))
        self.drop = nn.Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        *,
        cache: tuple[torch.Tensor, torch.Tensor] | None = None,
        start: int = 0,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        # x: (B, T, d) -> (B, T, d) at positions start .. start+T-1
        attended, weights = self.attn(
            self.ln1(x), cache=cache, start=start, need_weights=need_weights
        )
        if self.training:
            x = x + self.drop(attended)
            return x + self.drop(self.ffn(self.ln2(x))), weights
        x = x + attended  # eval: dropout is the identity, skip its module call
        return x + self.ffn(self.ln2(x)), weights


class GPT(nn.Module):
    """A GPT-2-style decoder-only language model (book ch. 4, ``GPTModel``)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        d = config.n_embd
        # Output head, weight (vocab, d). When tied it is also the token-embedding table.
        self.head = Dense(d, config.vocab_size, bias=False)
        self.tok_emb = None if config.tie_embeddings else nn.Embedding(config.vocab_size, d)
        self.pos_emb = nn.Embedding(config.context_length, d)  # (context, d)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(d, eps=config.layer_norm_eps)
        nn.init.normal_(self.pos_emb.weight, std=0.01)
        if self.tok_emb is not None:
            nn.init.normal_(self.tok_emb.weight, std=0.02)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    @property
    def dtype(self) -> torch.dtype:
        """The activations' dtype (the KV cache's too): the LayerNorms' parameter dtype."""
        return self.ln_f.weight.dtype

    def cast_matrices(self, dtype: torch.dtype) -> GPT:
        """Store the weight matrices and the token-embedding table in ``dtype``, in place.

        Weight-only low precision: with ``torch.bfloat16`` a decoding step streams half the
        bytes, while LayerNorms, biases, positions, attention, the KV cache and the residual
        stream stay in their dtype (float32), so logits stay close to the float32 model's.
        ``model.to(torch.bfloat16)`` instead casts everything, activations included.
        """
        for module in self.modules():
            if isinstance(module, Dense) or module is self.tok_emb:
                module.weight.data = module.weight.data.to(dtype)
        return self

    def num_parameters(self) -> int:
        """Parameters actually held (a tied matrix counted once)."""
        return sum(p.numel() for p in self.parameters())

    def new_kv_cache(self, batch_size: int = 1) -> KVCache:
        """An empty cache for ``batch_size`` sequences, on this model's device and dtype."""
        c = self.config
        return KVCache(
            n_layer=c.n_layer,
            batch_size=batch_size,
            n_head=c.n_head,
            max_length=c.context_length,
            head_dim=c.head_dim,
            device=self.device,
            dtype=self.dtype,
        )

    def embed_tokens(self, idx: torch.Tensor) -> torch.Tensor:
        """Token embeddings (B, T, d) of ids (B, T)."""
        if self.tok_emb is not None:
            return self.tok_emb(idx)
        return F.embedding(idx, self.head.weight)  # rows of the tied (vocab, d) table

    def token_embedding_matrix(self) -> torch.Tensor:
        """The (vocab, d) token-embedding table (the head's weight when tied)."""
        return self.head.weight if self.tok_emb is None else self.tok_emb.weight

    def logit_lens(self, hidden: torch.Tensor) -> torch.Tensor:
        """Read a hidden state (..., d) as next-token logits (..., vocab): head(ln_f(h))."""
        return self.head(self.ln_f(hidden))

    def _check_input(self, idx: torch.Tensor, start: int) -> None:
        if idx.dim() != 2 or idx.dtype not in (torch.int64, torch.int32):
            raise InputError(
                f"token ids must be an integer tensor of shape (batch, time), got "
                f"{tuple(idx.shape)} {idx.dtype}"
            )
        T = idx.shape[1]
        if T == 0:
            raise InputError("token ids are empty: give at least one token")
        if start + T > self.config.context_length:
            raise InputError(
                f"{start + T} positions exceed the model's context length "
                f"{self.config.context_length}; crop the prompt to its last "
                f"{self.config.context_length - start} tokens"
            )
        # On a GPU this waits for the ids (microseconds); an id out of range would otherwise
        # trip a device-side assert that breaks CUDA for every session of the server.
        low, high = torch.aminmax(idx)
        if int(low) < 0 or int(high) >= self.config.vocab_size:
            raise InputError(
                f"token id out of range [0, {self.config.vocab_size}); was the text encoded "
                "with this model's tokenizer?"
            )

    def _check_step(self, idx: torch.Tensor, kv_cache: KVCache | None) -> int:
        """Check ids (B, T) and the cache they extend; return the first position."""
        start = kv_cache.length if kv_cache is not None else 0
        self._check_input(idx, start)
        if kv_cache is not None:
            B, T = idx.shape
            if kv_cache.batch_size != B:
                raise InputError(f"KV cache is for batch {kv_cache.batch_size}, ids have batch {B}")
            if kv_cache.n_layer != self.config.n_layer:
                raise InputError("KV cache was made for a model with another number of layers")
            kv_cache.check_room(T)
        return start

    def _trunk(
        self, idx: torch.Tensor, kv_cache: KVCache | None, capture: bool
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Embeddings and every block: the last hidden state (B, T, d), before ``ln_f``.

        Also returns, when ``capture`` is set, the hidden state before and after each block
        and each block's attention weights (empty lists otherwise).
        """
        start = self._check_step(idx, kv_cache)
        B, T = idx.shape

        positions = self.pos_emb.weight[start : start + T]  # (T, d): rows of positions
        x = self.drop(self.embed_tokens(idx) + positions)  # (B, T, d)
        hidden_states = [x] if capture else []
        attentions: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            layer_cache = kv_cache.layer(i) if kv_cache is not None else None
            x, weights = block(x, cache=layer_cache, start=start, need_weights=capture)
            if capture:
                hidden_states.append(x)
                attentions.append(weights)
        return x, hidden_states, attentions

    def next_token_loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the logits for ``idx`` (B, T) against ``targets`` (B, T).

        The training loss (book ch. 5.1). On the CPU the head and the softmax run over
        blocks of positions whose logits take at most ``LOSS_BLOCK_BYTES`` (16 MB) each: one
        (B*T, vocab) logits tensor and its gradient (67 MB each for the built-in model's
        batch) were handed back to the system after every step and faulted in afresh on the
        next, which cost more than the softmax itself (``bench/bench_train.py``). Same value
        as ``F.cross_entropy(model(idx).flatten(0, 1), targets.flatten())``.
        """
        x, _, _ = self._trunk(idx, None, False)
        h = self.ln_f(x).flatten(0, 1)  # (B*T, d)
        y = targets.flatten()  # (B*T,)
        rows = h.shape[0]
        if h.device.type != "cpu":
            return F.cross_entropy(self.head(h).float(), y)
        block = max(1, LOSS_BLOCK_BYTES // (4 * self.config.vocab_size))  # positions per block
        total = sum(
            F.cross_entropy(self.head(h_part).float(), y_part, reduction="sum")
            for h_part, y_part in zip(h.split(block), y.split(block), strict=True)
        )
        return total / rows

    def forward(
        self,
        idx: torch.Tensor,
        *,
        kv_cache: KVCache | None = None,
        capture: bool = False,
        last_only: bool = False,
    ) -> torch.Tensor | ModelOutput:
        """Next-token logits for every position of ``idx`` (B, T).

        With ``kv_cache``, ``idx`` holds only the new tokens; their positions start at
        ``kv_cache.length`` and the cache advances by T. ``last_only`` computes the head for
        the last position only (logits (B, 1, vocab)), saving work while decoding. Returns the
        logits (B, T, vocab), or a :class:`ModelOutput` when ``capture`` is set.
        """
        x, hidden_states, attentions = self._trunk(idx, kv_cache, capture)
        if last_only:
            x = x[:, -1:]  # (B, 1, d)
        logits = self.logit_lens(x)  # (B, T or 1, vocab)
        if kv_cache is not None:
            kv_cache.advance(idx.shape[1])
        if capture:
            return ModelOutput(logits=logits, attentions=attentions, hidden_states=hidden_states)
        return logits
