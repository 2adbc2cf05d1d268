"""One attention head computed number by number, with the model's own weights and inputs.

Follows "Build a Large Language Model (From Scratch)", ch. 3 (3.4: x -> Q, K, V with
trainable weights; 3.5: scores, scaling by sqrt(d_head), the causal mask, softmax; 3.6: the
heads concatenated and projected), and for Llama the rotary rotation of Q and K (Su et al.
2021). The input ``x`` is what the layer's attention really reads (the normalised hidden
state of the previous layer: ``ln1`` for the GPT, ``attn_norm`` for Llama), and every step
is a plain matrix product on the layer's parameters; ``output`` equals what the model's own
attention module returns for the same input (tested).

    steps = explain_head(model, ids, layer=1, head=3)
    steps.weights      # (T, T): the row-softmax of steps.masked
    steps.output       # (T, d): attention output of the whole layer for these tokens
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.attention.capture import head_layout
from core.attention.stats import AttentionInputError
from core.model.llama import Llama, rotate

EXPLAIN_MAX_TOKENS = 16  # rows shown number by number


@dataclass(frozen=True)
class HeadSteps:
    """Every intermediate of one head (numpy float32), rows = query tokens."""

    layer: int
    head: int
    kv_head: int  # the key/value head it reads (= head without grouped-query attention)
    x: np.ndarray  # (T, d) input to the attention (after the layer's norm)
    w_q: np.ndarray  # (d, hd) this head's columns of the query projection
    w_k: np.ndarray  # (d, hd)
    w_v: np.ndarray  # (d, hd)
    q: np.ndarray  # (T, hd) queries (rotated, for Llama)
    k: np.ndarray  # (T, hd) keys (rotated, for Llama)
    v: np.ndarray  # (T, hd)
    q_before_rotation: np.ndarray | None  # (T, hd) Llama only: x W_q before RoPE
    k_before_rotation: np.ndarray | None
    angles: np.ndarray | None  # (T, hd/2) Llama only: rotation angle of each pair, radians
    scores: np.ndarray  # (T, T) q k^T
    scaled: np.ndarray  # (T, T) scores / sqrt(hd)
    masked: np.ndarray  # (T, T) scaled with -inf above the diagonal
    weights: np.ndarray  # (T, T) softmax of each row
    context: np.ndarray  # (T, hd) weights @ v: this head's output
    concat: np.ndarray  # (T, n_head * hd) every head's context side by side
    output: np.ndarray  # (T, d) concat @ W_o (+ bias): what the layer adds to the residual

    @property
    def head_dim(self) -> int:
        return int(self.q.shape[1])


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def _softmax_masked(scaled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    T = scaled.shape[-1]
    mask = torch.ones(T, T, dtype=torch.bool, device=scaled.device).tril()  # key <= query
    masked = scaled.masked_fill(~mask, float("-inf"))
    return masked, torch.softmax(masked, dim=-1)


@torch.no_grad()
def layer_input(model: Any, ids: list[int], layer: int) -> torch.Tensor:
    """(T, d): the normalised hidden state that layer ``layer``'s attention reads."""
    lay = head_layout(model)
    if not 0 <= layer < lay.n_layer:
        raise AttentionInputError(f"layer {layer} does not exist (0 .. {lay.n_layer - 1})")
    if not ids:
        raise AttentionInputError("no tokens to explain")
    idx = torch.tensor([ids], dtype=torch.long, device=model.device)
    hidden = model(idx, capture=True).hidden_states[layer]  # (1, T, d) entering the block
    block = model.blocks[layer]
    norm = block.attn_norm if isinstance(model, Llama) else block.ln1
    return norm(hidden)[0]


