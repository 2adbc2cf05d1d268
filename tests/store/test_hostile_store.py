"""Hostile imports and damaged rows (issue 22, items 1, 7 and 8): clear messages, no crash.

The payloads are the ones the probe used. Imports are refused before anything is written;
rows that are already damaged in the store (an older version, a hand edit) are read by every
reader without an exception and listed with what is wrong.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from core.store import (
    ImportFormatError,
    add_artifact,
    create_run,
    export_csv,
    export_json,
    finish_run,
    glassbox_home,
    import_json,
    key_metrics,
    list_runs,
    metrics_table,
    parse_export,
    run_problems,
)

ISSUE_RUN = {
    "uid": "x",
    "kind": "tokenizer",
    "name": "t",
    "status": "finished",
    "config": {},
    "summary": {"n_vocab": "many"},
    "created_at": "2026-01-01",
    "updated_at": "2026-01-01",
}


def _doc(**changes) -> str:
    run = {**ISSUE_RUN, "summary": {}, **changes}
    return json.dumps({"format": "glassbox-runs", "version": 1, "runs": [run]})


HOSTILE_IMPORTS = {
    # The issue's exact payload (item 1): the sidebar's tokenizer menu read it as an int.
    "tokenizer n_vocab 'many'": (
        json.dumps({"format": "glassbox-runs", "version": 1, "runs": [ISSUE_RUN]}),
        "summary.n_vocab is 'many', not a whole number",
    ),
    "training val_loss a string": (
        _doc(kind="training", summary={"val_loss": "low"}),
        "summary.val_loss is 'low', not a finite number",
    ),
    "summary 10**400": (
        _doc(kind="pool", summary={"slo_attainment": 10**400}),
        "summary.slo_attainment holds a 401-digit integer",
    ),
    "sampling tokens 'five'": (
        _doc(kind="sampling", summary={"tokens": "five"}),
        "summary.tokens is 'five', not a whole number",
    ),
    "summary NaN": (_doc(summary={"chars_per_token": float("nan")}), "numbers must be finite"),
    # Item 7's five malformed shapes.
    "10,000-level nesting": (
        _doc().replace('"config": {}', '"config": ' + "[" * 10_000 + "]" * 10_000),
        "nests lists or objects too deeply",
    ),
    "points as a list": (_doc(points=[[0, 1.0]]), "'points' must be an object of series"),
    "y as a string": (_doc(points={"loss": [[0, "1.5"]]}), "is not an [x, y] pair of numbers"),
    "tags as a number": (_doc(tags=5), "'tags' must be a list of texts"),
    "lone surrogate": (_doc(name="a\ud800b"), "lone surrogate (\\ud800)"),
    # Name limits that create_run enforces and import used to bypass.
    "empty name": (_doc(name="   "), "a run needs a name"),
    "201-character name": (_doc(name="n" * 201), "limited to 200 characters"),
    "65-character tag": (_doc(tags=["t" * 65]), "longer than 64 characters"),
    "33-level config": (
        _doc(config={"a": json.loads("[" * 33 + "]" * 33)}),
        "nested more than 32 levels deep",
    ),
    "bad sha256": (
        _doc(artifacts=[{"name": "a", "kind": "file", "sha256": "zz"}]),
        "'sha256' must be 64 hexadecimal digits",
    ),
    "date not a string": (_doc(created_at=5), "is not an ISO date-time"),
}


@pytest.mark.parametrize("case", list(HOSTILE_IMPORTS))
def test_hostile_import_is_refused_with_a_clear_message(case, session_factory):
    payload, message = HOSTILE_IMPORTS[case]
    with pytest.raises(ImportFormatError) as info:
        parse_export(payload)
    assert message in str(info.value)
    with pytest.raises(ImportFormatError), session_factory.begin() as s:
        import_json(s, payload.encode("utf-8"))
    with session_factory.begin() as s:
        assert list_runs(s).total == 0  # nothing written


def _damaged_rows(session_factory, tmp_path) -> dict[str, int]:
    """Rows as an older version's import left them: written past today's validation."""
    ckpt = tmp_path / "ckpt.safetensors"
    ckpt.write_bytes(b"not read")
    with session_factory.begin() as s:
        tok = create_run(s, kind="tokenizer", name="t", status="finished",
                         summary={"n_vocab": "many"})  # fmt: skip
        train = create_run(s, kind="training", name="tr", status="finished",
                           config={"model": "big"}, summary={"val_loss": "low"})  # fmt: skip
        add_artifact(s, train.id, name="ckpt", kind="checkpoint", path=str(ckpt), meta=[])  # type: ignore[arg-type]
        huge = create_run(s, kind="pool", name="p", status="finished")
        finish_run(s, huge.id, summary={"slo_attainment": 10**400, "ttft_s": 0.5})
        smp = create_run(s, kind="sampling", name="s", status="finished",
                         summary={"tokens": "five"})  # fmt: skip
        return {"tokenizer": tok.id, "training": train.id, "pool": huge.id, "sampling": smp.id}


def test_every_reader_tolerates_damaged_rows(session_factory, tmp_path):
    from core import registry
    from core.sampling.persist import list_saved
    from core.tokenization import list_tokenizer_runs

    ids = _damaged_rows(session_factory, tmp_path)
    with session_factory.begin() as s:
        (tok,) = list_tokenizer_runs(s)
        assert (tok.n_vocab, tok.label) == (None, f"t (run {ids['tokenizer']}, size unknown)")
        (smp,) = list_saved(s)
        assert smp.tokens == 0
        pool = next(r for r in list_runs(s).runs if r.id == ids["pool"])
        assert key_metrics(pool.summary) == "ttft_s=0.5"
        assert [(r.name, r.values) for r in metrics_table([pool.summary])] == [("ttft_s", [0.5])]
        export_json(s, list(ids.values()))
        export_csv(s, list(ids.values()))
    labels = {m.id: m.label for m in registry.list_models(session_factory)}
    assert labels[f"run:{ids['training']}"] == f"tr (run {ids['training']}, ?x?)"
    assert f"run:{ids['tokenizer']}" in {t.id for t in registry.list_tokenizers(session_factory)}


def test_damaged_rows_are_named_with_why(session_factory, tmp_path):
    ids = _damaged_rows(session_factory, tmp_path)
    with session_factory.begin() as s:
        found = {r.id: run_problems(r.kind, r.config, r.summary) for r in list_runs(s).runs}
    assert found[ids["tokenizer"]] == ["summary.n_vocab is 'many', not a whole number"]
    assert found[ids["training"]] == [
        "config.model is 'big', not an object",
        "summary.val_loss is 'low', not a finite number",
    ]
    assert found[ids["pool"]] == [
        "summary.slo_attainment holds a 401-digit integer (at most 9,223,372,036,854,775,807)"
    ]
    assert found[ids["sampling"]] == ["summary.tokens is 'five', not a whole number"]


def test_timezone_round_trip_is_exact(session_factory, tmp_path):
    """``10:00+05:00`` is the instant 05:00 UTC: stored, exported and re-imported as such."""
    from datetime import datetime

    from core.store import open_database

    payload = _doc(created_at="2026-01-01T10:00:00+05:00", updated_at="2026-01-01T10:30:00-02:00")
    with session_factory.begin() as s:
        (run_id,) = import_json(s, payload).created
    with session_factory.begin() as s:
        first = json.loads(export_json(s, [run_id]))["runs"][0]
    assert first["created_at"] == "2026-01-01T05:00:00+00:00"
    assert first["updated_at"] == "2026-01-01T12:30:00+00:00"
    assert datetime.fromisoformat(first["created_at"]) == datetime.fromisoformat(
        "2026-01-01T10:00:00+05:00"
    )
    other = open_database(f"sqlite:///{tmp_path / 'other.db'}")
    with other.begin() as s:
        (again_id,) = import_json(s, json.dumps({"format": "glassbox-runs", "version": 1,
                                                  "runs": [first]})).created  # fmt: skip
    with other.begin() as s:
        assert json.loads(export_json(s, [again_id]))["runs"][0] == first


def test_imported_artifact_paths_outside_home_are_refused(session_factory):
    inside = str(glassbox_home() / "runs" / "best.safetensors")
    payload = _doc(
        kind="training",
        artifacts=[
            {"name": "passwd", "kind": "checkpoint", "path": "/etc/passwd"},
            {"name": "escape", "kind": "checkpoint", "path": str(glassbox_home() / ".." / "x")},
            {"name": "relative", "kind": "checkpoint", "path": "runs/x.safetensors"},
            {"name": "ok", "kind": "checkpoint", "path": inside},
        ],
    )
    with session_factory.begin() as s:
        result = import_json(s, payload)
    assert len(result.warnings) == 3
    assert "'passwd' points at a file outside $GLASSBOX_HOME" in result.warnings[0]
    with session_factory.begin() as s:
        arts = json.loads(export_json(s, result.created))["runs"][0]["artifacts"]
    assert [(a["name"], a["path"]) for a in arts] == [
        ("passwd", None),
        ("escape", None),
        ("relative", None),
        ("ok", inside),
    ]


def test_csv_export_neutralises_formulas(session_factory):
    with session_factory.begin() as s:
        run = create_run(
            s,
            kind="pool",
            name='=HYPERLINK("http://evil","x")',
            status="finished",
            notes="+1",
            tags=["@SUM(A1)"],
            config={"=cmd": "-2+3", "tab": "\tx", "cr": "\rx", "n": -5},
        )
        text = export_csv(s, [run.id])
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["name"] == '\'=HYPERLINK("http://evil","x")'
    assert (row["notes"], row["tags"]) == ("'+1", "'@SUM(A1)")
    assert row["config.=cmd"] == "'-2+3"
    assert (row["config.tab"], row["config.cr"], row["config.n"]) == ("'\tx", "'\rx", "-5")
