"""A damaged run in the store never takes a page down (issue 22, item 1), under AppTest.

The probe's row ``{"n_vocab": "many"}`` made the sidebar of every page raise, and Saved runs
too, so the row could not even be deleted. Here the store holds that row and its siblings
(a training ``val_loss`` that is a string, a summary of ``10**400``, a sampling run with
``tokens: "five"``); every page renders, Saved runs names what is wrong, and the rows can
be deleted from the page.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.store import add_artifact, create_run, glassbox_home, list_runs, open_database

ROOT = Path(__file__).resolve().parents[2]


def _damaged_store() -> list[int]:
    ckpt = glassbox_home() / "runs" / "ckpt.safetensors"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    ckpt.write_bytes(b"never loaded by the menus")
    with open_database().begin() as s:
        runs = [
            create_run(s, kind="tokenizer", name="t", status="finished",
                       summary={"n_vocab": "many"}),
            create_run(s, kind="training", name="tr", status="finished",
                       summary={"val_loss": "low"}),
            create_run(s, kind="pool", name="p", status="finished",
                       summary={"slo_attainment": 10**400}),
            create_run(s, kind="sampling", name="s", status="finished",
                       summary={"tokens": "five"}),
        ]  # fmt: skip
        add_artifact(s, runs[1].id, name="ckpt", kind="checkpoint", path=str(ckpt))
        return [r.id for r in runs]


@pytest.mark.parametrize("page", ["pages/home.py", "pages/tokenization.py", "pages/runs.py"])
def test_every_page_renders_with_damaged_rows(page):
    _damaged_store()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()
    if page != "pages/home.py":
        at.switch_page(page).run()
    assert not at.exception, at.exception
    tokenizer_menu = next(s for s in at.sidebar.selectbox if s.label == "Tokenizer")
    assert any("size unknown" in tokenizer_menu.format_func(o) for o in tokenizer_menu.options)


def test_saved_runs_lists_damaged_rows_with_why_and_deletes_them():
    ids = _damaged_store()
    at = AppTest.from_file(str(ROOT / "pages" / "runs.py"), default_timeout=60)
    at.query_params["compare"] = ",".join(map(str, ids))
    at.run()
    assert not at.exception, at.exception
    listing = at.dataframe[0].value.set_index("id")
    assert listing.loc[ids[0], "problems"] == "summary.n_vocab is 'many', not a whole number"
    assert listing.loc[ids[2], "key metrics"] == ""
    next(b for b in at.button if b.label == "Delete…").click().run()
    next(b for b in at.button if b.label == "Yes, delete").click().run()
    assert not at.exception
    with open_database().begin() as s:
        assert list_runs(s).total == 0


def test_single_damaged_run_says_so():
    ids = _damaged_store()
    at = AppTest.from_file(str(ROOT / "pages" / "runs.py"), default_timeout=60)
    at.query_params["compare"] = str(ids[3])
    at.run()
    assert not at.exception
    assert any("stored data is damaged" in w.value for w in at.warning)
