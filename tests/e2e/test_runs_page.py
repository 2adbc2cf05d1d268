"""The Saved runs page in a real browser: seeded by the import function, compared, shot."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from core.store import add_points, create_run, export_json, finish_run, import_json, open_database
from tests.e2e.conftest import assert_no_streamlit_exception, open_app_page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a real browser: not in the fast lane


@pytest.fixture(scope="module")
def seeded_ids(app_db_url, tmp_path_factory) -> list[int]:
    """Two training runs written to a scratch store, exported, imported into the app's."""
    scratch = open_database(f"sqlite:///{tmp_path_factory.mktemp('scratch') / 's.db'}")
    with scratch.begin() as s:
        ids = []
        for i, (lr, n_layer) in enumerate(((3e-4, 4), (1e-3, 6))):
            run = create_run(
                s,
                kind="training",
                name=f"e2e gpt lr={lr} L={n_layer}",
                config={"model": {"n_layer": n_layer, "n_embd": 256}, "train": {"lr": lr}},
                tags=["e2e"],
            )
            add_points(
                s,
                run.id,
                "train_loss",
                [(k, 6 * math.exp(-k / (60 + 40 * i)) + 1.8 + 0.1 * i) for k in range(0, 300, 10)],
            )
            finish_run(
                s, run.id, summary={"val_loss": 2.0 + 0.2 * i, "tokens_per_s": 4300 - 500 * i}
            )
            ids.append(run.id)
        exported = export_json(s, ids)
    with open_database(app_db_url).begin() as s:
        return import_json(s, exported).created


def test_compare_two_runs(page, app_url, seeded_ids):
    open_app_page(page, app_url, f"runs?compare={seeded_ids[0]},{seeded_ids[1]}")
    assert_no_streamlit_exception(page)
    page.get_by_text("2 selected").wait_for()
    page.get_by_text("Comparison").wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    shots = os.environ.get("GLASSBOX_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": 1400, "height": 2100})
        page.wait_for_timeout(800)
        page.screenshot(path=str(Path(shots) / "runs-compare.png"), full_page=True)


def test_select_rows_in_table_then_export(page, app_url, seeded_ids):
    open_app_page(page, app_url, "runs")
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    # tick the first two rows' selection boxes (glide-data-grid draws on a canvas)
    box = grid.bounding_box()
    for row in (1, 2):
        page.mouse.click(box["x"] + 18, box["y"] + 36 * row + 18)
        page.get_by_text(f"{row} selected").wait_for()  # the rerun of this click is drawn
    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSON").click()
    doc = json.loads(Path(download.value.path()).read_text())
    assert doc["format"] == "glassbox-runs" and len(doc["runs"]) == 2
    assert_no_streamlit_exception(page)


def test_import_rejects_a_bad_file_and_accepts_an_export(page, app_url, tmp_path, seeded_ids):
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": "world"}')
    open_app_page(page, app_url, "runs")
    page.get_by_text("Import runs from a JSON export").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("not a Glassbox export").wait_for()
    assert_no_streamlit_exception(page)


def test_comparison_tables_use_the_full_width(page, app_url, seeded_ids):
    # Side by side, the metrics table was half as wide as the page: the second run was hidden.
    page.set_viewport_size({"width": 1440, "height": 900})
    open_app_page(page, app_url, f"runs?compare={seeded_ids[0]},{seeded_ids[1]}")
    page.get_by_text("Comparison").wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    main = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()
    grids = page.locator('[data-testid="stDataFrame"]')
    assert grids.count() >= 3  # the runs, the metrics and the config tables
    widths = [grids.nth(i).bounding_box()["width"] for i in range(grids.count())]
    assert min(widths) > 0.8 * main["width"], (widths, main["width"])
    assert_no_streamlit_exception(page)