@torch.no_grad()
def explain_head(model: Any, ids: list[int], layer: int, head: int) -> HeadSteps:
    """Head ``head`` of layer ``layer`` on ``ids`` (at most EXPLAIN_MAX_TOKENS), step by step."""
    lay = head_layout(model)
    if not 0 <= head < lay.n_head:
        raise AttentionInputError(f"head {head} does not exist (0 .. {lay.n_head - 1})")
    if len(ids) > EXPLAIN_MAX_TOKENS:
        raise AttentionInputError(
            f"{len(ids)} tokens: the step-by-step view takes at most {EXPLAIN_MAX_TOKENS}"
        )
    x = layer_input(model, ids, layer).float()  # (T, d)
    attn = model.blocks[layer].attn
    T = x.shape[0]
    if isinstance(model, Llama):
        hd = model.config.head_dim
        wq_all, wk_all = attn.q.weight.float(), attn.k.weight.float()  # (H*hd, d), (Hkv*hd, d)
        wv_all, wo = attn.v.weight.float(), attn.o.weight.float()
        bq = bk = bv = bo = None
        cos = model.rope_cos[:T].float()  # (T, hd)
        sin = model.rope_sin[:T].float()
    else:
        hd = model.config.head_dim
        d = model.config.n_embd
        w, b = attn.qkv.weight.float(), attn.qkv.bias  # (3d, d), (3d,) or None
        wq_all, wk_all, wv_all = w[:d], w[d : 2 * d], w[2 * d :]
        bq, bk, bv = (None, None, None) if b is None else (b[:d], b[d : 2 * d], b[2 * d :])
        wo, bo = attn.proj.weight.float(), attn.proj.bias

    def project(w_all, bias, h):  # (T, hd): rows h*hd .. (h+1)*hd of a (out, d) weight
        rows = slice(h * hd, (h + 1) * hd)
        out = x @ w_all[rows].T
        return out if bias is None else out + bias[rows].float()

    def one_head(h: int) -> dict[str, torch.Tensor]:
        kv = lay.kv_head_of(h)
        q, k, v = project(wq_all, bq, h), project(wk_all, bk, kv), project(wv_all, bv, kv)
        parts = {"q0": q, "k0": k}
        if isinstance(model, Llama):
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)  # (T, hd) each
        scores = q @ k.T  # (T, T)
        scaled = scores / math.sqrt(hd)
        masked, weights = _softmax_masked(scaled)
        return parts | {
            "q": q, "k": k, "v": v, "scores": scores, "scaled": scaled,
            "masked": masked, "weights": weights, "context": weights @ v,
        }  # fmt: skip

    heads = [one_head(h) for h in range(lay.n_head)]
    concat = torch.cat([h["context"] for h in heads], dim=-1)  # (T, H*hd)
    output = concat @ wo.T + (0 if bo is None else bo.float())  # (T, d)
    mine = heads[head]
    kv = lay.kv_head_of(head)
    rows = slice(head * hd, (head + 1) * hd)
    kv_rows = slice(kv * hd, (kv + 1) * hd)
    llama = isinstance(model, Llama)
    angles = None
    if llama:
        inv_freq = 1.0 / (model.config.rope_theta ** (torch.arange(0, hd, 2).float() / hd))
        angles = _np(torch.outer(torch.arange(T).float(), inv_freq))  # (T, hd/2)
    return HeadSteps(
        layer=layer,
        head=head,
        kv_head=kv,
        x=_np(x),
        w_q=_np(wq_all[rows].T),
        w_k=_np(wk_all[kv_rows].T),
        w_v=_np(wv_all[kv_rows].T),
        q=_np(mine["q"]),
        k=_np(mine["k"]),
        v=_np(mine["v"]),
        q_before_rotation=_np(mine["q0"]) if llama else None,
        k_before_rotation=_np(mine["k0"]) if llama else None,
        angles=angles,
        scores=_np(mine["scores"]),
        scaled=_np(mine["scaled"]),
        masked=_np(mine["masked"]),
        weights=_np(mine["weights"]),
        context=_np(mine["context"]),
        concat=_np(concat),
        output=_np(output),
    )


