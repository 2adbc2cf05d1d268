"""The sidebar's page menu, drawn by the app itself (``st.page_link``), section by section.

Why not Streamlit's own menu: the first script run of a fresh server goes through a relic of
Streamlit's first multipage API, which builds a menu from the *file names* in ``pages/``
("app, home, pool, runs, …") and shows it for the seconds app.py takes to import until its
``st.navigation`` replaces it. ``client.showSidebarNavigation = false`` in
``.streamlit/config.toml`` hides that menu — and Streamlit's own menu with it, so app.py
calls ``st.navigation(position="hidden")`` and this module draws the titled one: no
file-named flash on a cold server. The password gate runs first, so the menu (like the rest
of the sidebar) appears only once the password was given.
"""

from __future__ import annotations

import streamlit as st

from ui.nav import sections


def draw_menu() -> None:
    """Every page, grouped by section, at the top of the sidebar (the current one marked)."""
    with st.sidebar.container(key="gb_menu", gap="small"):
        for section, specs in sections().items():
            st.caption(section)
            for spec in specs:
                st.page_link(spec.path, label=spec.title, icon=spec.icon)
        st.divider()
