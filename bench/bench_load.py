"""Benchmark: N concurrent browser sessions on one server, each doing a page's heavy action.

``streamlit run app.py`` on a free port with its own ``GLASSBOX_HOME`` (SQLite), driven by
Playwright in Debian's headless Chromium: N pages at once (one browser context each),
round-robin over four actions — the mix of issue 22's probe:

* **sample**: Sampling, Run N = 5 tokens, then save the trajectory;
* **compare**: Tokenization, Compare view of a paragraph in three encodings;
* **pool**: GPU pool, a batch run of 8 models on 4 GPUs for 120 s, then Save this run;
* **bpe**: Tokenization, BPE lab, train 1,024 ids on the built-in corpus, then save.

For each action: *load* is the wall time from opening the page to its script having finished,
*action* from the click to the result (and the save) being on screen. Prints p50/p95 per
action, errors, and the server's resident memory at the end (the model is loaded once).

The browser runs on the same machine as the server, so the table also says where the CPU
went during the timed part: CPU seconds of the server process and of Chromium (all its
processes), and the load average before and after. Each session is a browser context of its
own (a fresh visitor: no shared cache); ``--tabs`` opens them as tabs of one context instead
(one visitor with many tabs: the browser's HTTP and compiled-script caches are shared, still
one Streamlit session per tab), which costs the browser less.

``--solo`` first measures each action alone (one session, nothing else running in the
browser), twice: wall time, CPU seconds of the server and of Chromium, and what the server
sent over the page's websocket (messages and kB, load and action apart) — what one action
costs, before any concurrency.

``--protocol`` runs the same four actions as websocket sessions without a browser
(``bench/protocol.py``: Streamlit's own messages, nothing drawn): the server's work alone,
as in a room where every user's browser runs on their own machine.

Usage: ``python -m bench.bench_load [--sessions 4,10,20] [--tabs] [--solo] [--protocol]``; a quick check
on a shared machine: ``--sessions 5`` (about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from bench.common import machine, print_table
from core.helpformat import HelpFormatter
from ui.server import start_streamlit, stop_streamlit

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
TEXT = quote("Glassbox makes a GPT visible: tokens, sampling, and a GPU pool. " * 4)
TIMEOUT_MS = 300_000
ACTIONS = ("sample", "compare", "pool", "bpe")
VIEWPORT = {"width": 1400, "height": 1000}


async def _ready(page) -> None:
    await page.wait_for_selector('[data-testid="stMain"]', state="attached")
    await page.wait_for_function(
        """() => { const w = document.querySelector('[data-testid="stStatusWidget"]');
                   return !w || !/Running|Connecting/i.test(w.innerText); }"""
    )


async def _done(page, text: str) -> None:
    """Wait for ``text``, or fail at once with the page's error message if one shows."""
    error = page.locator('[data-testid="stAlert"]').filter(has_text="Could not")
    await page.get_by_text(text).first.or_(error.first).wait_for()
    if await error.count():
        raise RuntimeError((await error.first.inner_text())[:200])


async def _sample(page) -> None:
    await page.get_by_role("button", name="Run N").click()
    await page.get_by_text("5 tokens in").first.wait_for()
    await page.get_by_text("Save or open a trajectory").click()
    await page.get_by_role("button", name="Save this trajectory as a run").click()
    await _done(page, "Saved as run #")


async def _compare(page) -> None:
    await page.get_by_text("A red bar marks").first.wait_for()


async def _pool(page) -> None:
    await page.get_by_role("button", name="Run in batch mode").click()
    await page.get_by_text("Batch result").first.wait_for()
    await page.get_by_role("button", name="Save this run").click()  # saved on request
    await _done(page, "Saved as run #")


async def _bpe(page) -> None:
    await page.get_by_role("button", name="Train tokenizer").click()
    await page.get_by_text("Learned").first.wait_for()
    await page.get_by_role("button", name="Save as a run").click()
    await _done(page, "Saved as run")


PATHS = {
    "sample": ("sampling?n=5", _sample),
    "compare": (f"tokenization?view=Compare&cmp=gpt2,cl100k_base,o200k_base&text={TEXT}", _compare),
    "pool": ("pool?view=Live&preset=paper-40x0.1&models=8&duration=120&gpus=4", _pool),
    "bpe": ("tokenization?view=BPE%20lab", _bpe),
}


class _Frames:
    """Count the websocket frames (messages) the server sends a page, and their bytes."""

    def __init__(self, page) -> None:
        self.n, self.bytes = 0, 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._count))

    def _count(self, payload) -> None:
        self.n, self.bytes = self.n + 1, self.bytes + len(payload)


