"""Export to JSON/CSV and import back: exact round trip, validation before writing."""

from __future__ import annotations

import csv
import io
import json

import pytest

from core.store import (
    ImportFormatError,
    add_artifact,
    add_points,
    create_run,
    export_csv,
    export_json,
    finish_run,
    glassbox_home,
    import_json,
    list_runs,
)


def _make_runs(session_factory) -> list[int]:
    with session_factory.begin() as s:
        a = create_run(
            s,
            kind="training",
            name="Ünïcode <b>run</b>",
            config={"model": {"n_layer": 4, "n_embd": 256}, "lr": 0.1 + 0.2, "tags": ["x"]},
            tags=["baseline", "cpu"],
            notes="line 1\nline 2",
        )
        add_points(s, a.id, "train_loss", [(i, 1 / (i + 1)) for i in range(50)])
        add_points(s, a.id, "val_loss", [(10, None), (20, 0.123456789012345)])
        add_artifact(
            s, a.id, name="tok", kind="tokenizer", content=bytes(range(256)), meta={"k": 1}
        )
        # Imported artifact paths must lie under $GLASSBOX_HOME (see test_hostile_store.py).
        ckpt = str(glassbox_home() / "runs" / "x.safetensors")
        add_artifact(s, a.id, name="ckpt", kind="checkpoint", path=ckpt, sha256="ab" * 32)
        finish_run(s, a.id, summary={"val_loss": 0.5, "tokens_per_s": 4321.5})
        b = create_run(s, kind="pool", name="pool", config={"gpus": 16}, status="failed")
        return [a.id, b.id]


def _strip_volatile(doc: dict) -> dict:
    return doc  # ids are not exported, uids and times are: the export must match exactly


def test_json_round_trip_is_exact(session_factory, tmp_path):
    from core.store import open_database

    ids = _make_runs(session_factory)
    with session_factory.begin() as s:
        exported = export_json(s, ids)
    other = open_database(f"sqlite:///{tmp_path / 'other.db'}")
    with other.begin() as s:
        result = import_json(s, exported.encode())
        assert len(result.created) == 2 and result.skipped == []
    with other.begin() as s:
        again = export_json(s, result.created)
    assert json.loads(again) == json.loads(exported)
    # importing the same file twice changes nothing
    with other.begin() as s:
        second = import_json(s, exported)
        assert second.created == [] and len(second.skipped) == 2
        assert list_runs(s).total == 2


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"\xff\xfe garbage", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b'{"hello": 1}', "not a Glassbox export"),
        (b'{"format": "glassbox-runs", "version": 99, "runs": []}', "version"),
        (b'{"format": "glassbox-runs", "version": 1, "runs": {}}', "must be a list"),
        (
            b'{"format": "glassbox-runs", "version": 1, "runs": [{"uid": "u", "name": "n",'
            b' "config": {}, "summary": {}, "kind": "alien", "status": "finished"}]}',
            "unknown kind",
        ),
    ],
)
def test_invalid_import_writes_nothing(session_factory, payload, message):
    with pytest.raises(ImportFormatError, match=message), session_factory.begin() as s:
        import_json(s, payload)
    with session_factory.begin() as s:
        assert list_runs(s).total == 0


def test_half_valid_file_writes_nothing(session_factory):
    ids = _make_runs(session_factory)
    with session_factory.begin() as s:
        doc = json.loads(export_json(s, ids))
    doc["runs"][0]["uid"] = "fresh-uid"
    doc["runs"][1]["created_at"] = "yesterday"
    with session_factory.begin() as s:
        before = list_runs(s).total
        with pytest.raises(ImportFormatError, match="ISO date-time"):
            import_json(s, json.dumps(doc))
        assert list_runs(s).total == before


def test_csv_has_flattened_columns(session_factory):
    ids = _make_runs(session_factory)
    with session_factory.begin() as s:
        text = export_csv(s, ids)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["kind"] for r in rows] == ["training", "pool"]
    assert rows[0]["config.model.n_layer"] == "4"
    assert rows[0]["summary.val_loss"] == "0.5"
    assert rows[0]["tags"] == "baseline cpu"
    assert rows[1]["config.gpus"] == "16" and rows[1]["config.model.n_layer"] == ""
