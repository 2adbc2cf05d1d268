"""Two columns that stack when the window is narrow (Streamlit's ``st.columns`` never do
above 640 px, so at half a 1920 screen with the sidebar open their labels break letter by
letter).

``side_by_side`` is a horizontal container whose two children are flex items with a basis
(the width each needs to read whole) and a grow share: side by side where both bases fit,
one above the other (each full width) where they do not. The CSS is scoped to the
container's key (Streamlit gives a keyed container the class ``st-key-<key>``).

    setup, main = side_by_side("pl_layout", (300, 1), (480, 3))
"""

from __future__ import annotations

from typing import Any

import streamlit as st

_WRAPPER = '.st-key-{outer} > [data-testid="stLayoutWrapper"]:has(> .st-key-{inner})'


def side_by_side(
    key: str,
    left: tuple[int, float],
    right: tuple[int, float],
    *,
    border_left: bool = False,
    gap: str = "medium",
) -> tuple[Any, Any]:
    """Two containers, ``left`` and ``right`` each given as (basis in px, grow share); the
    right one goes under the left one when the row is narrower than both bases and the gap.
    The containers' keys are ``<key>_left`` and ``<key>_right``."""
    rules = "\n".join(
        f"{_WRAPPER.format(outer=key, inner=f'{key}_{side}')} "
        f"{{ flex: {grow:g} 1 {basis}px !important; min-width: 0 !important; }}"
        for side, (basis, grow) in (("left", left), ("right", right))
    )
    st.html(f"<style>\n{rules}\n</style>")
    row = st.container(horizontal=True, gap=gap, key=key)
    return (
        row.container(border=border_left, key=f"{key}_left"),
        row.container(key=f"{key}_right"),
    )
