"""The LLM math page's model: its state, the bounds of every input, and what each view shows.

The page (``pages/math.py``) only lays out widgets and figures; what it needs computed comes
from here, so it is tested without Streamlit. :class:`MathState` is the whole state a link
carries (``LIMITS`` and ``CHOICES`` bound its fields for the widgets and for the URL reader
``ui.urlstate``); the functions below turn a state plus a loaded model into the numbers each
view prints. Costs are bounded before anything runs: prompts are cut to ``MAX_PROMPT_TOKENS``
tokens, matrices to what :mod:`core.linalg.quant` accepts, devices to 16.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import torch

from core.linalg import LinalgError
from core.linalg.arch import (
    FORMAT_BITS,
    Arch,
    decode_flops,
    from_gpt,
    from_llama,
    kv_bytes,
    kv_bytes_per_token,
    kv_heads_per_device,
    parts,
    prefill_flops,
    weight_bytes,
)
from core.linalg.ffn import FFN, TensorParallel
from core.linalg.products import (
    Matrix,
    by_columns,
    inner_products,
    per_element,
    row_contributions,
    step_view,
)
from core.linalg.quant import Block, error, quantize
from core.linalg.roofline import GPU, Step, decode_step, prefill_step, switch_time
from core.model.config import gpt2_config
from core.model.llama import LlamaConfig

VIEWS = ("x·W", "A·B", "Feed-forward", "Tensor parallel", "Quantization", "Calculators")
MODELS = ("builtin", "smollm2")  # the models the real-weight views open
MAX_PROMPT_CHARS = 500
MAX_PROMPT_TOKENS = 64  # positions the real-weight views run (a forward pass each)
REFERENCE_ARCHS = ("builtin", "smollm2", "gpt2", "gpt2-medium", "gpt2-xl", "custom")
GROUPS = (0, 32, 64, 128)  # 0 = one scale for the whole tensor
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)  # decode batch sizes on the roofline

# Bounds of the numeric fields: (lowest, highest). Upper bounds that depend on the model
# (layer, unit, block) are checked again against it by the functions that use them.
LIMITS: dict[str, tuple[int, int]] = {
    "seed": (0, 1_000_000),
    "step": (0, 18),
    "layer": (0, 63),
    "unit": (0, 100_000),
    "devices": (1, 16),
    "block": (0, 1_000_000),
    "batch": (1, 4096),
    "context": (1, 1_048_576),
    # a custom architecture (defaults: Llama-3-8B's shapes)
    "c_d": (8, 65_536),
    "c_layers": (1, 512),
    "c_heads": (1, 512),
    "c_kv": (1, 512),
    "c_ffn": (1, 1_048_576),
    "c_vocab": (2, 1_048_576),
    "c_ctx": (1, 1_048_576),
}


@dataclass(frozen=True)
class MathState:
    """Everything a link to the page restores."""

    view: str = VIEWS[0]
    model: str = "builtin"  # model of the real-weight views
    seed: int = 0  # random x and W
    step: int = 18  # terms of x·W shown (0 … 18 = all)
    prompt: str = "def add(a, b):\n    return"  # input of the real-weight views
    layer: int = 1  # block whose feed-forward is opened
    unit: int = 0  # hidden unit removed
    devices: int = 4  # simulated tensor-parallel devices
    matrix: str = ""  # parameter quantized ("" = the model's feed-forward down projection)
    bits: int = 4
    group: int = 0  # weights per scale; 0 = per tensor
    tensor: str = "blk.0.ffn_down.weight"  # GGUF tensor opened (SmolLM2)
    block: int = 0  # first GGUF block shown
    arch: str = "qwen2.5-7b"  # calculators: a catalogue model or a reference architecture
    gpu: str = "H100"
    fmt: str = "bf16"  # weight format of the calculators
    batch: int = 8
    context: int = 2048
    c_d: int = 4096  # custom architecture: width
    c_layers: int = 32
    c_heads: int = 32
    c_kv: int = 8
    c_ffn: int = 14_336
    c_vocab: int = 128_256
    c_ctx: int = 8192
    c_mlp: str = "swiglu"  # "swiglu": a Llama (RMSNorm, no biases); "gelu": a GPT
    c_tied: bool = False


CHOICES: dict[str, tuple[Any, ...]] = {
    "view": VIEWS,
    "model": MODELS,
    "bits": (8, 4),
    "group": GROUPS,
    "fmt": tuple(FORMAT_BITS),
    "c_mlp": ("swiglu", "gelu"),
}


def defaults() -> dict[str, Any]:
    return {f.name: getattr(MathState(), f.name) for f in fields(MathState)}


def state_from(values: Mapping[str, Any]) -> MathState:
    """A state from (already bounded) values; unknown keys are ignored."""
    known = {f.name for f in fields(MathState)}
    return replace(MathState(), **{k: v for k, v in values.items() if k in known})


# ---------------------------------------------------------------- x·W


def equations(x: Matrix, w: Matrix, step: int) -> list[str]:
    """One line per output for the per-element view, with the terms counted so far:
    ``y1 = 2·1 + (−1)·3 + 0·0 = −1``; terms not reached yet show as ``…``."""
    view = step_view(x, w, step)
    done = view["done"]
    lines = []
    for j, terms in enumerate(per_element(x, w)):
        shown = [f"{num(t.x)}·{num(t.w)}" if done[t.i][j] else "…" for t in terms]
        total = num(view["partial"][j]) if all(done[i][j] for i in range(len(terms))) else "…"
        lines.append(f"y{j + 1} = " + " + ".join(shown) + f" = {total}")
    return lines


def dots(x: Matrix, w: Matrix) -> list[str]:
    """The column view: ``y3 = x · W[:, 3] = [1, 2, 0] · [3, −1, 2] = 1``."""
    xs = ", ".join(num(v) for v in x[0])
    out = []
    for j, y in enumerate(by_columns(x, w)):
        col = ", ".join(num(row[j]) for row in w)
        out.append(f"y{j + 1} = x · W[:, {j + 1}] = [{xs}] · [{col}] = {num(y)}")
    return out


def num(v: float) -> str:
    text = f"{v:g}" if v == int(v) else f"{v:.3g}"
    return f"({text})" if v < 0 else text


# ---------------------------------------------------------------- real-weight views


def encode_prompt(encode, text: str, start_token: int | None, context: int) -> torch.Tensor:
    """Token ids (1, T) of ``text`` for a model: refused when empty or too long, the start
    token first when the model was trained with one, the last ``MAX_PROMPT_TOKENS`` kept."""
    if not text.strip():
        raise LinalgError("type a prompt: the views need at least one token to run on")
    if len(text) > MAX_PROMPT_CHARS:
        raise LinalgError(f"the prompt is {len(text):,} characters; at most {MAX_PROMPT_CHARS}")
    ids = list(encode(text))
    if start_token is not None:
        ids = [start_token, *ids]
    ids = ids[-min(MAX_PROMPT_TOKENS, context) :]
    if not ids:
        raise LinalgError("the prompt encodes to no tokens")
    return torch.tensor([ids], dtype=torch.long)


def default_matrix(model_kind: str) -> str:
    return "blocks.1.ffn.proj.weight" if model_kind == "gpt" else "blocks.1.ffn.down.weight"


def resolve(value: str, options: Mapping[str, Any] | tuple, fallback: str, what: str):
    """(``value`` if it is one of ``options`` else ``fallback``, a note saying so or None):
    a link made for one model may name a matrix another model does not have."""
    if value in options:
        return value, None
    if not value:
        return fallback, None
    return fallback, f"{what} {value!r} is not in this model; showing {fallback}"


# ---------------------------------------------------------------- calculators


def custom_arch(s: MathState) -> Arch:
    """The architecture typed into the calculators: a Llama (SwiGLU, RMSNorm, RoPE, no
    biases) or a GPT (GELU, LayerNorm, learned positions, biases); :class:`LinalgError` when
    the shapes do not fit together (e.g. a width the heads do not divide)."""
    for key, (lo, hi) in LIMITS.items():
        if key.startswith("c_") and not lo <= getattr(s, key) <= hi:
            raise LinalgError(f"{key[2:]} must be from {lo:,} to {hi:,}")
    gpt = s.c_mlp == "gelu"
    return Arch(
        name="custom",
        vocab=s.c_vocab,
        d=s.c_d,
        n_layer=s.c_layers,
        n_head=s.c_heads,
        n_kv_head=s.c_kv,
        ffn=s.c_ffn,
        mlp=s.c_mlp,
        norm="layernorm" if gpt else "rmsnorm",
        linear_bias=gpt,
        positions=s.c_ctx if gpt else 0,
        tied=s.c_tied,
        context=s.c_ctx,
    )


def reference_arch(key: str) -> Arch:
    """The calculators' reference architectures that are not in the pool's catalogue."""
    if key == "smollm2":
        return from_llama(LlamaConfig(context_length=8192), "SmolLM2-135M")
    if key.startswith("gpt2"):
        return from_gpt(gpt2_config(key), f"GPT-2 {key.removeprefix('gpt2').strip('-') or '124M'}")
    raise LinalgError(f"unknown architecture {key!r}")


@dataclass(frozen=True)
class Calculation:
    """The calculators' numbers for one model on one GPU."""

    arch: Arch
    parts: dict[str, int]
    total: int
    weight_bytes: dict[str, float]  # per format
    prefill_flops_per_token: float  # at ``context`` tokens, causal
    decode_flops: int  # one token at ``context`` keys
    kv_per_token: float  # bytes, in the format's 16-bit KV (bf16)
    kv_total: float  # batch × context
    kv_heads_per_device: dict[int, int]  # tensor-parallel degree → heads per device
    decode: Step
    prefill: Step
    decode_batches: list[tuple[int, Step]]
    switch_pcie_s: float
    switch_hbm_s: float
    fits: bool  # weights + KV cache within the GPU's memory


