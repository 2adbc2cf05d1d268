"""The math page's model: equations, prompt bounds, link state, calculations."""

from __future__ import annotations

import pytest

from core.linalg import LinalgError
from core.linalg.arch import from_catalogue
from core.linalg.page import (
    LIMITS,
    MAX_PROMPT_TOKENS,
    MathState,
    calculate,
    defaults,
    dots,
    encode_prompt,
    equations,
    reference_arch,
    resolve,
    state_from,
)
from core.linalg.products import as_matrix
from core.pool.catalogue import gpus, models

X = as_matrix([[1, 2, 3]], 1, 3, "x")
W = as_matrix([[1, 0], [0, 1], [1, -1]], 3, 2, "W")


def test_equations_fill_in_term_by_term():
    assert equations(X, W, 0) == ["y1 = … + … + … = …", "y2 = … + … + … = …"]
    assert equations(X, W, 4) == ["y1 = 1·1 + 2·0 + 3·1 = 4", "y2 = 1·0 + … + … = …"]
    assert equations(X, W, 6)[1] == "y2 = 1·0 + 2·1 + 3·(-1) = (-1)"
    assert dots(X, W) == [
        "y1 = x · W[:, 1] = [1, 2, 3] · [1, 0, 1] = 4",
        "y2 = x · W[:, 2] = [1, 2, 3] · [0, 1, (-1)] = (-1)",
    ]


def test_prompt_is_bounded_and_gets_the_start_token():
    encode = lambda text: [ord(c) for c in text]  # noqa: E731 - a stand-in tokenizer
    assert encode_prompt(encode, "ab", 7, 100).tolist() == [[7, 97, 98]]
    long = encode_prompt(encode, "x" * 200, None, 1000)
    assert long.shape == (1, MAX_PROMPT_TOKENS)
    assert encode_prompt(encode, "abcdef", None, 4).tolist() == [[99, 100, 101, 102]]
    with pytest.raises(LinalgError, match="type a prompt"):
        encode_prompt(encode, "  \n", None, 100)
    with pytest.raises(LinalgError, match="at most 500"):
        encode_prompt(encode, "x" * 501, None, 100)


def test_state_round_trip_and_resolve():
    assert state_from(defaults()) == MathState()
    s = state_from({"view": "Calculators", "devices": 3, "unknown": 1})
    assert s.view == "Calculators" and s.devices == 3
    assert resolve("a", ("a", "b"), "b", "matrix") == ("a", None)
    assert resolve("", ("a", "b"), "b", "matrix") == ("b", None)
    value, note = resolve("z", ("a", "b"), "b", "matrix")
    assert value == "b" and "'z' is not in this model" in note
    assert all(lo <= getattr(MathState(), k) <= hi for k, (lo, hi) in LIMITS.items())


def test_calculation_on_the_catalogue():
    arch, h100 = from_catalogue(models()["qwen2.5-7b"]), gpus()["H100"]
    c = calculate(arch, h100, fmt="bf16", batch=8, context=2048)
    assert c.total == 7_615_616_512 and sum(c.parts.values()) == c.total
    assert c.kv_per_token == 2 * 28 * 4 * 128 * 2
    assert c.kv_total == 8 * 2048 * c.kv_per_token
    assert c.switch_pcie_s == pytest.approx(c.weight_bytes["bf16"] / 64e9)
    assert c.fits and c.decode.bound == "memory" and c.prefill.bound == "compute"
    assert [b for b, _ in c.decode_batches][:3] == [1, 2, 4]
    big = calculate(from_catalogue(models()["qwen2.5-72b"]), h100, fmt="bf16", batch=1,
                    context=1)  # fmt: skip
    assert not big.fits  # 145 GB of weights on an 80 GB GPU
    with pytest.raises(LinalgError, match="context must be from 1 to 4,096"):
        calculate(from_catalogue(models()["yi-9b"]), h100, fmt="bf16", batch=1, context=8192)
    with pytest.raises(LinalgError, match="batch must be"):
        calculate(arch, h100, fmt="bf16", batch=0, context=8)


def test_reference_architectures():
    assert reference_arch("gpt2").name == "GPT-2 124M"
    assert reference_arch("gpt2-xl").n_layer == 48
    assert reference_arch("smollm2").context == 8192
    with pytest.raises(LinalgError, match="unknown architecture"):
        reference_arch("gpt5")


