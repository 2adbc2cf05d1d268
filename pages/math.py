"""LLM math: the linear algebra and arithmetic behind the model and the GPU pool, on real weights.

Six views ("LLM Preliminaries"): x·W three ways, matrix × matrix, the feed-forward as up and
down projections, tensor parallelism, quantization, and calculators (parameters, FLOPs, KV
cache, rooflines, model-switch time) linked to the GPU-pool page. The numbers come from
``core.linalg`` (``page`` holds the state and bounds), the figures from ``core.viz.linalg``;
the state lives in the URL. Only the chosen view is computed on a rerun.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from core import registry
from core.linalg import LinalgError
from core.linalg import page as lp
from core.linalg.arch import CATALOGUE_EXTRAS, from_catalogue, from_gpt, parts
from core.linalg.ffn import (
    ffn_input,
    ffn_of,
    hidden,
    tensor_parallel,
    top_units,
    unit_contribution,
    unit_reading,
    without_unit,
)
from core.linalg.products import (
    as_matrix,
    block_products,
    inner_products,
    outer_products,
    random_problem,
    step_view,
)
from core.linalg.quant import (
    block_count,
    histogram,
    matrices,
    next_token_effect,
    open_blocks,
    quantize,
)
from core.linalg.roofline import GPU_SOURCES, pool_query, ridge, switch_time
from core.model import CheckpointError
from core.model.gguf import GGUFError, open_gguf
from core.model.llama import Llama
from core.models.catalog import SMOLLM2
from core.pool.catalogue import gpus, models
from core.pool.setup import MIXES
from core.tokenization.display import display_token
from core.viz import linalg as fig
from ui.boot import ensure_app_shell
from ui.shell import choices
from ui.text import md
from ui.urlstate import Choice, Flag, Int, Param, Text, read_url, warn, write_url

ensure_app_shell()

S = st.session_state
ERRORS = (LinalgError, CheckpointError, GGUFError)
ARCHS = tuple(models()) + lp.REFERENCE_ARCHS
ARCH_LABELS = {"builtin": "Built-in GPT", "smollm2": "SmolLM2-135M", "gpt2": "GPT-2 124M",
               "gpt2-medium": "GPT-2 medium", "gpt2-xl": "GPT-2 XL",
               "custom": "Custom (type the shapes)"}  # fmt: skip
CUSTOM = (("c_d", "Width d"), ("c_layers", "Layers"), ("c_heads", "Query heads"),
          ("c_kv", "K/V heads"), ("c_ffn", "MLP width"), ("c_vocab", "Vocabulary"),
          ("c_ctx", "Max context"))  # fmt: skip


def params() -> dict[str, Param]:
    """The link's entries, bounded as their widgets are."""
    d = lp.MathState()
    out: dict[str, Param] = {k: Int(getattr(d, k), *lim) for k, lim in lp.LIMITS.items()}
    out |= {k: Choice(getattr(d, k), opts) for k, opts in lp.CHOICES.items()}
    out |= {
        "prompt": Text(d.prompt, lp.MAX_PROMPT_CHARS),
        "matrix": Text(d.matrix, 100),
        "tensor": Text(d.tensor, 100),
        "arch": Choice(d.arch, ARCHS),
        "gpu": Choice(d.gpu, tuple(gpus())),
        "c_tied": Flag(d.c_tied),
    }
    return out


PARAMS = params()


def init_state() -> None:
    """Every state key, every run: from the link on a first visit (or a followed link), else
    from the copy of the last run (Streamlit drops the keys of widgets a run did not show,
    and all of them while another page is shown). Re-assigning keeps them across views."""
    if "lm_saved" not in S or (st.query_params and "lm_view" not in S):
        values, S.lm_url_problems = read_url(PARAMS)
        sidebar = choices().model_id  # the real-weight views start on the sidebar's model
        if "model" not in st.query_params and sidebar in lp.MODELS:
            values["model"] = sidebar
    else:
        values = S.lm_saved
    for key, value in values.items():
        S[f"lm_{key}"] = S.get(f"lm_{key}", value)
    S.setdefault("lm_url_problems", [])


@st.cache_resource(show_spinner="Loading the model…")
def _load_cached(model_id: str, uid: str):  # -> registry.LoadedModel, shared read-only
    return registry.load_model(model_id)


