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
from dataclasses import dataclass, replace
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
    panel = _Panel(things, save_label, open_label, open_icon, key, list_saved, label,
                   action, save, open_run)  # fmt: skip
    if notices is None:
        _draw(panel)
    else:
        st.fragment(_panel_fragment)(panel, notices)


@dataclass(frozen=True)
class _Panel:
    """What :func:`save_or_open_panel` was given (see there)."""

    things: str
    save_label: str
    open_label: str
    open_icon: str
    key: str
    list_saved: Callable[[Any], Sequence[Any]]
    label: Callable[[Any], str]
    action: Callable[..., None]
    save: Callable[..., None]
    open_run: Callable[..., None]


def _panel_fragment(panel: _Panel, notices: Callable[[], None]) -> None:
    """The panel as a fragment: an Open reruns the whole page (it replaces what it shows)."""
    opened = f"{panel.key}_opened"
    if st.session_state.pop(opened, False):
        st.rerun()  # scope "app": the page draws what was opened, and its message
    notices()

    def open_then_rerun(*a: Any) -> None:
        st.session_state[opened] = True
        panel.open_run(*a)

    _draw(replace(panel, open_run=open_then_rerun))


def _draw(panel: _Panel) -> None:
    Session = session_factory()
    if Session is None:
        return
    st.button(
        panel.save_label,
        key=f"{panel.key}_save",
        on_click=panel.action,
        args=(panel.save, Session),
        icon=":material/save:",
    )
    saved_runs: Sequence[Any] = []
    with guard(f"list saved {panel.things}"), reading(Session) as session:
        saved_runs = panel.list_saved(session)
    if not saved_runs:
        st.caption(f"No saved {panel.things} yet.")
        return
    names = {r.run_id: panel.label(r) for r in saved_runs}
    chosen = st.selectbox(
        f"Saved {panel.things}", list(names), key=f"{panel.key}_open_id", format_func=names.get
    )
    st.button(
        panel.open_label,
        key=f"{panel.key}_open",
        on_click=panel.action,
        args=(panel.open_run, Session, chosen),
        icon=panel.open_icon,
    )
