"""Small pieces the GPU pool page's views share: metric tiles that wrap, a store write, its note.

``save`` runs one ``core.store.record_run`` writer (``core.pool.persist`` / ``core.pool.setup``)
inside one transaction and shows a store failure as an ``st.error`` (``ui.db.guard``);
``saved_note`` says where a run was saved; ``metric_rows`` lays out metric tiles in rows
that wrap to the window, so that a label or a value is never cut ("Ra…", "99.…").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from ui.db import guard, session_factory


def save(action: str, write: Callable[[Any], int]) -> int | None:
    """``write(session) -> run id`` inside one transaction; None when the store is down."""
    factory = session_factory()
    if factory is None:
        return None
    run_id = None
    with guard(action) as outcome, factory.begin() as s:
        run_id = write(s)
    return run_id if outcome.ok else None


def saved_note(run_id: int | None) -> None:
    """Where a run was saved (a link to compare it), or that the store was unavailable."""
    if run_id is None:
        st.caption("Not saved: the run store is unavailable (see the message above).")
    else:
        st.caption(
            f"Saved as run #{run_id}: compare it on the [Saved runs](runs?compare={run_id}) page."
        )


def metric_rows(tiles: Sequence[tuple[str, Any, str | None]], per_row: int = 3) -> None:
    """Metric tiles, at most ``per_row`` to a row, each row wrapping when the window is
    narrow (one tile under another rather than tiles too thin to read)."""
    for i in range(0, len(tiles), per_row):
        row = st.container(horizontal=True, gap="small")
        for label, value, help_text in tiles[i : i + per_row]:
            row.metric(label, value, help=help_text)