def test_custom_architecture_defaults_are_llama3_8b():
    import torch
    from transformers import LlamaConfig as HFLlamaConfig
    from transformers import LlamaForCausalLM

    from core.linalg.arch import parts
    from core.linalg.page import custom_arch

    with torch.device("meta"):
        hf = LlamaForCausalLM(
            HFLlamaConfig(
                vocab_size=128_256,
                hidden_size=4096,
                intermediate_size=14_336,
                num_hidden_layers=32,
                num_attention_heads=32,
                num_key_value_heads=8,
                tie_word_embeddings=False,
            )  # fmt: skip
        )
    assert parts(custom_arch(MathState())).total == hf.num_parameters() == 8_030_261_248
    gpt = custom_arch(state_from({"c_mlp": "gelu", "c_d": 768, "c_layers": 12, "c_heads": 12,
                                  "c_kv": 12, "c_ffn": 3072, "c_vocab": 50257, "c_ctx": 1024,
                                  "c_tied": True}))  # fmt: skip
    assert parts(gpt).total == 124_439_808 - 12 * 3 * 768  # GPT-2 has QKV biases too
    with pytest.raises(LinalgError, match="does not split into 7 heads"):
        custom_arch(state_from({"c_heads": 7}))
    with pytest.raises(LinalgError, match="layers must be from 1"):
        custom_arch(state_from({"c_layers": 0}))


def test_view_texts_and_rows():
    import torch

    from core.linalg import page as lp
    from core.linalg.ffn import FFN
    from core.linalg.quant import Block, quantize

    a = as_matrix([[1, 2], [3, 4]], 2, 2, "A")
    b = as_matrix([[5, 6], [7, 8]], 2, 2, "B")
    assert lp.inner_lines(a, b) == [
        "C[1,1] = A[1,:]·B[:,1] = 1·5 + 2·7 = 19",
        "C[1,2] = A[1,:]·B[:,2] = 1·6 + 2·8 = 22",
        "C[2,1] = A[2,:]·B[:,1] = 3·5 + 4·7 = 43",
        "C[2,2] = A[2,:]·B[:,2] = 3·6 + 4·8 = 50",
    ]
    done = [[True, False], [True, False], [False, False]]
    assert lp.counted_rows(X, W, done) == [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]

    swiglu = FFN(
        kind="swiglu", up=torch.zeros(6, 4), down=torch.zeros(4, 6), gate=torch.zeros(6, 4)
    )
    assert lp.ffn_intro(swiglu).startswith(
        "Width d = 4, hidden H = 6. SwiGLU: h = silu(x·W_gate)·(x·W_up). Unit i reads x"
    )
    assert lp.tp_intro(swiglu, 3).startswith("The SwiGLU (SmolLM2) of layer 3 split over k")
    gelu = FFN(kind="gelu", up=torch.zeros(6, 4), down=torch.zeros(4, 6))
    assert "W_up (and its bias) **column-parallel**" in lp.tp_intro(gelu, 0)

    torch.manual_seed(0)
    weight = torch.randn(8, 64)
    rows = lp.format_rows(weight)
    assert [r["format"] for r in rows] == [
        "int8 per tensor", "int8 per group of 32", "int4 per tensor", "int4 per group of 32"
    ]  # fmt: skip
    assert rows[3]["bits/weight"] == round(quantize(weight, 4, 32).bits_per_weight, 3)
    assert rows[0]["RMSE"] < rows[2]["RMSE"]  # 8 bits err less than 4

    block = Block(index=7, row=1, col=32, scale=0.5, minimum=-1.0, codes=tuple(range(16)) * 2,
                  values=(0.1, 0.2, 0.3, 0.4) + (0.0,) * 28)  # fmt: skip
    (row,) = lp.block_rows([block])
    assert row["columns"] == "32–63" and row["first values"] == "0.1000, 0.2000, 0.3000, 0.4000, …"
    assert row["codes"].startswith("0 1 2 3") and row["minimum m"] == -1.0
    assert lp.block_note("Q4_1").startswith("Q4_1: w = d·q + m")
    assert lp.block_note("Q8_0") == "Q8_0: w = d·q, 34 bytes per 32 weights (8.5 bits)."


def test_calculator_texts():
    from core.linalg import page as lp

    arch, h100 = from_catalogue(models()["qwen2.5-7b"]), gpus()["H100"]
    c = calculate(arch, h100, fmt="bf16", batch=8, context=2048)
    assert lp.count_text(c.total) == "7.62 B" and lp.count_text(134_515_008) == "134.5 M"
    assert lp.arch_line(arch).startswith(f"{arch.name}: 28 layers, width 3584, 28 query heads")
    points = lp.roofline_points(c, 2048)
    assert [p[0] for p in points] == [f"decode ×{b}" for b, _ in c.decode_batches] + [
        "prefill 2048"
    ]
    assert points[-1][1] == c.prefill.intensity
    line = lp.switch_line(c, h100, "bf16")
    assert line.startswith(f"Loading {arch.name}'s {c.weight_bytes['bf16'] / 1e9:.2f} GB over")
    assert f"takes {c.switch_pcie_s:.3f} s" in line
