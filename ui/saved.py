"""The "Save or open …" panel pages share: a save button, the saved runs of one kind, Open.

The page supplies what differs: how to list its saved runs, how to label one, and the
callbacks that save and open (run as button callbacks, before the page reruns).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from core.store import reading
from ui.db import guard, session_factory


def save_or_open_panel(
    *,
    things: str,
    save_label: str,
    open_label: str,
    open_icon: str,
    key: str,
    list_saved: Callable[[Any], Sequence[Any]],
    label: Callable[[Any], str],
    action: Callable[..., None],
    save: Callable[..., None],
    open_run: Callable[..., None],
) -> None:
    """Draw the panel inside an expander titled "Save or open a …" by the caller.

    ``things`` is the plural noun ("analyses"); widget keys are ``{key}_save``,
    ``{key}_open_id`` and ``{key}_open``; ``action(fn, *args)`` is the page's button
    callback wrapper, called as ``action(save, Session)`` and ``action(open_run, Session, id)``.
    """
    Session = session_factory()
    if Session is None:
        return
    st.button(
        save_label,
        key=f"{key}_save",
        on_click=action,
        args=(save, Session),
        icon=":material/save:",
    )
    saved_runs: Sequence[Any] = []
    with guard(f"list saved {things}"), reading(Session) as session:
        saved_runs = list_saved(session)
    if not saved_runs:
        st.caption(f"No saved {things} yet.")
        return
    names = {r.run_id: label(r) for r in saved_runs}
    chosen = st.selectbox(
        f"Saved {things}", list(names), key=f"{key}_open_id", format_func=names.get
    )
    st.button(
        open_label,
        key=f"{key}_open",
        on_click=action,
        args=(open_run, Session, chosen),
        icon=open_icon,
    )
