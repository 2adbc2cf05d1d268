"""The "Save or open …" panel pages share: a save button, the saved runs of one kind, Open.

The page supplies what differs: how to list its saved runs, how to label one, and the
callbacks that save and open (run as button callbacks, before the page reruns).

With ``notices`` the panel is an ``st.fragment``: a Save click reruns the panel alone (its
button, the list of saved runs and the page's messages, which ``notices()`` shows), not the
whole page with its charts — at 20 sessions the browsers redrawing whole pages were most of
the machine's work (docs/benchmarks.md, concurrent sessions). Open still reruns the whole
page, which it changes.
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
    notices: Callable[[], None] | None = None,
) -> None:
    """Draw the panel inside an expander titled "Save or open a …" by the caller.

    ``things`` is the plural noun ("analyses"); widget keys are ``{key}_save``,
    ``{key}_open_id`` and ``{key}_open``; ``action(fn, *args)`` is the page's button
    callback wrapper, called as ``action(save, Session)`` and ``action(open_run, Session, id)``.
    ``notices()``, when given, shows the messages the callbacks left (an error, "Saved as
    run #…") inside the panel, which then reruns on its own after a Save (see above).
    """
    args = dict(things=things, save_label=save_label, open_label=open_label,
                open_icon=open_icon, key=key, list_saved=list_saved, label=label,
                action=action, save=save, open_run=open_run)  # fmt: skip
    if notices is None:
        _panel(**args)
    else:
        st.fragment(_panel_fragment)(args, notices)


def _panel_fragment(args: dict[str, Any], notices: Callable[[], None]) -> None:
    """The panel as a fragment: an Open reruns the whole page (it replaces what it shows)."""
    opened = f"{args['key']}_opened"
    if st.session_state.pop(opened, False):
        st.rerun()  # scope "app": the page draws what was opened, and its message
    notices()
    open_run = args["open_run"]

    def open_then_rerun(*a: Any) -> None:
        st.session_state[opened] = True
        open_run(*a)

    _panel(**(args | {"open_run": open_then_rerun}))


def _panel(
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