@st.cache_resource(show_spinner="Reading SmolLM2's file…")
def _gguf(path: str, mtime: float):  # shared, read-only (tensor data memory-mapped)
    return open_gguf(path)


METRIC_W = 170  # pixels per metric: rows of them wrap on narrow screens


class MetricRow:
    """A row of metrics that wraps onto more lines when the page is narrow."""

    def __init__(self) -> None:
        self.box = st.container(horizontal=True, gap="medium")

    def metric(self, label: str, value: str, **kwargs: Any) -> None:
        self.box.metric(label, value, width=METRIC_W, **kwargs)


def load(model_id: str):
    return _load_cached(model_id, registry.store_key(model_id))


def state() -> lp.MathState:
    return lp.state_from({k: S[f"lm_{k}"] for k in PARAMS})


# ---------------------------------------------------------------- views
def view_xw(s: lp.MathState) -> None:
    st.markdown(
        "A 1×3 row **x** times a 3×6 matrix **W** gives a 1×6 row **y**. Edit the numbers or "
        "draw new ones, then step through the 18 products: all three readings use the same ones."
    )
    c1, c2 = st.columns([1, 3])
    c1.number_input("Seed", *lp.LIMITS["seed"], key="lm_seed", help="Draws x and W (−3…3).")
    c1.button("Randomise", on_click=lambda: S.update(lm_seed=(S.lm_seed + 1) % 1_000_000))
    x0, w0 = random_problem(s.seed)
    with c2:
        ex = st.data_editor(pd.DataFrame(x0, columns=["x1", "x2", "x3"], index=["x"]),
                            key=f"lm_x_{s.seed}", width="stretch")  # fmt: skip
        ew = st.data_editor(
            pd.DataFrame(w0, columns=[f"y{j + 1}" for j in range(6)],
                         index=[f"W row {i + 1}" for i in range(3)]),
            key=f"lm_w_{s.seed}", width="stretch",
        )  # fmt: skip
    try:
        x = as_matrix(ex.to_numpy(), 1, 3, "x")
        w = as_matrix(ew.to_numpy(), 3, 6, "W")
    except LinalgError as exc:
        st.error(f"{md(exc)}. Showing the drawn numbers instead.")
        x, w = x0, w0
    st.slider("Products counted", *lp.LIMITS["step"], key="lm_step",
              help="Terms are taken output by output: y1's three products, then y2's, …")  # fmt: skip
    view = step_view(x, w, S.lm_step)
    a, b = st.columns(2)
    with a:
        st.subheader("1. Each output is a sum of products")
        # wrapped: half the page at 1280 px is narrower than a line (no hidden scroll)
        st.code("\n".join(lp.equations(x, w, S.lm_step)), language=None, wrap_lines=True)
        st.subheader("3. Each output is a dot product with a column")
        st.caption("Where an output comes from: y_j reads x through column j of W.")
        done = view["columns_done"]
        dots = "\n".join(lp.dots(x, w)[:done]) or "(step to a full column)"
        st.code(dots, language=None, wrap_lines=True)
    with b:
        st.subheader("2. y is a combination of W's rows")
        st.caption("Which input contributes: input i scales row i of W and adds it in.")
        st.plotly_chart(fig.contribution_grid_figure(x[0], w, view["done"]), width="stretch")
    counted = lp.counted_rows(x, w, view["done"])  # the bars grow with the stepper too
    st.plotly_chart(fig.row_combination_figure(counted, view["partial"]), width="stretch")


def _one_based(mat: np.ndarray) -> pd.DataFrame:
    """A matrix as a table numbered from 1, as the formulas beside it are."""
    rows, cols = mat.shape
    return pd.DataFrame(mat, index=range(1, rows + 1), columns=[str(j + 1) for j in range(cols)])


