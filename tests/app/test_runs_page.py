"""The Saved runs page under Streamlit's AppTest (no browser)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.store import add_points, create_run, finish_run, list_runs, open_database
from tests.app.rendered import live_markup, plain

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "runs.py")


def _seed(n_extra: int = 0) -> list[int]:
    Session = open_database()
    ids = []
    with Session.begin() as s:
        for i, lr in enumerate((3e-4, 1e-3)):
            run = create_run(
                s,
                kind="training",
                name=f"<b>lr {lr}</b>",
                config={"model": {"n_layer": 4}, "lr": lr},
                tags=["demo"],
            )
            add_points(s, run.id, "train_loss", [(k, 4 * math.exp(-k / 50) + i) for k in range(20)])
            finish_run(s, run.id, summary={"val_loss": 2.0 + i, "tokens_per_s": 4000 - i})
            ids.append(run.id)
        for i in range(n_extra):
            create_run(s, kind="pool", name=f"pool {i}", status="finished")
    return ids


def _run(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def test_empty_store_explains_what_to_do():
    at = _run()
    assert not at.exception
    assert any("No saved runs yet" in i.value for i in at.info)


def test_lists_runs_with_count_and_pages():
    _seed(n_extra=60)
    at = _run()
    assert not at.exception
    assert any("**62** run(s)" in m.value and "page 1 of 2" in m.value for m in at.markdown)
    nxt = next(b for b in at.button if b.label == "Next →")
    nxt.click().run()
    assert any("showing 51–62" in m.value for m in at.markdown)


def test_filter_by_kind_in_url():
    _seed(n_extra=3)
    at = _run({"kind": "pool"})
    assert not at.exception
    assert any("**3** run(s)" in m.value for m in at.markdown)


def test_compare_link_shows_diff_metrics_and_curves():
    ids = _seed()
    at = _run({"compare": ",".join(map(str, ids))})
    assert not at.exception
    assert any(s.value == "2 selected" for s in at.subheader)
    frames = [df.value for df in at.dataframe]
    diff = next(f for f in frames if "key" in getattr(f, "columns", []))
    assert list(diff["key"]) == ["lr"]
    metrics = next(f for f in frames if "metric" in getattr(f, "columns", []))
    assert metrics.set_index("metric").loc["val_loss ↓"].tolist() == ["★ 2", "3"]
    assert metrics.set_index("metric").loc["tokens_per_s ↑"].tolist() == ["★ 4000", "3999"]
    assert len(at.get("plotly_chart")) == 1


def test_single_run_can_be_renamed_and_tagged():
    (first, _) = _seed()
    at = _run({"compare": str(first)})
    form_inputs = [t for t in at.text_input if t.label == "Name"]
    form_inputs[0].set_value("renamed")
    next(t for t in at.text_input if t.label.startswith("Tags")).set_value("a, b")
    at.text_area[0].set_value("a note")
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert not at.exception
    with open_database().begin() as s:
        run = next(r for r in list_runs(s).runs if r.id == first)
        assert (run.name, run.tag_names, run.notes) == ("renamed", ["a", "b"], "a note")


def test_delete_asks_for_confirmation():
    ids = _seed()
    at = _run({"compare": ",".join(map(str, ids))})
    next(b for b in at.button if b.label == "Delete…").click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    with open_database().begin() as s:
        assert list_runs(s).total == 2  # nothing deleted yet
    next(b for b in at.button if b.label == "Yes, delete").click().run()
    assert not at.exception
    with open_database().begin() as s:
        assert list_runs(s).total == 0


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"size": "²"}, "size='²'"),  # str.isdigit() but not int(): was a traceback
        ({"size": "7"}, "size='7'"),
        ({"compare": "²"}, "compare='²'"),  # was a traceback
        ({"sort": "nope", "order": "sideways"}, "order='sideways'"),
        ({"kind": "pool,[x](http://example.invalid)"}, "kind: ignored '[x](http://example"),
    ],
)
def test_bad_link_entries_warn_and_fall_back(query, named):
    _seed(n_extra=3)
    at = _run(query)
    assert not at.exception
    assert any(named in plain(w.value) for w in at.warning)
    assert live_markup(at) == []
    assert any("run(s)" in m.value for m in at.markdown)  # the list still shows


def test_run_names_are_shown_as_text_on_the_delete_confirmation():
    Session = open_database()
    with Session.begin() as s:
        ids = [
            create_run(s, kind="pool", name="[Click here](http://example.invalid)").id,
            create_run(s, kind="pool", name="![t](http://example.invalid/x.png)").id,
        ]
    at = _run({"compare": ",".join(map(str, ids))})
    next(b for b in at.button if b.label == "Delete…").click().run()
    warning = next(w.value for w in at.warning if "cannot be undone" in w.value)
    assert "[Click here](http://example.invalid)" in plain(warning)
    assert live_markup(at) == []


@pytest.mark.parametrize("url", ["not a url", "postgresql+psycopg://nobody@127.0.0.1:1/none"])
def test_database_down_shows_banner_not_traceback(monkeypatch, url):
    monkeypatch.setenv("GLASSBOX_DATABASE_URL", url)
    at = _run()
    assert not at.exception
    assert any("run store is unavailable" in e.value for e in at.error)


def test_two_sampling_runs_are_aligned_token_by_token():
    import torch

    from core.model import GPT, GPTConfig
    from core.sampling import Sampler, SamplingConfig
    from core.sampling.persist import save_trajectory
    from core.tokenization import get_encoding

    enc = get_encoding("gpt2")
    torch.manual_seed(0)
    cfg = GPTConfig(
        vocab_size=enc.n_vocab, context_length=32, n_layer=1, n_head=2, n_embd=16, dropout=0.0
    )
    model = GPT(cfg).eval()
    Session = open_database()
    ids = []
    for temperature in (0.7, 1.5):
        sampler = Sampler(model, enc, "Hello", SamplingConfig(temperature=temperature, seed=3))
        sampler.run(6)
        with Session.begin() as s:
            ids.append(save_trajectory(s, sampler, model_id=None, name=f"T={temperature}"))
    at = _run({"compare": ",".join(map(str, ids))})
    assert not at.exception
    assert any("Trajectories, aligned token by token" in m.value for m in at.markdown)
    aligned = at.dataframe[-1].value
    assert list(aligned["step"]) == [1, 2, 3, 4, 5, 6]
    assert "same" in aligned.columns


def test_compare_link_to_a_deleted_run_says_it_is_gone():
    from core.store import delete_runs, record_run

    ids = _seed()
    with open_database().begin() as s:
        delete_runs(s, [ids[1]])
        newer = record_run(s, kind="pool", name="newer").id
    assert newer not in ids  # the deleted id is not given to the new run
    at = _run({"compare": ",".join(map(str, ids))})
    assert not at.exception
    assert any(f"Run(s) {ids[1]} no longer exist" in i.value for i in at.info)
    assert any(s.value == "1 selected" for s in at.subheader)


def test_an_import_error_quoting_the_file_is_shown_as_text():
    run = {"uid": "x", "kind": "[Click here](http://example.invalid)", "name": "t",
           "status": "finished", "config": {}, "summary": {},
           "created_at": "2026-01-01", "updated_at": "2026-01-01"}  # fmt: skip
    data = json.dumps({"format": "glassbox-runs", "version": 1, "runs": [run]}).encode()
    at = _run()
    at.file_uploader(key="runs_import").upload("bad.json", data, "application/json").run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception
    error = next(plain(e.value) for e in at.error if "Could not import" in e.value)
    assert "unknown kind '[Click here](http://example.invalid)'" in error
    assert live_markup(at) == []
