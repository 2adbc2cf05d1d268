"""Four browser sessions at once, each starting a heavy action (the small version of
``bench/bench_load.py``): every one finishes, with no error, while the others run.

Heavy actions share a pool of two workers (``ui/jobs.py``), so two of the four wait in line;
all four must still get their result. No timing is asserted (the benchmark measures it).
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import CHROMIUM_ARGS, assert_no_streamlit_exception, wait_for_app

pytestmark = pytest.mark.e2e

SESSIONS = {
    "sample": ("sampling?n=5", "Run N", "5 tokens in"),
    "pool": ("pool?view=Live&preset=paper-40x0.1&models=8&duration=120&gpus=4", "Run in batch mode",
             "Batch result"),
    "bpe": ("tokenization?view=BPE%20lab", "Train tokenizer", "Learned"),
    "sweep": ("pool?preset=paper-40x0.1&models=8&duration=60&gpus=4&view=Sweep&sw_n=2",
              "Run sweep", "goodput"),
}  # fmt: skip


def test_four_sessions_each_get_their_heavy_action_done(browser, app_url):
    assert CHROMIUM_ARGS  # the same browser the other tests use (session fixture)
    contexts, pages, problems = [], {}, []
    try:
        for name, (path, _, _) in SESSIONS.items():
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(180_000)
            page.on("pageerror", lambda err, n=name: problems.append(f"{n}: {err}"))
            page.on("dialog", lambda d, n=name: (problems.append(f"{n}: dialog"), d.dismiss()))
            page.goto(f"{app_url}/{path}")
            contexts.append(context)
            pages[name] = page
        for page in pages.values():
            wait_for_app(page)
        for name, page in pages.items():  # start all four before waiting for any
            page.get_by_role("button", name=SESSIONS[name][1]).click()
        for name, page in pages.items():
            page.get_by_text(SESSIONS[name][2]).first.wait_for()
            assert_no_streamlit_exception(page)
    finally:
        for context in contexts:
            context.close()
    assert problems == []


def test_websocket_sessions_without_a_browser_do_the_same_actions(app_url):
    """``bench_load --protocol``'s client (bench/protocol.py): eight sessions at once over
    Streamlit's websocket protocol, each action done and saved, as a browser would."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from bench.bench_load import ACTIONS, _protocol_session

    async def everyone() -> dict:
        out: dict = {}
        await asyncio.gather(*(_protocol_session(app_url, ACTIONS[i % 4], out) for i in range(8)))
        return out

    # a thread of its own: the session's sync Playwright holds this thread's event loop
    with ThreadPoolExecutor(1) as pool:
        out = pool.submit(asyncio.run, everyone()).result()
    assert out.get("errors") is None, out.get("errors")
    assert {a: len(out[a]) for a in ACTIONS} == {a: 2 for a in ACTIONS}
