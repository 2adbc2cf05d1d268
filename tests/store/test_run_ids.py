"""Run ids are never reused (issue 22, item 5), on a new database and after the upgrade."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from core.store import (
    add_artifact,
    add_points,
    delete_runs,
    get_artifacts,
    get_points,
    get_run,
    make_engine,
    open_database,
    record_run,
    upgrade_database,
)
from core.store.db import alembic_config


def test_the_id_of_a_deleted_run_is_never_given_again(session_factory):
    with session_factory.begin() as s:
        first = record_run(s, kind="tokenizer", name="a").id
        newest = record_run(s, kind="tokenizer", name="b").id
    with session_factory.begin() as s:
        delete_runs(s, [newest])
    with session_factory.begin() as s:
        again = record_run(s, kind="tokenizer", name="c").id
    assert again > newest > first


def test_upgrading_an_old_sqlite_store_keeps_every_row_and_stops_reuse(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:  # a store as version 0001 left it
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(text(
            "INSERT INTO runs (id, uid, kind, name, status, config, summary, notes, created_at,"
            " updated_at) VALUES (1, 'u1', 'training', 'old', 'finished', '{}', '{}', '',"
            " '2026-01-01 00:00:00', '2026-01-01 00:00:00'), (2, 'u2', 'pool', 'new',"
            " 'finished', '{}', '{}', '', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        ))  # fmt: skip
        conn.execute(text("INSERT INTO run_points (run_id, series, x, y) VALUES (1, 'l', 0, 2.5)"))
        conn.execute(text("INSERT INTO run_tags (run_id, name) VALUES (1, 'kept')"))
        conn.execute(text(
            "INSERT INTO artifacts (run_id, name, kind, meta, created_at) VALUES"
            " (1, 'a', 'note', '{}', '2026-01-01 00:00:00')"
        ))  # fmt: skip
    upgrade_database(engine)
    engine.dispose()
    factory = open_database(url)
    with factory.begin() as s:
        run = get_run(s, 1)
        assert (run.name, run.tag_names, run.owner) == ("old", ["kept"], None)
        assert get_points(s, 1) == {"l": [(0.0, 2.5)]}
        assert [a.name for a in get_artifacts(s, 1)] == ["a"]
        delete_runs(s, [2])
    with factory.begin() as s:
        add_points(s, 1, "l", [(1, 2.0)])
        add_artifact(s, 1, name="b", kind="note")
        assert record_run(s, kind="pool", name="next").id == 3
