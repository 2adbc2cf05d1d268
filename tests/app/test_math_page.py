"""The LLM math page under AppTest with the built-in model: every view, the link, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.rendered import live_markup, plain

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "math.py")


def _run(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label))


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == []


def test_xw_view_steps_through_the_same_numbers():
    at = _run()
    _ok(at)
    assert at.title[0].value == "LLM math"
    codes = [c.value for c in at.code]
    # seed 0: x = [2, 1, 0]; y1 = 2·(−2) + 1·2 + 0·2 = −2
    assert codes[0].splitlines()[0] == "y1 = 2·(-2) + 1·2 + 0·2 = (-2)"
    assert codes[1].splitlines()[0] == "y1 = x · W[:, 1] = [2, 1, 0] · [(-2), 2, 2] = (-2)"
    # in half the page at 1280 px these lines are wider than the column: they wrap
    assert [c.proto.wrap_lines for c in at.code[:2]] == [True, True]
    at.slider(key="lm_step").set_value(4).run()
    codes = [c.value for c in at.code]
    assert codes[0].splitlines()[1] == "y2 = 2·(-1) + … + … = …"
    assert len(codes[1].splitlines()) == 1  # one complete column so far
    assert at.query_params["step"] == "4"
    at.button[0].click().run()  # Randomise
    assert at.number_input(key="lm_seed").value == 1 and at.query_params["seed"] == "1"


def test_ab_view_shows_every_inner_product():
    at = _run({"view": "A·B", "seed": "5"})
    _ok(at)
    lines = at.code[0].value.splitlines()
    assert len(lines) == 9 and lines[0].startswith("C[1,1] = A[1,:]·B[:,1] = ")


def test_feed_forward_unit_removal_is_its_contribution():
    at = _run({"view": "Feed-forward", "layer": "2", "unit": "643"})
    _ok(at)
    assert float(_metric(at, "change − contribution")) < 1e-5
    assert any("hidden H = 1024" in m.value for m in at.markdown)
    assert any(c.value.startswith("h = gelu(x·W_up[:, 643] + b_643)") for c in at.code)
    at.number_input(key="lm_unit").set_value(5).run()
    _ok(at)
    assert at.query_params["unit"] == "5"


def test_tensor_parallel_equals_the_unsplit_layer():
    at = _run({"view": "Tensor parallel", "devices": "3"})
    _ok(at)
    assert float(_metric(at, "all-reduced − unsplit")) < 1e-5
    # built-in GPT: d = 256, H = 1024, split 342/341/341 units; fp32
    table = at.dataframe[0].value
    assert list(table["hidden units"]) == ["0–341", "342–682", "683–1023"]
    assert list(table["bytes held"]) == [(2 * 256 * 342 + 342 + 256) * 4,
                                        (2 * 256 * 341 + 341 + 256) * 4,
                                        (2 * 256 * 341 + 341 + 256) * 4]  # fmt: skip


def test_quantization_view_and_missing_smollm2():
    at = _run({"view": "Quantization", "bits": "8", "group": "32", "model": "smollm2"})
    _ok(at)
    assert any("SmolLM2 is not on this machine" in i.value for i in at.info)
    assert float(_metric(at, "KL").split()[0]) < 0.01
    rows = at.dataframe[0].value
    assert list(rows["format"])[0] == "int8 per tensor"
    # no matrix in the link: the built-in GPT's down projection, without a note
    assert at.selectbox(key="lm_matrix").value == "blocks.1.ffn.proj.weight"
    assert not any("is not in this model" in i.value for i in at.info)
    assert any("open its Q4_1 blocks" in i.value for i in at.info)


def test_calculators_and_the_pool_link():
    at = _run({"view": "Calculators", "arch": "qwen2.5-7b", "gpu": "H200"})
    _ok(at)
    assert _metric(at, "Parameters") == "7.62 B"
    assert _metric(at, "Switch over PCIe") == f"{7_615_616_512 * 2 / 64e9:,.3f} s"
    link = next(m.value for m in at.markdown if "Open the GPU pool" in m.value)
    assert "(pool?gpu=H200&mix=paper)" in link
    at.selectbox(key="lm_arch").set_value("gpt2").run()
    _ok(at)
    assert _metric(at, "Parameters") == "124.4 M"


def test_custom_architecture_and_a_bad_one():
    at = _run({"view": "Calculators", "arch": "custom"})
    _ok(at)
    assert _metric(at, "Parameters") == "8.03 B"  # Llama-3-8B's shapes by default
    at.number_input(key="lm_c_heads").set_value(7).run()
    assert not at.exception
    assert any("does not split into 7 heads" in e.value for e in at.error)
    assert at.query_params["c_heads"] == "7"


def test_the_pool_link_opens_the_pool_page_through_the_app():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update({"view": "Calculators", "gpu": "H20", "arch": "qwen2.5-32b"})
    at.run()
    at.switch_page("pages/math.py").run()
    _ok(at)
    links = [el.proto for el in at.get("page_link") if "GPU pool on" in el.proto.label]
    assert links and links[0].label == "Open the GPU pool on H20 with a mix with qwen2.5-32b"
    assert "gpu=H20" in links[0].query_string and "mix=large" in links[0].query_string


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"seed": "²", "view": "nope"}, ["seed=", "view="]),
        ({"devices": "99", "view": "Tensor parallel"}, ["devices="]),
        ({"prompt": "x" * 600, "view": "Feed-forward"}, ["prompt="]),
        ({"arch": "gpt-9", "view": "Calculators"}, ["arch="]),
    ],
)
def test_bad_link_entries_are_named_and_the_page_still_works(query, named):
    at = _run(query)
    _ok(at)
    warning = plain(at.warning[0].value)
    assert all(n in warning for n in named)


def test_empty_and_hostile_prompts():
    at = _run({"view": "Feed-forward", "prompt": " "})
    assert not at.exception
    assert any("type a prompt" in e.value for e in at.error)
    hostile = "[Click](http://example.invalid) <img src=x> www.example.invalid"
    at = _run({"view": "Quantization", "prompt": hostile, "matrix": "[x](http://a.b)"})
    _ok(at)
    assert live_markup(at) == []
    assert any("is not in this model" in plain(i.value) for i in at.info)
    assert at.selectbox(key="lm_matrix").value == "blocks.1.ffn.proj.weight"
