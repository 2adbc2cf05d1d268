"""A real PostgreSQL server going away mid-session and coming back (issue 22, item 3).

The app reaches the test server through a small TCP relay; stopping the relay closes every
connection and refuses new ones, as a server that went down does. Runs only where a test
server exists (``GLASSBOX_TEST_POSTGRES_URL``, started by ``.ci/start-postgres.sh``; CI).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from streamlit.testing.v1 import AppTest

import ui.shell
from core.store import open_database
from core.tokenization import save_tokenizer_run
from core.tokenization.bpe import train_bpe
from tests.conftest import POSTGRES_ENV, _reset_postgres, missing_service

ROOT = Path(__file__).resolve().parents[2]


class Relay:
    """127.0.0.1:<port> -> the PostgreSQL server; ``stop()`` drops everything."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.start()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        assert self.listener is not None
        # shutdown() first: close() alone leaves a socket that accept() blocks on listening.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.sockets = []


@pytest.fixture
def relayed_postgres(monkeypatch):
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        missing_service(f"this test needs a PostgreSQL server ({POSTGRES_ENV})")
    _reset_postgres(url).dispose()
    parsed = make_url(url)
    relay = Relay(parsed.host or "127.0.0.1", parsed.port or 5432)
    relayed = parsed.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    monkeypatch.setenv("GLASSBOX_DATABASE_URL", relayed)
    ui.shell.refresh_store_lists()
    yield relay
    relay.stop()
    ui.shell.refresh_store_lists()


def _labels(at: AppTest) -> list[str]:
    menu = next(s for s in at.sidebar.selectbox if s.label == "Tokenizer")
    return [menu.format_func(o) for o in menu.options]


def test_postgres_going_down_and_coming_back(relayed_postgres):
    with open_database().begin() as s:
        run_id = save_tokenizer_run(s, train_bpe("low lower lowest " * 20, 260, name="pg-bpe"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert any(f"run {run_id}" in label for label in _labels(at))

    relayed_postgres.stop()
    ui.shell.refresh_store_lists()
    at.run()
    assert not at.exception, at.exception
    assert any("run store is not answering" in w.value for w in at.sidebar.warning)
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    assert any("Could not read the run list" in e.value for e in at.error)

    relayed_postgres.start()  # the server is back on the same address
    ui.shell.refresh_store_lists()
    at.switch_page("pages/home.py").run()
    assert not at.exception
    assert not any("not answering" in w.value for w in at.sidebar.warning)
    assert any(f"run {run_id}" in label for label in _labels(at))
