"""An optional shared password for a server that a room uses (``GLASSBOX_PASSWORD``).

Unset (the default): no gate; the server listens on loopback only (.streamlit/config.toml),
so only this machine reaches it. Set: app.py asks every new browser session for the
password once, before any page or the sidebar renders, and compares it in constant time
(``hmac.compare_digest``). It is a shared secret for a workshop, not user accounts: everyone
who knows it sees the same run store (see README, "Serving a room").
"""

from __future__ import annotations

import hmac
import os

import streamlit as st

PASSWORD_ENV = "GLASSBOX_PASSWORD"
_OK_KEY = "gb_password_ok"


def password_required() -> bool:
    """True when the server has a password and this session has not given it yet."""
    return bool(os.environ.get(PASSWORD_ENV)) and not st.session_state.get(_OK_KEY, False)


def _matches(given: str, secret: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8"))


def password_gate() -> None:
    """Draw the password form and stop the script until the session has given it."""
    if not password_required():
        return
    st.title("Glassbox")
    st.caption("This server is shared: enter the password you were given.")
    with st.form("gb_password_form"):
        given = st.text_input("Password", type="password", max_chars=200, key="gb_password")
        sent = st.form_submit_button("Enter", type="primary")
    if sent:
        if _matches(given, os.environ.get(PASSWORD_ENV, "")):
            st.session_state[_OK_KEY] = True
            del st.session_state["gb_password"]  # not kept in the session once checked
            st.rerun()
        st.error("Wrong password.")
    st.stop()
