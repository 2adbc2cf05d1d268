"""Shared fixtures: a migrated run store on SQLite and, when available, PostgreSQL.

PostgreSQL tests run when ``GLASSBOX_TEST_POSTGRES_URL`` is set (``.ci/run`` starts a
throwaway server and sets it). With ``GLASSBOX_REQUIRE_SERVICES=1`` (set by CI) a missing
server fails the test instead of skipping it.
"""

from __future__ import annotations

import os

# Before anything imports torch: OpenMP's busy-waiting threads slow every small product on
# a shared machine (core/__init__.py sets the same for the command lines).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest
from sqlalchemy import text

from core.store import Base, make_engine, upgrade_database
from core.store.db import DatabaseUnavailable

POSTGRES_ENV = "GLASSBOX_TEST_POSTGRES_URL"


def services_required() -> bool:
    return os.environ.get("GLASSBOX_REQUIRE_SERVICES") == "1"


def missing_service(message: str) -> None:
    """Skip on a developer machine, fail in CI."""
    if services_required():
        pytest.fail(f"{message} (GLASSBOX_REQUIRE_SERVICES=1, so this is an error)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Never touch the developer's ~/.glassbox: each test gets its own home and SQLite."""
    home = tmp_path / "glassbox-home"
    monkeypatch.setenv("GLASSBOX_HOME", str(home))
    monkeypatch.setenv("GLASSBOX_DATABASE_URL", f"sqlite:///{home / 'glassbox.db'}")
    yield


def _reset_postgres(url: str):
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    except Exception as exc:
        engine.dispose()
        missing_service(f"PostgreSQL at {POSTGRES_ENV} is unreachable: {exc}")
    return engine


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """A database URL with an empty, migrated schema: SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        engine = make_engine(url)
    else:
        url = os.environ.get(POSTGRES_ENV)
        if not url:
            missing_service(
                f'PostgreSQL tests need {POSTGRES_ENV}; run `eval "$(bash '
                ".ci/start-postgres.sh)\"` (needs Debian's postgresql package) to enable them"
            )
        engine = _reset_postgres(url)
    try:
        upgrade_database(engine)
    except DatabaseUnavailable as exc:
        missing_service(str(exc))
    engine.dispose()
    return url


@pytest.fixture
def session_factory(db_url):
    """A sessionmaker over a freshly migrated database (``with session_factory.begin()``)."""
    from sqlalchemy.orm import sessionmaker

    engine = make_engine(db_url)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def pytest_collection_modifyitems(items):
    """Every browser test is in the slow lane, whichever file it is in."""
    for item in items:
        if item.get_closest_marker("e2e") is not None and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)
