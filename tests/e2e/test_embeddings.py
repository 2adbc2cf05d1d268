"""The Embedding spaces page in a real browser: the WebGL scatter draws, neighbours show."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import assert_no_streamlit_exception, open_app_page, wait_for_app

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a real browser: not in the fast lane


def test_token_table_scatter_draws_with_neighbours(page, app_url):
    open_app_page(page, app_url, "embeddings?term=%20list")
    page.get_by_role("heading", name="Embedding spaces").wait_for()
    plot = page.locator(".js-plotly-plot").first
    plot.wait_for()
    wait_for_app(page)
    assert_no_streamlit_exception(page)
    # plotly's WebGL scatter draws into a canvas; the legend lists the token kinds
    assert plot.locator("canvas").count() >= 1
    legend = plot.locator(".legend").text_content()
    assert "word start" in legend and "neighbours" in legend
    page.get_by_text("PCA (exact) of all 4,096 tokens").wait_for()
    assert page.locator('[data-testid="stDataFrame"]').count() == 1  # the neighbours table