async def _session(
    browser, url: str, action: str, out: dict, shared=None, frames: list | None = None
) -> None:
    """One session: a page in a context of its own, or a tab of ``shared`` (``--tabs``).

    With ``frames`` (a list), the websocket traffic of the load and of the action is appended
    to it as ``(messages, bytes)`` pairs.
    """
    context = shared or await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    counter = _Frames(page) if frames is not None else None
    path, act = PATHS[action]
    try:
        start = time.perf_counter()
        await page.goto(f"{url}/{path}")
        await _ready(page)
        loaded = time.perf_counter()
        at_load = (counter.n, counter.bytes) if counter else (0, 0)
        await act(page)
        done = time.perf_counter()
        if counter is not None and frames is not None:
            frames += [at_load, (counter.n - at_load[0], counter.bytes - at_load[1])]
        if await page.locator('[data-testid="stException"]').count():
            raise RuntimeError("Streamlit exception on the page")
        out.setdefault(action, []).append((loaded - start, done - loaded))
    except Exception as exc:  # a failed session is counted, not fatal to the benchmark
        out.setdefault("errors", []).append(f"{action}: {type(exc).__name__}: {exc}"[:300])
    finally:
        await (page.close() if shared else context.close())


# --protocol: the same four actions as websocket sessions without a browser (bench/protocol.py)
PROTOCOL = {
    "sample": ("sampling", "n=5", [("Run N", "5 tokens in"),
                                   ("Save this trajectory as a run", "Saved as run #")]),
    "compare": ("tokenization", PATHS["compare"][0].split("?", 1)[1], [(None, "A red bar marks")]),
    "pool": ("pool", PATHS["pool"][0].split("?", 1)[1], [("Run in batch mode", "Batch result"),
                                                         ("Save this run", "Saved as run #")]),
    "bpe": ("tokenization", "view=BPE%20lab", [("Train tokenizer", "Learned"),
                                               ("Save as a run", "Saved as run")]),
}  # fmt: skip


async def _protocol_session(url: str, action: str, out: dict) -> None:
    """One session as a websocket client: open the page, then click and wait, step by step."""
    from bench.protocol import ProtocolSession

    page, query, steps = PROTOCOL[action]
    try:
        async with ProtocolSession(url) as session:
            start = time.perf_counter()
            await session.open(page, query, timeout=TIMEOUT_MS / 1000)
            loaded = time.perf_counter()
            for label, text in steps:
                if label is not None:
                    await session.click(label)
                await session.until(text, timeout=TIMEOUT_MS / 1000)
            done = time.perf_counter()
            if any("stException" in s or "exception {" in s for s in session.seen):
                raise RuntimeError("Streamlit exception on the page")
        out.setdefault(action, []).append((loaded - start, done - loaded))
    except Exception as exc:  # a failed session is counted, not fatal to the benchmark
        out.setdefault("errors", []).append(f"{action}: {type(exc).__name__}: {exc}"[:300])


