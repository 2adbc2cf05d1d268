"""Where the run store lives and how to connect to it.

SQLite in ``$GLASSBOX_HOME`` (default ``~/.glassbox/glassbox.db``) unless
``GLASSBOX_DATABASE_URL`` names any SQLAlchemy URL (PostgreSQL through psycopg 3:
``postgresql+psycopg://user@host:5432/glassbox``). SQLite runs in WAL mode with a busy
timeout and ``BEGIN IMMEDIATE`` transactions (the SQLAlchemy "pysqlite serializable"
recipe) for writes, so concurrent browser sessions wait for each other instead of failing
with "database is locked"; sessions opened with :func:`reading` begin a plain (deferred)
transaction instead, so in WAL mode a page that only reads never waits for a writer. The
schema is brought to the newest Alembic revision on open.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000


class DatabaseUnavailable(RuntimeError):
    """The run store cannot be used; the message says why and what to change."""


def glassbox_home() -> Path:
    """The folder for the default database and user files (``$GLASSBOX_HOME``)."""
    return Path(os.environ.get("GLASSBOX_HOME") or Path.home() / ".glassbox").expanduser()


def database_url() -> str:
    """``$GLASSBOX_DATABASE_URL`` if set, else SQLite in :func:`glassbox_home`."""
    url = os.environ.get("GLASSBOX_DATABASE_URL", "").strip()
    if url:
        return url
    return f"sqlite:///{glassbox_home() / 'glassbox.db'}"


def redact(url: str) -> str:
    """The URL with any password hidden, safe to show in the UI."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<malformed URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event below emit BEGIN itself (pysqlite's own handling
    # starts transactions lazily and can fail with "database is locked" on upgrade).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


READ_ONLY = "glassbox_read_only"  # execution option set by reading()


def _sqlite_begin(conn: Any) -> None:
    if conn.get_execution_options().get(READ_ONLY):
        # A reader sees a snapshot in WAL mode without any lock that a writer holds.
        conn.exec_driver_sql("BEGIN")
        return
    # Take the write lock up front: writers queue on busy_timeout instead of deadlocking.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def reading(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for reads only (``with reading(Session) as s:``), closed at the end.

    On SQLite it does not take the write lock, so listing runs never waits for a training
    run's or another tab's write. Nothing is committed: use ``Session.begin()`` for
    anything that writes. Objects read stay usable after the block, as after ``begin()``.
    """
    with factory() as session:
        session.connection(execution_options={READ_ONLY: True})
        yield session


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (default :func:`database_url`), configured for concurrency."""
    url = url or database_url()
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUnavailable(
            f"GLASSBOX_DATABASE_URL is not a valid database URL ({exc}); expected e.g. "
            "sqlite:////path/glassbox.db or postgresql+psycopg://user@host:5432/glassbox"
        ) from exc
    try:
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        connect_args = {"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {}
        return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    except (NoSuchModuleError, ImportError) as exc:
        raise DatabaseUnavailable(
            f"no database driver for {redact(url)} ({exc}); for PostgreSQL use the "
            "postgresql+psycopg:// scheme (psycopg 3 is in requirements.txt)"
        ) from exc
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot create the database folder: {exc}") from exc


def alembic_config(engine_or_connection: Any = None) -> Any:
    """An Alembic ``Config`` pointing at the packaged migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine_or_connection is not None:
        cfg.attributes["connection"] = engine_or_connection
    return cfg


def upgrade_database(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; the app calls it on start)."""
    from alembic import command

    try:
        with engine.connect() as connection:
            sqlite = engine.dialect.name == "sqlite"
            if sqlite:
                # SQLite rebuilds a table to alter it (batch mode); with foreign keys on,
                # dropping the old "runs" would cascade-delete every point, tag and
                # artifact. The pragma only works outside a transaction, hence the raw call.
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
            try:
                with connection.begin():
                    command.upgrade(alembic_config(connection), "head")
                    if sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if broken:
                            raise DatabaseUnavailable(
                                f"the upgrade left {len(broken)} rows without their run; "
                                "nothing was changed"
                            )
            finally:
                if sqlite:
                    connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(
            f"cannot open the run store at {redact(str(engine.url))}: "
            f"{exc.__class__.__name__}: {str(exc.orig if hasattr(exc, 'orig') else exc).strip()}"
        ) from exc


def open_database(url: str | None = None) -> sessionmaker[Session]:
    """Connect, migrate to head and return a session factory (``with S.begin() as s:``)."""
    engine = make_engine(url)
    upgrade_database(engine)
    return sessionmaker(engine, expire_on_commit=False)
