"""Long work for a page stops when the browser tab that asked for it has gone.

Streamlit runs a page's script on a server thread and keeps running it after the tab
closes; a page that simulates or trains in slices calls :func:`check_alive` between them, so
the work of a session that disconnected stops within one slice. (Any ``st`` call after the
session was shut down also stops the script; :func:`check_alive` makes the check explicit
and cheap, with no element drawn.)
"""

from __future__ import annotations

from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.scriptrunner_utils.exceptions import StopException


class SessionGone(StopException):
    """The session that started this work has disconnected: nobody will see the result.

    A ``StopException`` (a ``BaseException``), so it passes through ``except Exception`` in
    core code and Streamlit ends the script quietly, as after ``st.stop()``.
    """


def session_alive() -> bool:
    """False once this script's browser session has disconnected (True outside a server)."""
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None or not runtime.exists():
        return True  # bare mode or AppTest: nobody to lose
    return runtime.get_instance().is_active_session(ctx.session_id)


def check_alive(*_: object) -> None:
    """Raise :class:`SessionGone` when the session has gone (usable as a progress callback)."""
    if not session_alive():
        raise SessionGone("the browser session that started this work has closed")
