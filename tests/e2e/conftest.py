"""Playwright fixtures: a real ``streamlit run app.py`` and headless Debian Chromium.

``app_url`` starts the app once per test session on a free port with its own
``GLASSBOX_HOME`` (SQLite there; ``app_db_url`` lets a test seed it). ``page`` is a fresh
browser page that records console errors, failed responses, any dialog (alert, confirm,
prompt: only injected script would open one) and any request to ``example.invalid`` (where
the hostile-input tests point their links and images); every test fails if any appeared, except the two harmless 404s Streamlit's frontend makes when a page is opened by
its own URL (``<page>/_stcore/health`` and ``<page>/_stcore/host-config``).

Without /usr/bin/chromium these tests skip with a message (a developer laptop); with
``GLASSBOX_REQUIRE_SERVICES=1`` (CI) they fail instead.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import missing_service
from ui.server import ServerStartError, start_streamlit, stop_streamlit

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
# Streamlit probes these under a page's own path before it finds the server root.
_HARMLESS_404 = re.compile(r"/[^/]+/_stcore/(health|host-config)$")


@pytest.fixture(scope="session")
def app_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e-home")


@pytest.fixture(scope="session")
def app_db_url(app_home) -> str:
    return f"sqlite:///{app_home / 'glassbox.db'}"


def start_app(app_home: Path, app_db_url: str) -> tuple[subprocess.Popen, str]:
    """Start ``streamlit run app.py`` on a free port; return the process and its URL."""
    env = {"GLASSBOX_HOME": str(app_home), "GLASSBOX_DATABASE_URL": app_db_url}
    try:
        return start_streamlit("app.py", env, app_home / "streamlit.log")
    except ServerStartError as exc:
        pytest.fail(str(exc))


stop_app = stop_streamlit


@pytest.fixture(scope="session")
def app_url(app_home, app_db_url) -> Iterator[str]:
    proc, url = start_app(app_home, app_db_url)
    yield url
    stop_app(proc)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        missing_service(
            f"{CHROMIUM} not found: install Debian's chromium package "
            "(apt-get install chromium) to run the browser tests"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def watch_for_problems(page) -> list[str]:
    """Record on ``page`` what must never happen (a console error, a failed response, a
    dialog, a request to ``example.invalid``, an uncaught page error); return the list, also
    kept as ``page.problems``."""
    problems: list[str] = []

    def on_console(msg):
        if msg.type != "error":
            return
        location = (msg.location or {}).get("url", "")
        if "Failed to load resource" in msg.text and _HARMLESS_404.search(location.split("?")[0]):
            return
        problems.append(f"console error: {msg.text} ({location})")

    def on_response(response):
        path = response.url.split("?")[0]
        if response.status >= 400 and not _HARMLESS_404.search(path):
            problems.append(f"HTTP {response.status} for {response.url}")

    def on_dialog(dialog):  # alert/confirm/prompt: only injected script would open one
        problems.append(f"dialog opened: {dialog.type} {dialog.message!r}")
        dialog.dismiss()

    def on_request(request):  # the hostile-input tests point links and images here
        if (urlsplit(request.url).hostname or "").endswith("example.invalid"):
            problems.append(f"request to a hostile address: {request.url}")

    page.on("dialog", on_dialog)
    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on("response", on_response)
    page.problems = problems
    return problems


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    problems = watch_for_problems(page)
    page.set_default_timeout(60_000)
    yield page
    context.close()
    assert problems == [], "browser reported problems:\n" + "\n".join(problems)


def wait_for_link(page, *parts: str, timeout: float = 60_000) -> None:
    """Wait until the page's address holds every one of ``parts``.

    Streamlit writes ``st.query_params`` to the address bar from a message of its own, which
    can land just after the run's last delta: reading ``page.url`` as soon as the script has
    finished races with it (seen once in CI on two workers).
    """
    page.wait_for_function(
        "parts => parts.every(p => window.location.href.includes(p))", arg=list(parts),
        timeout=timeout,
    )  # fmt: skip


def wait_for_app(page) -> None:
    """Wait until Streamlit has rendered the page and finished running its script.

    Streamlit's frontend writes the script's state on its root element
    (``data-test-script-state``: ``initial`` before the first run reaches it, ``running``,
    ``rerunRequested``, ``notRunning`` once a run's last message is in) and its connection's
    (``data-test-connection-state``); React has applied every delta of the run by the time
    the state reads ``notRunning``. Two animation frames after that, the result is painted.
    """
    page.wait_for_selector('[data-testid="stAppViewContainer"]', state="attached")
    page.wait_for_selector('[data-testid="stMain"]', state="attached")
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return !!app && app.dataset.testScriptState === 'notRunning'
                && app.dataset.testConnectionState === 'CONNECTED';
        }"""
    )
    page.evaluate(
        "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )


def open_app_page(page, app_url: str, url_path: str = "") -> None:
    page.goto(f"{app_url}/{url_path}")
    wait_for_app(page)


def assert_no_streamlit_exception(page) -> None:
    boxes = page.locator('[data-testid="stException"]')
    if boxes.count():
        pytest.fail("Streamlit exception on the page:\n" + boxes.first.inner_text()[:2000])


class ServerMessages:
    """What the server sent a page over its websocket, decoded (Streamlit's ForwardMsg).

    ``since(mark)`` lists the messages after ``len(messages)`` was ``mark`` by kind; a
    delta (something drawn) is ``element:<type>`` or ``block``, followed by ``@page`` when it
    belongs to a whole-page script run rather than to a fragment's rerun.
    """

    def __init__(self, page) -> None:
        self.messages: list[bytes] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._received))

    def _received(self, payload) -> None:
        if isinstance(payload, bytes):
            self.messages.append(payload)

    def since(self, mark: int) -> list[str]:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        kinds = []
        for data in self.messages[mark:]:
            msg = ForwardMsg.FromString(data)
            kind = msg.WhichOneof("type")
            if kind == "delta":
                delta = msg.delta
                kind = delta.WhichOneof("type") or "delta"
                if kind == "new_element":
                    kind = f"element:{delta.new_element.WhichOneof('type')}"
                kind += "" if delta.fragment_id else "@page"
            kinds.append(kind)
        return kinds
