"""Start and stop a ``streamlit run`` server on a free loopback port (e2e tests, benchmarks).

Not used by the app itself: it is how tests and ``bench/`` drive the real server process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class ServerStartError(RuntimeError):
    """The server exited or did not answer its health check in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_streamlit(
    script: str, env: dict[str, str], log_path: Path | None = None, timeout_s: float = 90
) -> tuple[subprocess.Popen, str]:
    """Run ``streamlit run script`` headless from the repository root; return (process, URL).

    ``env`` is added to this process's environment. Output goes to ``log_path`` (or nowhere).
    Raises :class:`ServerStartError`, with the log's tail, if the server is not healthy within
    ``timeout_s``. Stop it with :func:`stop_streamlit`.
    """
    port = free_port()
    log = log_path.open("w") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script,
         "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    proc.log = log
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_streamlit(proc)
            tail = log_path.read_text()[-3000:] if log_path else ""
            raise ServerStartError(f"streamlit did not start:\n{tail}")
        time.sleep(0.3)  # polling a starting server, not timing the app


def stop_streamlit(proc: subprocess.Popen) -> None:
    """Terminate a server from :func:`start_streamlit` (kill it after 15 s) and close its log."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    if proc.log is not subprocess.DEVNULL:
        proc.log.close()
