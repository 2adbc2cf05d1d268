"""Connecting, migrating, and clear errors when the database is not usable."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from core.store import Base, DatabaseUnavailable, database_url, make_engine, open_database


def test_migrations_match_models(db_url):
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_is_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    open_database(url)
    open_database(url)
    engine = make_engine(url)
    assert {"runs", "run_points", "run_tags", "artifacts", "alembic_version"} <= set(
        inspect(engine).get_table_names()
    )


def test_sqlite_uses_wal_and_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_default_url_lives_in_glassbox_home(monkeypatch, tmp_path):
    monkeypatch.delenv("GLASSBOX_DATABASE_URL")
    monkeypatch.setenv("GLASSBOX_HOME", str(tmp_path / "home"))
    assert database_url() == f"sqlite:///{tmp_path / 'home' / 'glassbox.db'}"


@pytest.mark.parametrize(
    "url, message",
    [
        ("not a url", "not a valid database URL"),
        ("nosuchdb://x/y", "no database driver"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot open the run store"),
    ],
)
def test_unusable_database_gives_clear_error(url, message):
    with pytest.raises(DatabaseUnavailable, match=message):
        open_database(url)


def test_password_is_hidden_in_errors():
    with pytest.raises(DatabaseUnavailable) as err:
        open_database("postgresql+psycopg://user:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in str(err.value)


def test_reads_do_not_take_the_sqlite_write_lock(tmp_path):
    """A writer holds the lock (uncommitted); reading() still lists runs (issue 22, item 8)."""
    import sqlite3

    from core.store import list_runs, open_database, reading, record_run

    path = tmp_path / "lock.db"
    factory = open_database(f"sqlite:///{path}")
    with factory.begin() as s:
        record_run(s, kind="pool", name="before")
    writer = sqlite3.connect(path, isolation_level=None, timeout=0)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO run_tags (run_id, name) VALUES (1, 'pending')")
    try:
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")  # what every read took before
        other.close()
        with reading(factory) as s:
            page = list_runs(s)
            assert [(r.name, r.tag_names) for r in page.runs] == [("before", [])]
    finally:
        writer.execute("ROLLBACK")
        writer.close()
