"""The feed-forward layer as up and down projections, one hidden unit at a time, and split
across devices (tensor parallelism).

With linear weights stored (out × in), as ``nn.Linear`` keeps them, a GELU feed-forward is
``y = gelu(x·W_upᵀ + b_up)·W_downᵀ + b_down`` and SwiGLU is
``y = (silu(x·W_gateᵀ) ⊙ x·W_upᵀ)·W_downᵀ``. Written per hidden unit i ("LLM Preliminaries"):
unit i reads x through *column i of W_up* (row i of the stored ``up.weight``), produces one
number h_i, and writes ``h_i · row i of W_down`` (column i of the stored ``down.weight``) into
the output. The output is the sum of these rank-1 contributions, so removing unit i changes
it by exactly that unit's contribution.

**Tensor parallelism** (Megatron-LM, Shoeybi et al. 2019, §3): give device r a contiguous
slice of the hidden units: its rows of W_gate and W_up (a *column-parallel* split of the
(in × hidden) matrices) and the matching columns of the stored down weight (a *row-parallel*
split of W_down). Each device computes a partial output from its units alone, with no
communication in between; one all-reduce (a sum) gives the full output. Each device holds
1/k of the weights and, in a ring all-reduce, sends 2·(k−1)/k of the output's bytes.

Every function takes a model that is shared between sessions and never changes it: a layer
with a unit removed is a twin that shares all other tensors (:func:`with_replaced`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.linalg import LinalgError
from core.model.gpt import GPT
from core.model.llama import Llama

MAX_DEVICES = 16  # simulated devices of the tensor-parallel view


@dataclass(frozen=True)
class FFN:
    """One feed-forward layer's weights, in the stored (out × in) layout."""

    kind: str  # "gelu" (GPT) or "swiglu" (Llama)
    up: torch.Tensor  # (H, d): row i is column i of W_up
    down: torch.Tensor  # (d, H): column i is row i of W_down
    gate: torch.Tensor | None = None  # (H, d), SwiGLU only
    up_bias: torch.Tensor | None = None  # (H,), GELU only
    down_bias: torch.Tensor | None = None  # (d,), GELU only
    module: nn.Module | None = None  # the model's own module (for its real forward)
    down_name: str = "proj.weight"  # the stored down weight's name inside ``module``

    @property
    def hidden_width(self) -> int:
        return self.up.shape[0]

    @property
    def width(self) -> int:
        return self.up.shape[1]


def check_layer(model: GPT | Llama, layer: int) -> None:
    n = len(model.blocks)
    if not 0 <= layer < n:
        raise LinalgError(f"layer must be from 0 to {n - 1}, got {layer}")


def ffn_of(model: GPT | Llama, layer: int) -> FFN:
    """The feed-forward weights of block ``layer`` (views of the model's own tensors)."""
    check_layer(model, layer)
    m = model.blocks[layer].ffn
    if isinstance(model, Llama):
        return FFN("swiglu", m.up.weight, m.down.weight, gate=m.gate.weight, module=m,
                   down_name="down.weight")  # fmt: skip
    return FFN("gelu", m.fc.weight, m.proj.weight, up_bias=m.fc.bias, down_bias=m.proj.bias,
               module=m, down_name="proj.weight")  # fmt: skip


@torch.no_grad()
def ffn_input(model: GPT | Llama, ids: torch.Tensor, layer: int) -> torch.Tensor:
    """What block ``layer``'s feed-forward reads for prompt ``ids`` (1, T): the residual
    stream after the block's attention, normalised; shape (T, d)."""
    check_layer(model, layer)
    out = model(ids, capture=True)
    x = out.hidden_states[layer]  # (1, T, d): the block's input
    block = model.blocks[layer]
    if isinstance(model, Llama):
        T = ids.shape[1]
        cos, sin = model.rope_cos[:T].to(x.dtype), model.rope_sin[:T].to(x.dtype)
        attended, _ = block.attn(block.attn_norm(x), cos, sin)
        return block.ffn_norm(x + attended)[0]
    attended, _ = block.attn(block.ln1(x))
    return block.ln2(x + attended)[0]


def hidden(f: FFN, x: torch.Tensor) -> torch.Tensor:
    """Hidden activations h (T, H) for inputs x (T, d)."""
    if f.kind == "swiglu":
        return F.silu(x @ f.gate.T) * (x @ f.up.T)
    pre = x @ f.up.T + (f.up_bias if f.up_bias is not None else 0)
    return F.gelu(pre, approximate="tanh")


def output(f: FFN, x: torch.Tensor) -> torch.Tensor:
    """y (T, d) = Σ_i h_i · W_down[i, :] (+ bias): the layer written as rank-1 units."""
    y = hidden(f, x) @ f.down.T
    return y + f.down_bias if f.down_bias is not None else y


