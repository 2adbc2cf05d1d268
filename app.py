"""Glassbox: a browser playground that makes a GPT and the serving of many LLMs visible.

Run with ``streamlit run app.py``. This file only sets the page up, builds the navigation
from ``ui.nav``, asks for the shared password when the server has one (``ui.auth``), draws
the menu (``ui.menu``) and the shared sidebar, presenter mode (``ui.presenter``) and the
guided tour (``ui.tour``); each page lives in ``pages/``.
"""

import os

# Interactive decoding runs many tiny matrix products; OpenMP's default busy-waiting makes
# each one spin for the other threads and, on a busy 2-core machine, slowed a decode step
# from ~1 ms to ~70 ms (bench/bench_sampling.py). Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import streamlit as st

from ui import presenter, tour
from ui.auth import password_gate
from ui.menu import draw_menu
from ui.models import start_warmup, wait_for_warmup
from ui.nav import sections
from ui.shell import render_sidebar

presenter.read_flag()  # ?present=1: presenter mode (bigger type, sidebar folded away)
st.set_page_config(
    page_title="Glassbox",
    page_icon="🔎",
    layout="wide",
    initial_sidebar_state=presenter.sidebar_state(),
)

navigation = st.navigation(
    {
        section: [
            st.Page(
                spec.path,
                title=spec.title,
                icon=spec.icon,
                url_path=spec.url_path,
                default=spec.path == "pages/home.py",
            )
            for spec in specs
        ]
        for section, specs in sections().items()
    },
    position="hidden",  # ui.menu draws the menu (no file-named menu on a cold server)
)
start_warmup()  # once per server process: load PyTorch and the built-in model meanwhile
password_gate()  # with GLASSBOX_PASSWORD set: nothing below runs until it was given
draw_menu()
render_sidebar()
presenter.sidebar_toggle()
presenter.apply()
tour.read_flag()
tour.card(navigation.url_path)
if navigation.url_path:  # every page but Home needs PyTorch: say so while it loads
    wait_for_warmup()
navigation.run()