def view_ab(s: lp.MathState) -> None:
    st.markdown(
        "**C = A·B** three ways, with A 3×4 and B 4×3 drawn from the seed: every entry an inner "
        "product of a row of A and a column of B; C as a sum of 4 outer products (rank 1 "
        "each); and C in blocks, each block a sum of products of blocks."
    )
    st.columns(3)[0].number_input("Seed", *lp.LIMITS["seed"], key="lm_seed")
    rng = np.random.default_rng(s.seed)
    a = as_matrix(rng.integers(-3, 4, (3, 4)).astype(float), 3, 4, "A")
    b = as_matrix(rng.integers(-3, 4, (4, 3)).astype(float), 4, 3, "B")
    c = np.array(inner_products(a, b))
    cols = st.columns(3)
    for col, (name, mat) in zip(cols, (("A", a), ("B", b), ("C = A·B", c)), strict=True):
        col.markdown(f"**{name}**")
        col.dataframe(_one_based(np.array(mat)), width="stretch")
    st.subheader("Inner products")
    st.code("\n".join(lp.inner_lines(a, b)), language=None)
    st.subheader("Outer products")
    outer = outer_products(a, b)
    st.plotly_chart(fig.outer_products_figure(outer, c), width="stretch")
    st.subheader("Blocks")
    blocks = block_products(a, b, (2, 2, 2))
    st.markdown(
        "Split A after row 2 and column 2, B after row 2 and column 2: "
        "C₁₁ = A₁₁B₁₁ + A₁₂B₂₁, and so on. The blocks put back together give C exactly."
    )
    bc = st.columns(4)
    for k, ((bi, bj), block) in enumerate(sorted(blocks.items())):
        bc[k].markdown(f"**C{bi + 1}{bj + 1}**")
        bc[k].dataframe(_one_based(block), width="stretch")


def _model_and_prompt(s: lp.MathState):
    """The chosen model and the prompt's ids, or None after showing why not."""
    c1, c2 = st.columns([1, 2])
    labels = {"builtin": "Built-in GPT (GELU MLP)", "smollm2": "SmolLM2-135M (SwiGLU)"}
    c1.selectbox("Model", lp.MODELS, key="lm_model", format_func=labels.get)
    c2.text_area("Prompt", key="lm_prompt", height=68, max_chars=lp.MAX_PROMPT_CHARS,
                 help=f"The last {lp.MAX_PROMPT_TOKENS} tokens are used.")  # fmt: skip
    model_id = S.lm_model
    if model_id == "smollm2" and not registry.smollm2_present():
        st.info(
            "SmolLM2 is not on this machine: get it with the sidebar's button or `python -m "
            "core.models get smollm2`. Showing the built-in GPT."
        )
        model_id = "builtin"
    try:
        loaded = load(model_id)
        cfg = loaded.config
        ids = lp.encode_prompt(loaded.tokenizer.encode_ordinary, S.lm_prompt,
                               cfg.start_token, cfg.context_length)  # fmt: skip
    except ERRORS as exc:
        st.error(md(exc, 1000))
        return None
    return loaded, ids.to(loaded.model.device)


def _layer_widget(model) -> int:
    n = len(model.blocks)
    S.lm_layer = min(S.lm_layer, n - 1)
    st.number_input("Layer", 0, n - 1, key="lm_layer", help=f"Block 0 … {n - 1}.")
    return S.lm_layer


def view_ffn(s: lp.MathState) -> None:
    got = _model_and_prompt(s)
    if got is None:
        return
    loaded, ids = got
    model = loaded.model
    c1, c2 = st.columns(2)
    with c1:
        layer = _layer_widget(model)
    f = ffn_of(model, layer)
    S.lm_unit = min(S.lm_unit, f.hidden_width - 1)
    c2.number_input("Hidden unit to remove", 0, f.hidden_width - 1, key="lm_unit")
    st.markdown(lp.ffn_intro(f))
    x = ffn_input(model, ids, layer)
    units = top_units(f, x, 12)
    unit = S.lm_unit
    contribution = unit_contribution(f, x, unit)[-1]
    change = (f.module(x) - without_unit(f, x, unit))[-1]
    gap = float((change - contribution).abs().max())
    m1 = m2 = m3 = MetricRow()
    m1.metric(f"h_{unit} at the last token", f"{float(hidden(f, x)[-1, unit]):.4g}")
    m2.metric("‖contribution‖", f"{float(contribution.norm()):.4g}")
    m3.metric("change − contribution", f"{gap:.2e}",
              help="Largest |change − contribution| over the outputs: float rounding only, "
              "removal subtracts exactly the rank-1 piece.")  # fmt: skip
    st.code(unit_reading(f, x, unit), language=None)
    st.plotly_chart(fig.pair_figure(f.up[unit].tolist(), f.down[:, unit].tolist(), unit),
                    width="stretch")  # fmt: skip
    st.plotly_chart(fig.unit_figure(contribution.tolist(), change.tolist(), unit), width="stretch")
    st.caption(
        "The units that write most at this prompt's last token: type one of their "
        "numbers above to remove it."
    )
    st.plotly_chart(fig.units_figure(units), width="stretch")