def unit_contribution(f: FFN, x: torch.Tensor, unit: int) -> torch.Tensor:
    """Unit ``unit``'s share of the output, (T, d): h_unit (a column) ⊗ row ``unit`` of W_down."""
    check_unit(f, unit)
    return torch.outer(hidden(f, x)[:, unit], f.down[:, unit])


def check_unit(f: FFN, unit: int) -> None:
    if not 0 <= unit < f.hidden_width:
        raise LinalgError(f"hidden unit must be from 0 to {f.hidden_width - 1}, got {unit}")


def top_units(f: FFN, x: torch.Tensor, k: int = 10) -> list[tuple[int, float]]:
    """The ``k`` units whose contribution to the last position's output is largest (L2)."""
    h = hidden(f, x)[-1]  # (H,)
    norms = h.abs() * f.down.norm(dim=0)  # ‖h_i · W_down[i, :]‖
    values, index = norms.topk(min(k, f.hidden_width))
    return [(int(i), float(v)) for i, v in zip(index, values, strict=True)]


def with_replaced(module: nn.Module, replace: dict[str, torch.Tensor]) -> nn.Module:
    """A twin of ``module`` in which the named parameters are ``replace``'s tensors and every
    other parameter and buffer is the original tensor (shared, not copied). The original is
    untouched, so a model shared by every session stays as it is."""
    params = dict(module.named_parameters(remove_duplicate=False))
    unknown = sorted(set(replace) - set(params))
    if unknown:
        raise LinalgError(f"no parameter named {', '.join(unknown)}")
    memo: dict[int, object] = {}
    for t in list(module.parameters()) + list(module.buffers()):
        memo[id(t)] = t
    for name, tensor in replace.items():
        memo[id(params[name])] = nn.Parameter(tensor, requires_grad=False)
    return copy.deepcopy(module, memo)


@torch.no_grad()
def without_unit(f: FFN, x: torch.Tensor, unit: int) -> torch.Tensor:
    """The model's own feed-forward module run with hidden unit ``unit`` removed (its row
    of W_down set to zero, on a twin), (T, d)."""
    check_unit(f, unit)
    if f.module is None:
        raise LinalgError("this feed-forward has no module to run")
    down = f.down.clone()
    down[:, unit] = 0.0
    return with_replaced(f.module, {f.down_name: down})(x)


# ---------------------------------------------------------------- tensor parallelism


@dataclass(frozen=True)
class Shard:
    """What simulated device ``rank`` holds and computes."""

    rank: int
    units: range  # hidden units on this device
    partial: torch.Tensor  # (T, d): its partial output, before the all-reduce
    bytes_held: int  # its weights (gate/up rows, down columns, replicated down bias)
    bytes_sent: int  # what it sends in a ring all-reduce of the (T, d) output


@dataclass(frozen=True)
class TensorParallel:
    shards: list[Shard]
    reduced: torch.Tensor  # (T, d): sum of the partials (+ down bias, added once)
    reference: torch.Tensor  # (T, d): the unsplit layer's output (the model's own module)

    @property
    def max_abs_diff(self) -> float:
        return float((self.reduced - self.reference).abs().max())


@torch.no_grad()
def tensor_parallel(f: FFN, x: torch.Tensor, devices: int) -> TensorParallel:
    """Split ``f`` over ``devices`` simulated devices (column-parallel gate/up, row-parallel
    down), compute each partial output, all-reduce, and compare with the unsplit layer."""
    H = f.hidden_width
    if not 1 <= devices <= min(MAX_DEVICES, H):
        raise LinalgError(f"devices must be from 1 to {min(MAX_DEVICES, H)}, got {devices}")
    size = f.up.element_size()
    T, d = x.shape
    sent = 0 if devices == 1 else 2 * (devices - 1) * T * d * size // devices
    shards = []
    for rank, idx in enumerate(torch.arange(H).tensor_split(devices)):
        lo, hi = int(idx[0]), int(idx[-1]) + 1
        part = FFN(
            f.kind,
            f.up[lo:hi],
            f.down[:, lo:hi],
            gate=None if f.gate is None else f.gate[lo:hi],
            up_bias=None if f.up_bias is None else f.up_bias[lo:hi],
        )
        held = sum(
            t.numel() for t in (part.up, part.down, part.gate, part.up_bias, f.down_bias)
            if t is not None
        )  # fmt: skip
        shards.append(Shard(rank, range(lo, hi), output(part, x), held * size, sent))
    reduced = torch.stack([s.partial for s in shards]).sum(0)  # the all-reduce
    if f.down_bias is not None:
        reduced = reduced + f.down_bias
    reference = f.module(x) if f.module is not None else output(f, x)
    return TensorParallel(shards, reduced, reference)
