"""Home: what Glassbox is, and a link to every page."""

import streamlit as st

from ui import tour
from ui.boot import ensure_app_shell
from ui.nav import PAGES
from ui.shell import choices, model_label
from ui.text import md

ensure_app_shell()

st.title("Glassbox")
st.markdown(
    "A playground that opens up a GPT-style language model — and the serving of many "
    "such models on a shared GPU pool — so that every number behind it can be seen. "
    "Everything runs here, offline: real tokenizers, a small GPT the project trained "
    "itself, and a simulator of a GPU pool after the SOSP'25 paper *Aegaeon*."
)

current = choices()
st.markdown(
    f"**Model:** {md(model_label(current.model_id))} · **Tokenizer:** "
    f"{md(current.tokenizer_id)} · **Device:** {md(current.device)}"
)

st.subheader("Pages")
for spec in PAGES:
    with st.container(border=True):
        st.page_link(spec.path, label=spec.title, icon=spec.icon)
        st.caption(spec.blurb)

st.caption(
    "Choose the model and tokenizer in the sidebar; every page reads them. Runs you save "
    "are kept in the run store (SQLite by default) and compared on *Saved runs*."
)
tour.restart_button()