def view_tp(s: lp.MathState) -> None:
    got = _model_and_prompt(s)
    if got is None:
        return
    loaded, ids = got
    model = loaded.model
    c1, c2 = st.columns(2)
    with c1:
        layer = _layer_widget(model)
    c2.slider("Simulated devices (k)", *lp.LIMITS["devices"], key="lm_devices")
    f = ffn_of(model, layer)
    st.markdown(lp.tp_intro(f, layer))
    x = ffn_input(model, ids, layer)
    tp = tensor_parallel(f, x, S.lm_devices)
    m1 = m2 = m3 = MetricRow()
    m1.metric(
        "all-reduced − unsplit",
        f"{tp.max_abs_diff:.2e}",
        help="Largest difference over the outputs (float rounding only).",
    )
    m2.metric("weights per device", f"{tp.shards[0].bytes_held / 1e6:.2f} MB")
    m3.metric("sent per device", f"{tp.shards[0].bytes_sent / 1e3:.1f} kB",
              help=f"Ring all-reduce of a {ids.shape[1]}×{f.width} fp32 output: "
              "2·(k−1)/k of its bytes.")  # fmt: skip
    dims = 24
    st.plotly_chart(
        fig.tensor_parallel_figure([s_.partial[-1, :dims].tolist() for s_ in tp.shards],
                                   tp.reduced[-1, :dims].tolist(),
                                   tp.reference[-1, :dims].tolist()),
        width="stretch",
    )  # fmt: skip
    st.plotly_chart(fig.bytes_figure([s_.bytes_held for s_ in tp.shards],
                                     [s_.bytes_sent for s_ in tp.shards]), width="stretch")  # fmt: skip
    st.dataframe(pd.DataFrame(lp.shard_rows(tp)), hide_index=True, width="stretch")


def _token(tokenizer, tid: int) -> str:
    try:
        return display_token(tokenizer.decode([tid]))
    except Exception:  # a byte fragment that does not decode alone
        return f"<{tid}>"


def view_quant(s: lp.MathState) -> None:
    got = _model_and_prompt(s)
    if got is None:
        return
    loaded, ids = got
    model = loaded.model
    mats = matrices(model)
    kind = "llama" if isinstance(model, Llama) else "gpt"
    name, note = lp.resolve(S.lm_matrix, mats, lp.default_matrix(kind), "matrix")
    if note:
        st.info(md(note))
    S.lm_matrix = name
    c1, c2, c3 = st.columns([2, 1, 1])
    c1.selectbox("Matrix", list(mats), key="lm_matrix",
                 format_func=lambda n: f"{n} {mats[n][0]}×{mats[n][1]}")  # fmt: skip
    c2.radio("Bits", lp.CHOICES["bits"], key="lm_bits", horizontal=True)
    c3.selectbox("Scale per", lp.GROUPS, key="lm_group",
                 format_func=lambda g: "whole tensor" if g == 0 else f"group of {g}")  # fmt: skip
    weight = model.get_parameter(S.lm_matrix)
    rows = lp.format_rows(weight)
    try:
        q = quantize(weight, S.lm_bits, S.lm_group or None)
    except LinalgError as exc:
        st.error(md(exc))
        return
    counts, edges = histogram(weight)
    after, _ = histogram(q.values, lo=float(edges[0]), hi=float(edges[-1]))
    label = "per tensor" if not S.lm_group else f"per group of {S.lm_group}"
    st.plotly_chart(fig.histogram_figure(counts, after, edges,
                    f"{S.lm_matrix}: int{S.lm_bits} {label}"), width="stretch")  # fmt: skip
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    effect = next_token_effect(model, ids, S.lm_matrix, q.values, 10)
    tok = loaded.tokenizer
    m1 = m2 = m3 = MetricRow()
    m1.metric("KL(original ‖ quantized)", f"{effect.kl:.3g} nats")
    m2.metric("same top token", "yes" if effect.same_top1 else "no")
    m3.metric("top-10 overlap", f"{effect.overlap}/10")
    st.plotly_chart(fig.topk_figure([(_token(tok, t), p) for t, p in effect.top_before],
                                    [(_token(tok, t), p) for t, p in effect.top_after]),
                    width="stretch")  # fmt: skip
    st.divider()
    q4_blocks()