def calculate(arch: Arch, gpu: GPU, *, fmt: str, batch: int, context: int) -> Calculation:
    """Every calculator number for ``arch`` on ``gpu`` (KV cache in 16 bits)."""
    lo, hi = LIMITS["batch"]
    if not lo <= batch <= hi:
        raise LinalgError(f"batch must be from {lo} to {hi:,}, got {batch}")
    if not 1 <= context <= arch.context:
        raise LinalgError(f"context must be from 1 to {arch.context:,} for {arch.name}")
    p = parts(arch)
    kv = kv_bytes(arch, batch, context)
    sw = switch_time(arch, gpu, fmt)
    return Calculation(
        arch=arch,
        parts=p.as_dict(),
        total=p.total,
        weight_bytes={f: weight_bytes(arch, f) for f in FORMAT_BITS},
        prefill_flops_per_token=prefill_flops(arch, context) / context,
        decode_flops=decode_flops(arch, context),
        kv_per_token=kv_bytes_per_token(arch),
        kv_total=kv,
        kv_heads_per_device={k: kv_heads_per_device(arch, k) for k in (1, 2, 4, 8)},
        decode=decode_step(arch, gpu, batch=batch, context=context, weights=fmt),
        prefill=prefill_step(arch, gpu, tokens=context, weights=fmt),
        decode_batches=[
            (b, decode_step(arch, gpu, batch=b, context=context, weights=fmt)) for b in BATCHES
        ],
        switch_pcie_s=sw.pcie_s,
        switch_hbm_s=sw.hbm_s,
        fits=weight_bytes(arch, fmt) + kv <= gpu.memory_gb * 1e9,
    )


