"""The run store for pages: one engine per server process, a banner when it is down.

Pages call :func:`session_factory`; it returns ``None`` after showing a clear banner when
the database cannot be used, so the rest of the page keeps working. Store calls that can
fail at any time (a server that went away, a locked file) go inside ``with guard():``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.store import (
    DatabaseUnavailable,
    ImportFormatError,
    InvalidRunData,
    RunNotFound,
    database_url,
    open_database,
    redact,
    sweep_interrupted,
)
from ui.text import md


@st.cache_resource(show_spinner="Opening the run store…")
def _open(url: str) -> sessionmaker[Session]:
    # Cached per URL for the whole server: the engine's pool is shared and thread-safe.
    # A failure raises and is not cached, so the next rerun tries again.
    factory = open_database(url)
    # Once per server start: runs left "running" by a process killed with -9 are marked
    # interrupted (a failure here must not keep the store closed).
    try:
        with factory.begin() as session:
            sweep_interrupted(session)
    except SQLAlchemyError:
        pass
    return factory


@dataclass
class Outcome:
    """What :func:`guard` saw: ``ok`` is False when the action failed (already shown)."""

    ok: bool = True
    message: str = ""


def session_factory(*, quiet: bool = False) -> sessionmaker[Session] | None:
    """The shared sessionmaker, or None after an ``st.error`` banner saying what is wrong."""
    url = database_url()
    try:
        return _open(url)
    except DatabaseUnavailable as exc:
        if not quiet:
            st.error(
                f"**The run store is unavailable.** {exc}\n\n"
                "Everything else on this page works; saving and loading runs is disabled "
                "until the database is reachable. Set `GLASSBOX_DATABASE_URL` to another "
                f"database or unset it to use SQLite in `$GLASSBOX_HOME`. (URL: `{redact(url)}`)",
                icon=":material/database_off:",
            )
        return None


@contextmanager
def guard(action: str) -> Iterator[Outcome]:
    """Show store failures during ``action`` as an ``st.error`` instead of a traceback.

    with guard("rename the run") as outcome:
        ...
    if outcome.ok:
        st.toast("Renamed")
    """
    outcome = Outcome()
    try:
        yield outcome
    except (ImportFormatError, InvalidRunData, RunNotFound) as exc:
        outcome.ok, outcome.message = False, str(exc)
        st.error(f"Could not {action}: {md(exc, 1000)}")  # may quote an imported file
    except (SQLAlchemyError, DatabaseUnavailable) as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip()[:300]
        outcome.ok, outcome.message = False, detail
        st.error(
            f"Could not {action}: the database reported “{md(detail)}”. "
            "Nothing was changed; try again in a moment.",
            icon=":material/database_off:",
        )