def q4_blocks() -> None:
    st.subheader("SmolLM2's file: Q4_1 blocks opened up")
    if not registry.smollm2_present():
        st.info(
            "Get SmolLM2 (`python -m core.models get smollm2`) to open its Q4_1 blocks: every "
            "32 weights stored as a float16 scale d, a float16 minimum m and 32 4-bit codes."
        )
        return
    path = SMOLLM2.path(registry.models_dir())
    g = _gguf(str(path), path.stat().st_mtime)
    names = [n for n, t in g.tensors.items() if t.type_name in ("Q4_1", "Q8_0")]
    name, note = lp.resolve(S.lm_tensor, names, names[0], "tensor")
    if note:
        st.info(md(note))
    S.lm_tensor = name
    c1, c2 = st.columns([2, 1])
    c1.selectbox("Tensor", names, key="lm_tensor",
                 format_func=lambda n: f"{n} ({g.tensors[n].type_name}, {g.tensors[n].shape})")  # fmt: skip
    info = g.tensors[S.lm_tensor]
    S.lm_block = min(S.lm_block, block_count(info) - 1)
    c2.number_input("First block", 0, block_count(info) - 1, key="lm_block")
    blocks = open_blocks(info, S.lm_block, 4)
    st.markdown(lp.block_note(info.type_name))
    st.dataframe(pd.DataFrame(lp.block_rows(blocks)), hide_index=True, width="stretch")
    b = blocks[0]
    st.plotly_chart(fig.q4_block_figure(b.codes, b.values, b.scale, b.minimum), width="stretch")


def _arch(key: str):
    if key == "custom":
        return lp.custom_arch(state())
    if key in CATALOGUE_EXTRAS:
        return from_catalogue(models()[key])
    if key == "builtin":
        return from_gpt(load("builtin").config, "Built-in GPT")
    return lp.reference_arch(key)