@torch.no_grad()
def model_attention_output(model: Any, ids: list[int], layer: int) -> np.ndarray:
    """(T, d): the layer's own attention module on the same input (the reference)."""
    x = layer_input(model, ids, layer)[None]  # (1, T, d)
    attn = model.blocks[layer].attn
    if isinstance(model, Llama):
        T = x.shape[1]
        cos, sin = model.rope_cos[:T].to(x.dtype), model.rope_sin[:T].to(x.dtype)
        out, _ = attn(x, cos, sin, need_weights=True)
    else:
        out, _ = attn(x, need_weights=True)
    return _np(out[0])


# ---------------------------------------------------------------- what the page draws
@dataclass(frozen=True)
class StepPanel:
    """One step of the number-by-number view: a titled matrix with a line saying what it is."""

    title: str  # "5. Q·Kᵀ"
    text: str  # what the step computes
    matrix: np.ndarray  # rows = query tokens
    columns: list[str] | None  # column labels: tokens, head dimensions; None = numbered
    xtitle: str = ""
    diverging: bool = True  # a colour scale centred at 0 (False for weights and angles)


def steps_intro(steps: HeadSteps, n_tokens: int, gap: float) -> str:
    """The line above the steps: which head, and how close the last step is to the model."""
    same = "identical, to the last bit" if gap == 0 else f"largest difference {gap:.1e}"
    return (
        f"Layer {steps.layer}, head {steps.head} on {n_tokens} tokens. Each step is a plain "
        "matrix operation on the layer's own weights; the last one equals the model's "
        f"attention output ({same})."
    )


def step_panels(steps: HeadSteps, tokens: list[str], n_head: int) -> list[StepPanel]:
    """The steps x -> Q, K, V -> scores -> softmax -> output, in the book's order (with the
    rotation of Q and K for Llama); ``tokens`` label the rows and the T-wide columns."""
    hd, d = steps.head_dim, steps.x.shape[1]
    dims = [f"d{j}" for j in range(hd)]
    panels = [
        StepPanel("1. x", f"the {d}-wide input of the layer's attention (after its norm), one "
                  "row per token", steps.x, None, xtitle="feature"),
    ]  # fmt: skip
    if steps.q_before_rotation is not None and steps.angles is not None:
        panels += [
            StepPanel("2a. x·W_q", f"queries before rotation ({hd} numbers per token)",
                      steps.q_before_rotation, dims),
            StepPanel("2b. Rotation angles", "RoPE turns each pair (i, i + hd/2) by position × "
                      "frequency (radians): the score then depends on the distance between "
                      "tokens", steps.angles, [f"pair {j}" for j in range(hd // 2)],
                      diverging=False),
            StepPanel("2c. Q = rotate(x·W_q)", "the rotated queries", steps.q, dims),
            StepPanel("3. K = rotate(x·W_k)",
                      f"keys of key/value head {steps.kv_head}, rotated the same way", steps.k,
                      dims),
        ]  # fmt: skip
    else:
        panels += [
            StepPanel("2. Q = x·W_q", f"queries ({hd} numbers per token)", steps.q, dims),
            StepPanel("3. K = x·W_k", "keys", steps.k, dims),
        ]
    concat_cols = [f"h{j // hd}.{j % hd}" for j in range(steps.concat.shape[1])]
    panels += [
        StepPanel("4. V = x·W_v", "values", steps.v, dims),
        StepPanel("5. Q·Kᵀ", "scores: how well each query matches each key", steps.scores,
                  tokens),
        StepPanel("6. ÷ √d", f"scaled by 1/√{hd} = {1 / math.sqrt(hd):.4f}", steps.scaled,
                  tokens),
        StepPanel("7. Causal mask", "a token cannot see later tokens (−∞)", steps.masked,
                  tokens),
        StepPanel("8. Softmax", "each row turned into weights that sum to 1", steps.weights,
                  tokens, diverging=False),
        StepPanel("9. Weights · V", "this head's output: a weighted mix of values",
                  steps.context, dims),
        StepPanel("10. Heads concatenated", f"all {n_head} heads side by side", steps.concat,
                  concat_cols),
        StepPanel("11. Projected: ·W_o", "what the layer adds to the residual stream",
                  steps.output, None, xtitle="feature"),
    ]  # fmt: skip
    return panels
