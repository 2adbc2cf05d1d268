"""Keep a form's values when Streamlit drops the state of its widgets.

Streamlit deletes the value of a keyed widget when a script run ends without that widget,
and it decides which widgets exist from what the browser sent. A click that reaches the
server while the first page load is still being drawn (the Training page's Start pressed
at once, seen in Chromium) carries only the widgets drawn so far: the value of every other
form widget was dropped, the next run drew those widgets at their ``min_value`` and the
job started with 1 layer, width 8 and 1 step. A page keeps a plain copy of its form under
a key no widget owns (Streamlit never drops those) and puts back any value that went
missing before it draws the widgets::

    restore(st.session_state, "tr_form", "tr_", FIELDS)   # top of the page
    ...draw the widgets, read the form...
    remember(st.session_state, "tr_form", "tr_", FIELDS)  # after reading them
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any


def restore(
    state: MutableMapping[str, Any], copy_key: str, prefix: str, names: Iterable[str]
) -> list[str]:
    """Put back each ``prefix + name`` missing from ``state`` from the copy; returns the
    names restored (empty when nothing was dropped or nothing was remembered yet)."""
    copy = state.get(copy_key) or {}
    restored = []
    for name in names:
        if prefix + name not in state and name in copy:
            state[prefix + name] = copy[name]
            restored.append(name)
    return restored


def remember(
    state: MutableMapping[str, Any], copy_key: str, prefix: str, names: Iterable[str]
) -> None:
    """Copy the current ``prefix + name`` values into ``state[copy_key]``."""
    state[copy_key] = {n: state[prefix + n] for n in names if prefix + n in state}
