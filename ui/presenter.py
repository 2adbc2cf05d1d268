"""Presenter mode: bigger type, the sidebar folded away, one key to step, the view's room link.

Switched in the sidebar ("Presenter mode") or by the link flag ``?present=1`` (``0``: off);
the choice is kept in this session (``st.session_state``), and the toggle writes it back into
the URL so that a reload keeps it. While it is on:

- :func:`apply` injects one stylesheet: the page is zoomed by :data:`SCALE` (text,
  controls, tables and panels together; charts keep their size but get larger axis text),
  and the sidebar starts collapsed (app.py passes :func:`sidebar_state` to
  ``st.set_page_config``);
- a bar atop every page offers **Room link**: the current view's URL (page and query) as a
  QR code and as text, with the address the room should open when the presenter's own
  browser shows ``localhost`` (:func:`room_link`, pure);
- a page names its "step" button with :func:`step_key` (Sampling: Next token) or draws it
  with :func:`step_button` (GPU pool: Next frame); then → (ArrowRight), Page Down (what a
  presentation clicker sends) or ``n`` presses it. The listener is a few lines of script
  added once to the page; it ignores keys typed into a field (and arrows on a slider, tab
  or radio, which use them) and clicks only a
  button that a marker element of the *current* run names, so it does nothing on a page
  without one, or with presenter mode off (no marker is drawn then).
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from core.viz.qr import MAX_QR_CHARS, QRTooLong, qr_svg
from ui.text import md
from ui.urlstate import Flag, read_url, warn

PRESENT_KEY = "gb_present"  # session: presenter mode on (the sidebar toggle's key)
URL_KEY = "present"
PARAMS = {URL_KEY: Flag(False)}
APP_KEYS = ("present", "tour")  # app-wide link flags: not part of a view's room link
SCALE = 1.25  # the page's zoom in presenter mode
NARROW_SCALE = 1.1  # the same in a window narrower than 1100 px
STEP_KEYS = ("ArrowRight", "PageDown", "n")  # what presses the page's step button
_BUTTON_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what the listener accepts (in a CSS class)

# The page is zoomed as a whole (like the browser's own zoom, but for this tab's page only):
# text, controls, st.table and the fixed pixel widths of panels grow together, so a page lays
# out as it would in a window SCALE times narrower (1280 px reads like 1024 px). Plotly charts
# and the data grid measure themselves in pixels (hover and clicks land wrong under a zoom),
# so they are zoomed back to 1 and plotly's axis text is set larger instead. A narrow window
# (half a screen) gets a smaller zoom, not to squeeze the page below ~800 px.
_CSS = f"""
<style>
:root {{ --gb-zoom: {SCALE}; }}
@media (max-width: 1100px) {{ :root {{ --gb-zoom: {NARROW_SCALE}; }} }}
[data-testid="stMain"] {{ zoom: var(--gb-zoom); }}
.stPlotlyChart, [data-testid="stDataFrame"] {{ zoom: calc(1 / var(--gb-zoom)); }}
.js-plotly-plot .main-svg :is(.xtick, .ytick, .ztick) text {{ font-size: 14px !important; }}
.js-plotly-plot .main-svg :is(.xtitle, .ytitle, .ztitle) {{ font-size: 16px !important; }}
</style>
"""

# One listener per browser tab (a flag on window); each key press looks up the marker of
# the page being shown, so leaving the page (or presenter mode) leaves the keys inert.
_LISTENER = """
<script>
(() => {
  if (window.__glassboxStepKeys) return;
  window.__glassboxStepKeys = true;
  const KEYS = %(keys)s;
  const TEXT = "input, textarea, select, [contenteditable=''], [contenteditable='true'], "
    + "[role='combobox'], [role='spinbutton']";
  const ARROWS = "[role='slider'], [role='listbox'], [role='option'], [role='radiogroup'], "
    + "[role='radio'], [role='tab'], [role='tablist']";
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (!KEYS.includes(event.key)) return;
    const target = event.target && event.target.closest ? event.target : null;
    if (target && target.closest(TEXT)) return;  // typing in a field
    if (target && event.key.startsWith("Arrow") && target.closest(ARROWS)) return;  // its own
    const marker = document.querySelector("[data-glassbox-step]");
    if (!marker) return;
    const key = marker.getAttribute("data-glassbox-step") || "";
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(key)) return;
    const button = document.querySelector(".st-key-" + key + " button");
    if (!button || button.disabled) return;
    event.preventDefault();
    button.click();
  });
})();
</script>
"""


# ---------------------------------------------------------------- the switch
def read_flag() -> bool:
    """Take ``?present=0/1`` from the link into the session (a bad value is named); return
    whether presenter mode is on. app.py calls it before ``st.set_page_config``."""
    if URL_KEY in st.query_params:
        values, problems = read_url(PARAMS)
        if problems:
            st.session_state["gb_present_problems"] = problems
        else:
            st.session_state[PRESENT_KEY] = values[URL_KEY]
    return is_on()


def is_on() -> bool:
    """Presenter mode is on in this session."""
    return bool(st.session_state.get(PRESENT_KEY, False))


def sidebar_state() -> str:
    """``initial_sidebar_state`` for ``st.set_page_config``: collapsed while presenting."""
    return "collapsed" if is_on() else "expanded"


def _write_flag() -> None:
    """The toggle's callback: the choice goes into the link (off: the flag leaves it)."""
    if is_on():
        st.query_params[URL_KEY] = "1"
    elif URL_KEY in st.query_params:
        del st.query_params[URL_KEY]


def _leave() -> None:
    st.session_state[PRESENT_KEY] = False
    _write_flag()