# ---------------------------------------------------------------- what the views print
def counted_rows(x: Matrix, w: Matrix, done: list[list[bool]]) -> list[list[float]]:
    """x_i·W[i, j] for the products the stepper has reached, 0 for the others."""
    return [
        [v if done[i][j] else 0.0 for j, v in enumerate(row)]
        for i, row in enumerate(row_contributions(x, w))
    ]


def inner_lines(a: Matrix, b: Matrix) -> list[str]:
    """``C[1,2] = A[1,:]·B[:,2] = 1·2 + … = 7``: every entry of A·B as an inner product."""
    c = inner_products(a, b)
    n, k, m = len(a), len(b), len(b[0])
    return [
        f"C[{i + 1},{j + 1}] = A[{i + 1},:]·B[:,{j + 1}] = "
        + " + ".join(f"{num(a[i][t])}·{num(b[t][j])}" for t in range(k))
        + f" = {num(c[i][j])}"
        for i in range(n)
        for j in range(m)
    ]


def ffn_intro(f: FFN) -> str:
    """The feed-forward view's opening: the layer's shapes and how a unit reads and writes."""
    kind = (
        "GELU: h = gelu(x·W_up + b)" if f.kind == "gelu" else "SwiGLU: h = silu(x·W_gate)·(x·W_up)"
    )
    return (
        f"Width d = {f.width}, hidden H = {f.hidden_width}. {kind}. Unit i reads x through "
        f"**column i of W_up** (d×H; stored as row i of the {f.hidden_width}×{f.width} "
        "weight) and writes **h_i · row i of W_down** (H×d) into the output: the output is "
        f"a sum of {f.hidden_width} rank-1 pieces."
    )


