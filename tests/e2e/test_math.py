"""The LLM math page in a real browser: it opens cleanly, every view renders, and the
calculators' link opens the GPU pool on the chosen GPU (no console errors throughout)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import (
    assert_no_streamlit_exception,
    open_app_page,
    wait_for_app,
    wait_for_link,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a real browser: not in the fast lane


def test_math_page_views_and_the_pool_link(page, app_url):
    open_app_page(page, app_url, "math")
    page.get_by_role("heading", name="LLM math").wait_for()
    page.get_by_text("1. Each output is a sum of products").wait_for()
    assert_no_streamlit_exception(page)
    for view, marker in (
        ("A·B", "Outer products"),
        ("Feed-forward", "Hidden unit to remove"),
        ("Tensor parallel", "Simulated devices (k)"),
        ("Quantization", "KL(original ‖ quantized)"),
        ("Calculators", "Model-switch time: why serving many models is hard"),
    ):
        page.locator('[data-testid="stRadio"]').get_by_text(view, exact=True).click()
        page.get_by_text(marker).first.wait_for()
        wait_for_app(page)
        assert_no_streamlit_exception(page)
    wait_for_link(page, "view=Calculators")
    page.get_by_text("Open the GPU pool on H100 with a mix with qwen2.5-7b").click()
    page.get_by_role("heading", name="GPU pool").wait_for()
    wait_for_app(page)
    wait_for_link(page, "/pool", "gpu=H100", "mix=paper")
    assert_no_streamlit_exception(page)