def sidebar_toggle() -> None:
    """The sidebar's switch (and the warning for a bad ``?present=`` value)."""
    st.session_state.setdefault(PRESENT_KEY, False)
    st.sidebar.toggle(
        "Presenter mode",
        key=PRESENT_KEY,
        on_change=_write_flag,
        help="Bigger type for a projector, the sidebar folded away, → or Page Down presses "
        "the page's step button (Next token, Next frame), and a QR code of this view for the "
        "room. The link flag ?present=1 turns it on.",
    )
    problems = st.session_state.pop("gb_present_problems", None)
    if problems:
        with st.sidebar:
            warn(problems)


# ---------------------------------------------------------------- what presenter mode draws
def apply() -> None:
    """While presenting: the stylesheet and the bar with Room link and Leave (app.py calls
    it before the page runs)."""
    if not is_on():
        return
    st.html(_CSS)
    bar = st.container(horizontal=True, horizontal_alignment="right", key="gb_present_bar")
    if bar.button("Room link", icon=":material/qr_code_2:", key="gb_room_link"):
        _room_dialog()
    bar.button("Leave presenter mode", icon=":material/close_fullscreen:", on_click=_leave)


def step_key(button_key: str) -> None:
    """While presenting, → / Page Down / n press the button whose ``key`` is ``button_key``."""
    if not is_on():
        return
    if not _BUTTON_KEY.fullmatch(button_key):
        raise ValueError(f"not a button key the step listener can name: {button_key!r}")
    st.html(
        f'<span data-glassbox-step="{button_key}" hidden></span>'
        + _LISTENER % {"keys": json.dumps(list(STEP_KEYS))},
        unsafe_allow_javascript=True,
    )


def step_button(
    label: str,
    on_click: Callable[[], Any],
    *,
    key: str,
    disabled: bool = False,
    help: str | None = None,
    icon: str = ":material/skip_next:",
) -> None:
    """A page's step button, pressed by the step key while presenting."""
    st.button(label, key=key, on_click=on_click, disabled=disabled, help=help, icon=icon)
    step_key(key)


# ---------------------------------------------------------------- the room link
@dataclass(frozen=True)
class RoomLink:
    url: str  # what the room opens: this view's page and query
    note: str | None  # plain text: why the room may not reach it, and what to do


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _listens_everywhere(address: str) -> bool:
    return address in ("", "0.0.0.0", "::", "[::]")


def room_link(
    browser_url: str | None,
    query: Mapping[str, str],
    listen_address: str,
    port: int,
    lan_address: str | None = None,
) -> RoomLink:
    """The link a room opens to see this view (pure).

    ``browser_url``: the page's address as the presenter's browser has it, without its query
    (``st.context.url``; None outside a browser). ``query``: the view's URL entries (the
    app-wide flags are dropped). ``listen_address``/``port``: the server's
    ``--server.address``/``--server.port``. ``lan_address``: this machine's address on the
    network, if known.

        room_link("http://localhost:8501/sampling", {"n": "5"}, "0.0.0.0", 8501, "10.0.0.7")
        -> RoomLink("http://10.0.0.7:8501/sampling?n=5", "…opens it at 10.0.0.7…")
    """
    entries = {k: v for k, v in query.items() if k not in APP_KEYS}
    parts = urlsplit(browser_url or f"http://localhost:{port}/")
    host = parts.hostname or "localhost"
    note = None
    if _is_loopback(host):
        if not _listens_everywhere(listen_address) and not _is_loopback(listen_address):
            lan_address = listen_address  # the one address the server listens on
        if _is_loopback(listen_address) or not lan_address:
            note = (
                "This address works on this computer only: the server listens on "
                f"{listen_address or 'this computer'}. For the room, restart it with "
                "--server.address 0.0.0.0 and a password (README, “Serving a room”) and open "
                "it by this computer's network address."
                if _is_loopback(listen_address)
                else "Your browser opened the server as localhost, which the room cannot "
                "reach: give the room this computer's network address with the same path."
            )
        else:
            shown = f"[{lan_address}]" if ":" in lan_address else lan_address
            netloc = f"{shown}:{parts.port}" if parts.port else shown
            parts = parts._replace(netloc=netloc)
            note = f"Your browser opened the server as {host}; the room opens it at {shown}."
    url = urlunsplit((parts.scheme or "http", parts.netloc, parts.path or "/", "", ""))
    if entries:
        url += "?" + urlencode(entries)
    return RoomLink(url, note)


def _lan_address() -> str | None:
    """This machine's address on its network (the interface of the default route), or None.

    ``connect`` on a UDP socket only chooses a route; no packet is sent."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if _is_loopback(address) or address == "0.0.0.0" else address


def current_room_link() -> RoomLink:
    """:func:`room_link` of the view being shown, with this server's settings."""
    listen = str(st.get_option("server.address") or "")
    port = int(st.get_option("server.port"))
    lan = _lan_address() if _listens_everywhere(listen) else None
    query = {k: st.query_params[k] for k in st.query_params}
    return room_link(st.context.url, query, listen, port, lan)


@st.dialog("Open this view", width="large")
def _room_dialog() -> None:
    link = current_room_link()
    try:
        svg, shortened = qr_svg(link.url), False
    except QRTooLong:
        svg, shortened = qr_svg(link.url.split("?", 1)[0]), True
    row = st.container(horizontal=True, gap="large")
    row.image(svg, width=360)  # SVG markup: drawn as an image, never as the page's HTML
    with row.container(width="stretch"):
        st.markdown("Scan the code, or type the link:")
        st.code(link.url, language=None, wrap_lines=True)
        if shortened:
            st.caption(
                f"The full link is longer than {MAX_QR_CHARS:,} characters, too dense for a QR "
                "code a room can scan: the code opens the page, the link above the whole view."
            )
        if link.note:
            st.warning(md(link.note, 600), icon=":material/wifi_off:")