def view_calc(s: lp.MathState) -> None:
    c = st.columns(3) + st.columns(3)[:2]
    c[0].selectbox("Model", ARCHS, key="lm_arch", format_func=lambda k: ARCH_LABELS.get(k, k))
    c[1].selectbox("GPU", list(gpus()), key="lm_gpu", help=GPU_SOURCES.get(S.lm_gpu))
    c[2].selectbox("Weights", lp.CHOICES["fmt"], key="lm_fmt")
    c[3].number_input("Batch", *lp.LIMITS["batch"], key="lm_batch")
    if S.lm_arch == "custom":
        with st.container(border=True):
            cc = st.columns(4)
            for i, (key, label) in enumerate(CUSTOM):
                cc[i % 4].number_input(label, *lp.LIMITS[key], key=f"lm_{key}")
            cc[3].selectbox(
                "MLP",
                lp.CHOICES["c_mlp"],
                key="lm_c_mlp",
                format_func={"swiglu": "SwiGLU (Llama)", "gelu": "GELU (GPT)"}.get,
            )
            cc[3].checkbox("Tied head", key="lm_c_tied")  # fmt: skip
    arch = _arch(S.lm_arch)
    S.lm_context = min(S.lm_context, arch.context)
    c[4].number_input("Context (tokens)", 1, arch.context, key="lm_context")
    gpu = gpus()[S.lm_gpu]
    calc = lp.calculate(arch, gpu, fmt=S.lm_fmt, batch=S.lm_batch, context=S.lm_context)
    st.caption(f"{lp.arch_line(arch)} GPU: {md(GPU_SOURCES.get(gpu.name, gpu.name))}.")
    row = MetricRow()
    m = [row] * 4
    m[0].metric("Parameters", lp.count_text(calc.total))
    m[1].metric(f"Weights ({S.lm_fmt})", f"{calc.weight_bytes[S.lm_fmt] / 1e9:,.3f} GB")
    m[2].metric("KV cache per token (bf16)", f"{calc.kv_per_token / 1e3:,.1f} kB")
    m[3].metric(f"KV cache, {S.lm_batch}×{S.lm_context:,}", f"{calc.kv_total / 1e9:,.2f} GB",
                help="Fits with the weights" if calc.fits else "Does NOT fit with the weights")  # fmt: skip
    row = MetricRow()
    m = [row] * 4
    m[0].metric("Prefill FLOPs / token", f"{calc.prefill_flops_per_token / 1e9:,.3f} G")
    m[1].metric("Decode FLOPs / token", f"{calc.decode_flops / 1e9:,.3f} G")
    m[2].metric("Decode step (roofline)", f"{calc.decode.seconds * 1e3:,.2f} ms",
                help=f"{calc.decode.bound}-bound; {calc.decode.intensity:.1f} FLOP/byte")  # fmt: skip
    m[3].metric(
        "Switch over PCIe",
        f"{calc.switch_pcie_s:,.3f} s",
        help=f"= {calc.weight_bytes[S.lm_fmt] / 1e9:.2f} GB / {gpu.pcie_gb_s:g} GB/s",
    )
    if not calc.fits:
        st.warning(
            f"Weights plus this KV cache need "
            f"{(calc.weight_bytes[S.lm_fmt] + calc.kv_total) / 1e9:,.1f} GB; "
            f"the {gpu.name} has {gpu.memory_gb:g} GB."
        )
    others = [k for k in ("builtin", "smollm2", "qwen2.5-7b") if k != S.lm_arch]
    rows = [(arch.name, calc.parts)] + [(_arch(k).name, parts(_arch(k)).as_dict()) for k in others]
    pc, tc = st.columns([2, 1])
    pc.plotly_chart(fig.parts_figure(rows), width="stretch")
    tc.dataframe(pd.DataFrame([
        {"weights as": f, "GB": round(v / 1e9, 4)} for f, v in calc.weight_bytes.items()
    ]), hide_index=True, width="stretch")  # fmt: skip
    points = lp.roofline_points(calc, S.lm_context)
    st.plotly_chart(fig.roofline_figure(gpu.name, gpu.tflops * 1e12, gpu.hbm_tb_s * 1e12,
                                        points), width="stretch")  # fmt: skip
    st.caption(
        f"Ridge point {ridge(gpu):.0f} FLOP/byte: below it a step waits for memory, above it "
        "for arithmetic. K/V heads per device under tensor parallelism: "
        + ", ".join(f"TP={k}: {h}" for k, h in calc.kv_heads_per_device.items())
    )
    st.subheader("Model-switch time: why serving many models is hard")
    switch_rows = []
    for g in gpus().values():
        sw = switch_time(arch, g, S.lm_fmt)
        switch_rows.append((g.name, sw.pcie_s, sw.hbm_s))
    st.plotly_chart(fig.switch_figure(switch_rows), width="stretch")
    st.markdown(lp.switch_line(calc, gpu, S.lm_fmt))
    query = pool_query(S.lm_arch, S.lm_gpu, MIXES)
    what = f"a mix with {S.lm_arch}" if "mix" in query else "its default mix"
    label = f"Open the GPU pool on {S.lm_gpu} with {what}"
    try:
        st.page_link("pages/pool.py", label=label, icon=":material/dns:", query_params=query)
    except StreamlitAPIException:  # the page run on its own (no navigation): a plain link
        st.markdown(f"[{md(label)}](pool?{urlencode(query)})")


VIEW_FUNCTIONS = {
    "x·W": view_xw,
    "A·B": view_ab,
    "Feed-forward": view_ffn,
    "Tensor parallel": view_tp,
    "Quantization": view_quant,
    "Calculators": view_calc,
}


# ---------------------------------------------------------------- page
init_state()
st.title("LLM math")
st.caption(
    "The linear algebra and arithmetic behind the model and the GPU pool, on real weights: "
    "a matrix product three ways, the feed-forward as rank-1 units, tensor parallelism, "
    "quantization, and the numbers (parameters, FLOPs, KV cache, bandwidth) that set serving "
    "costs."
)
warn(S.lm_url_problems)
S.lm_url_problems = []
st.radio("View", lp.VIEWS, key="lm_view", horizontal=True, label_visibility="collapsed")
try:
    VIEW_FUNCTIONS[S.lm_view](state())
except ERRORS as exc:
    st.error(md(exc, 1000))
current: dict[str, Any] = {k: S[f"lm_{k}"] for k in PARAMS}
S.lm_saved = current
write_url(PARAMS, current, omit_defaults=True)