def tp_intro(f: FFN, layer: int) -> str:
    """The tensor-parallel view's opening: what is split which way, and the one all-reduce."""
    what = "SwiGLU (SmolLM2)" if f.kind == "swiglu" else "GELU MLP (built-in GPT)"
    split = "W_gate and W_up" if f.kind == "swiglu" else "W_up (and its bias)"
    return (
        f"The {what} of layer {layer} split over k devices: {split} **column-parallel** (each "
        "device gets a slice of the hidden units), W_down **row-parallel** (the matching rows). "
        "Each device computes a partial output with no communication; one all-reduce (a sum) "
        "gives the layer's output."
    )


def shard_rows(tp: TensorParallel) -> list[dict[str, Any]]:
    """One row per simulated device: its hidden units, bytes held and bytes sent."""
    return [
        {
            "device": s.rank,
            "hidden units": f"{s.units.start}–{s.units.stop - 1}",
            "bytes held": s.bytes_held,
            "bytes sent": s.bytes_sent,
        }
        for s in tp.shards
    ]


def format_rows(weight: torch.Tensor) -> list[dict[str, Any]]:
    """int8 and int4, per tensor and per group of 32: bits per weight and the error of each."""
    rows = []
    for bits in (8, 4):
        for group in (None, 32):
            q = quantize(weight, bits, group)
            e = error(weight, q.values)
            rows.append(
                {
                    "format": f"int{bits} "
                    + ("per tensor" if group is None else "per group of 32"),
                    "bits/weight": round(q.bits_per_weight, 3),
                    "RMSE": e.rmse,
                    "max |error|": e.max_abs,
                    "relative": e.relative,
                    "SNR (dB)": round(e.snr_db, 1),
                }
            )
    return rows


def block_note(type_name: str) -> str:
    """How a GGUF block type stores its 32 weights."""
    if type_name == "Q4_1":
        return (
            "Q4_1: w = d·q + m, with the low nibbles of the 16 bytes holding weights 0–15 and "
            "the high nibbles 16–31: 20 bytes per 32 weights = 5 bits each. Values below come "
            "from the project's own dequantizer (core/model/gguf.py)."
        )
    return "Q8_0: w = d·q, 34 bytes per 32 weights (8.5 bits)."


def block_rows(blocks: list[Block]) -> list[dict[str, Any]]:
    """One row per opened block: where it sits, its scale (and minimum), codes, values."""
    return [
        {
            "block": b.index,
            "row": b.row,
            "columns": f"{b.col}–{b.col + 31}",
            "scale d": b.scale,
            "minimum m": b.minimum,
            "codes": " ".join(map(str, b.codes)),
            "first values": ", ".join(f"{v:.4f}" for v in b.values[:4]) + ", …",
        }
        for b in blocks
    ]


def arch_line(arch: Arch) -> str:
    """``SmolLM2-135M: 30 layers, width 576, 9 query heads / 3 K/V heads, …``."""
    return (
        f"{arch.name}: {arch.n_layer} layers, width {arch.d}, {arch.n_head} query heads / "
        f"{arch.n_kv_head} K/V heads, {arch.mlp} MLP of {arch.ffn}, vocabulary {arch.vocab:,}"
        f"{', tied head' if arch.tied else ''}."
    )


def count_text(total: int) -> str:
    """A parameter count: ``134.5 M`` or ``7.62 B``."""
    return f"{total / 1e6:,.1f} M" if total < 1e9 else f"{total / 1e9:,.2f} B"


def roofline_points(calc: Calculation, context: int) -> list[tuple[str, float, float]]:
    """(label, FLOP/byte, FLOP/s) of every decode batch size and of the prefill."""
    points = [(f"decode ×{b}", s.intensity, s.flops / s.seconds) for b, s in calc.decode_batches]
    points.append(
        (f"prefill {context}", calc.prefill.intensity, calc.prefill.flops / calc.prefill.seconds)
    )
    return points


def switch_line(calc: Calculation, gpu: GPU, fmt: str) -> str:
    """How long loading the weights takes over the host link, against one read from HBM."""
    return (
        f"Loading {calc.arch.name}'s {calc.weight_bytes[fmt] / 1e9:.2f} GB over the "
        f"{gpu.name}'s {gpu.pcie_gb_s:g} GB/s host link takes {calc.switch_pcie_s:.3f} s, "
        f"{calc.switch_pcie_s / calc.switch_hbm_s:.0f}× one full read from its "
        f"{gpu.hbm_tb_s:g} TB/s HBM ({calc.switch_hbm_s * 1e3:.2f} ms, a decode step's floor)."
    )
