"""Make a deep link on a fresh server run through app.py, not the page file alone.

Streamlit keeps a relic of its first multipage API: while no script has called
``st.navigation`` yet, a server whose entry script has a ``pages/`` folder beside it runs a
requested page file (``/runs``) *by itself*, without app.py — so the first visitor of a
fresh server who opens a shared link would get a page with no shared sidebar. Pages call
:func:`ensure_app_shell` first; in that situation it switches the relic off and reruns,
and Streamlit then runs app.py, which routes to the same page by its URL path.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_app_shell() -> None:
    """Rerun through app.py when Streamlit ran this page file on its own."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