async def _run_protocol(url: str, n: int, server_pid: int) -> dict:
    out: dict = {}
    await _protocol_session(url, "sample", {})  # load the model and caches once, untimed
    out["loadavg"] = [os.getloadavg()[0]]
    cpu = _cpu_s(server_pid), _cpu_s(os.getpid())
    start = time.perf_counter()
    await asyncio.gather(
        *(_protocol_session(url, ACTIONS[i % len(ACTIONS)], out) for i in range(n))
    )
    out["wall"] = time.perf_counter() - start
    out["cpu"] = _cpu_s(server_pid) - cpu[0], _cpu_s(os.getpid()) - cpu[1]
    out["loadavg"].append(os.getloadavg()[0])
    return out


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state is field 0)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def _cpu_s(pid: int, children: bool = False) -> float:
    """CPU seconds of a process (all its threads); with ``children``, plus reaped children."""
    try:
        f = _stat(pid)
    except (OSError, ValueError):
        return 0.0
    ticks = sum(int(x) for x in f[11 : 15 if children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def _browser_cpu_s() -> float:
    """CPU seconds of every Chromium process under this one (exited ones via their reaper)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int(_stat(int(d.name))[1])
            except (OSError, ValueError, IndexError):
                continue
    me, total = os.getpid(), 0.0
    for pid in parent:
        up, seen = parent.get(pid), 0
        while up and up != me and seen < 64:
            up, seen = parent.get(up), seen + 1
        if up == me:
            try:
                if "chrom" in Path(f"/proc/{pid}/comm").read_text():
                    total += _cpu_s(pid, children=True)
            except OSError:
                continue
    return total


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _p(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def _solo(url: str, server_pid: int, repeats: int = 2) -> list[list]:
    """Each action alone, ``repeats`` times: its times, CPU seconds and websocket traffic."""
    from playwright.async_api import async_playwright

    rows = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        warm = await browser.new_context()
        page = await warm.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        await page.goto(f"{url}/sampling")
        await page.get_by_role("button", name="Run N").wait_for()  # the warm-up is over
        await warm.close()
        for action in ACTIONS:
            for _ in range(repeats):
                out: dict = {}
                frames: list = []
                load = os.getloadavg()[0]
                cpu = _cpu_s(server_pid), _browser_cpu_s()
                await _session(browser, url, action, out, frames=frames)
                server, chromium = _cpu_s(server_pid) - cpu[0], _browser_cpu_s() - cpu[1]
                if out.get("errors"):
                    rows.append([action, "error: " + out["errors"][0]] + [""] * 6)
                    continue
                ((t_load, t_act),) = out[action]
                (m_load, b_load), (m_act, b_act) = frames
                rows.append([action, f"{load:.1f}", f"{t_load:.1f}", f"{t_act:.1f}",
                             f"{server:.2f}", f"{chromium:.2f}", f"{m_load} / {m_act}",
                             f"{b_load / 1e3:.0f} / {b_act / 1e3:.0f}"])  # fmt: skip
        await browser.close()
    return rows


async def _run(url: str, n: int, server_pid: int, tabs: bool) -> dict:
    from playwright.async_api import async_playwright

    out: dict = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        warm = await browser.new_context()  # load the model and caches once, untimed
        page = await warm.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        await page.goto(f"{url}/sampling")
        await page.get_by_role("button", name="Run N").wait_for()  # the warm-up is over
        await warm.close()
        shared = await browser.new_context(viewport=VIEWPORT) if tabs else None
        out["loadavg"] = [os.getloadavg()[0]]
        cpu = _cpu_s(server_pid), _browser_cpu_s()
        start = time.perf_counter()
        await asyncio.gather(
            *(_session(browser, url, ACTIONS[i % len(ACTIONS)], out, shared) for i in range(n))
        )
        out["wall"] = time.perf_counter() - start
        out["cpu"] = _cpu_s(server_pid) - cpu[0], _browser_cpu_s() - cpu[1]
        out["loadavg"].append(os.getloadavg()[0])
        await browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_load", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("--sessions", default="4,10,20", help="comma-separated N")
    parser.add_argument(
        "--tabs", action="store_true", help="sessions as tabs of one browser context"
    )
    parser.add_argument(
        "--solo", action="store_true", help="first, each action alone (cost per action)"
    )
    parser.add_argument(
        "--protocol",
        action="store_true",
        help="sessions as websocket clients without a browser (bench/protocol.py): the "
        "server's share, as if its users' browsers ran on their own machines",
    )
    args = parser.parse_args()
    print(machine(), flush=True)
    if args.solo:
        with tempfile.TemporaryDirectory() as home:
            env = {"GLASSBOX_HOME": home, "GLASSBOX_DATABASE_URL": f"sqlite:///{home}/glassbox.db"}
            proc, url = start_streamlit("app.py", env, Path(home) / "streamlit.log")
            try:
                rows = asyncio.run(_solo(url, proc.pid))
            finally:
                stop_streamlit(proc)
        print_table(
            "Each action alone, one session (seconds; CPU-s of the load and action together)",
            [
                "action",
                "load avg",
                "load",
                "action",
                "server CPU",
                "Chromium CPU",
                "ws messages load / action",
                "ws kB load / action",
            ],  # fmt: skip
            rows,
        )
        sys.stdout.flush()
    for n in [int(x) for x in args.sessions.split(",") if x]:
        rows = []
        with tempfile.TemporaryDirectory() as home:
            env = {"GLASSBOX_HOME": home, "GLASSBOX_DATABASE_URL": f"sqlite:///{home}/glassbox.db"}
            proc, url = start_streamlit("app.py", env, Path(home) / "streamlit.log")
            try:
                out = asyncio.run(
                    _run_protocol(url, n, proc.pid)
                    if args.protocol
                    else _run(url, n, proc.pid, args.tabs)
                )
                rss = _rss_mb(proc.pid)
            finally:
                stop_streamlit(proc)
        errors = out.get("errors", [])
        for e in errors:
            print("error:", e)
        for action in ACTIONS:
            times = out.get(action, [])
            if not times:
                continue
            loads, acts = [t[0] for t in times], [t[1] for t in times]
            rows.append([n, action, len(times), f"{_p(loads, 50):.1f}", f"{_p(loads, 95):.1f}",
                         f"{_p(acts, 50):.1f}", f"{_p(acts, 95):.1f}", len(errors),
                         f"{out['wall']:.0f}", f"{rss:.0f}"])  # fmt: skip
        server_cpu, browser_cpu = out["cpu"]
        kind = "websocket (no browser)" if args.protocol else "browser"
        kind += " (tabs of one context)" if args.tabs and not args.protocol else ""
        client = "the clients" if args.protocol else "Chromium"
        print_table(  # one table per N, printed as soon as it is measured
            f"{n} concurrent {kind} sessions"
            f" (seconds); CPU in the timed part: server {server_cpu:.0f} s, {client} "
            f"{browser_cpu:.0f} s; load average {out['loadavg'][0]:.1f} -> "
            f"{out['loadavg'][1]:.1f}",
            [
                "N",
                "action",
                "done",
                "load p50",
                "load p95",
                "action p50",
                "action p95",
                "errors",
                "wall",
                "server MB",
            ],  # fmt: skip
            rows,
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
