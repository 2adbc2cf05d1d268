"""A hand-built two-layer attention-only transformer with a planted induction circuit.

The residual stream is a concatenation of one-hot blocks, so every head's job is visible in
its weights: ``[bias | token (V) | position (C) | previous token (V)]``.

* layer 0, head 0 (previous-token): query = position i, key = position j + 1, so query i
  matches key i - 1; it copies that key's token into the "previous token" block;
* layer 0, head 1 (sink): every query matches position 0 only; it writes nothing;
* layer 1, head 0 (induction): query = the current token, key = the token *before* each
  key position (the block layer 0 wrote), so it attends to the position after an earlier
  copy of the current token; position 0 (whose "previous token" is itself) is pushed away;
* layer 1, head 1: all scores 0, uniform attention (broad).

Scores are ``BETA`` times a 0/1 match, so a softmax puts all but e^-BETA of the weight on the
matches. No scaling, norms or MLPs: this is a construction, not a GPT; it only shares the
interface the attention code reads (``config``, ``device``, ``model(ids, capture=True)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.model.gpt import ModelOutput

BETA = 30.0


@dataclass(frozen=True)
class PlantedConfig:
    vocab_size: int = 20
    context_length: int = 40
    n_layer: int = 2
    n_head: int = 2
    start_token: int | None = None


class PlantedInduction:
    """Two layers x two heads; see the module docstring for what each head is built to do."""

    def __init__(self, config: PlantedConfig | None = None) -> None:
        self.config = c = config or PlantedConfig()
        V, C = c.vocab_size, c.context_length
        self.tok = slice(1, 1 + V)
        self.pos = slice(1 + V, 1 + V + C)
        self.prev = slice(1 + V + C, 1 + V + C + V)
        self.d = 1 + V + C + V
        self.device = torch.device("cpu")

    def _embed(self, ids: list[int]) -> torch.Tensor:
        T = len(ids)
        x = torch.zeros(T, self.d, dtype=torch.float64)
        x[:, 0] = 1.0
        for i, t in enumerate(ids):
            x[i, self.tok.start + t] = 1.0
            x[i, self.pos.start + i] = 1.0
        return x

    @staticmethod
    def _attend(scores: torch.Tensor) -> torch.Tensor:
        T = scores.shape[0]
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        return torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)

    def __call__(
        self, idx: torch.Tensor, *, capture: bool = False, last_only: bool = False
    ) -> ModelOutput:
        ids = idx[0].tolist()
        T = len(ids)
        x = self._embed(ids)  # (T, d)
        hidden = [x.clone()]
        pos = x[:, self.pos]  # (T, C)
        shifted = torch.zeros_like(pos)
        shifted[:, 1:] = pos[:, :-1]  # key j carries the one-hot of j + 1
        prev_head = self._attend(BETA * pos @ shifted.T)  # query i matches key i - 1
        sink_head = self._attend(
            BETA * torch.ones(T, 1, dtype=pos.dtype) @ pos[:, :1].T
        )  # key 0 only
        x = x.clone()
        x[:, self.prev] += prev_head @ x[:, self.tok]  # copy the previous token
        hidden.append(x.clone())
        match = x[:, self.tok] @ x[:, self.prev].T  # current token == key's previous token
        first = torch.zeros(T, dtype=x.dtype)
        first[0] = 1.0
        induction_head = self._attend(BETA * match - 2 * BETA * first[None, :])
        broad_head = self._attend(torch.zeros(T, T, dtype=torch.float64))
        x = x + 0.0  # layer 1 writes nothing the probe reads
        hidden.append(x)
        layer0 = torch.stack([prev_head, sink_head])[None].float()  # (1, 2, T, T)
        layer1 = torch.stack([induction_head, broad_head])[None].float()
        logits = (x[:, self.tok] @ torch.eye(self.config.vocab_size, dtype=x.dtype))[None]
        return ModelOutput(logits=logits.float(), attentions=[layer0, layer1], hidden_states=hidden)
