"""Attention maps benchmark: compute time and browser payload for 128 tokens, and the page.

1. Core, per model (the built-in GPT; SmolLM2 when its file is present): the time to read
   a 128-token text and capture and measure every head (``core.attention.view.analyse``),
   the induction probe, and the model view figure (one image per page of layers): build
   time and the bytes of its JSON (what Streamlit sends to the browser) for one page of
   8 layers and for every layer on one page. Goal: SmolLM2's model view <= 2 MB.
2. Browser (``--browser``): a real ``streamlit run app.py`` and headless Chromium; the time
   from submitting a 128-token text until the model view's image is shown, and from
   clicking a head in it until that head's map is shown. Goals: built-in model <= 1.5 s,
   SmolLM2 <= 3 s.

    python -m bench.bench_attention
    python -m bench.bench_attention --browser --repeat 3
    GLASSBOX_HOME=/path/with/models python -m bench.bench_attention --browser

SmolLM2 is measured when ``$GLASSBOX_HOME/models`` holds its file (``python -m core.models
get smollm2``); the browser part's server uses the same ``$GLASSBOX_HOME`` folder for its
models and a throwaway database.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time

import torch

from bench.common import SCRIPT_IDLE_JS, machine, print_table
from core import registry
from core.attention import run_induction_probe
from core.attention.view import analyse, page_layers
from core.helpformat import HelpFormatter
from core.viz.attention import model_view_figure
from ui.server import start_streamlit, stop_streamlit

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]  # fmt: skip
PARAGRAPH = (
    "The attention layer lets every token look back at the tokens before it. Each head "
    "computes a query for the current token and a key for every earlier one; the softmax "
    "of their scaled products says how much of each earlier value it reads. Some heads "
    "look at the previous token, some at the first one, and induction heads copy what "
    "followed an earlier occurrence of the current token. "
)
N_TOKENS = 128


def text_of(loaded, n_tokens: int = N_TOKENS) -> str:
    """A text that this model's tokenizer reads as ``n_tokens`` tokens (start token included)."""
    start = getattr(loaded.config, "start_token", None) is not None
    ids = loaded.tokenizer.encode(PARAGRAPH * 8)[: n_tokens - start]
    return loaded.tokenizer.decode(ids)


def model_ids() -> list[str]:
    ids = [registry.BUILTIN_ID]
    if registry.smollm2_present():
        ids.append(registry.SMOLLM2_ID)
    return ids


def core_rows(repeat: int) -> list[list[object]]:
    rows = []
    for model_id in model_ids():
        loaded = registry.load_model(model_id)
        text = text_of(loaded)
        analysis = None
        times = []
        for _ in range(repeat + 1):
            start = time.perf_counter()
            analysis = analyse(loaded.model, loaded.tokenizer, text, model_id=model_id)
            times.append(time.perf_counter() - start)
        lay = analysis.layout
        shape = f"{model_id} ({lay.n_layer}×{lay.n_head}, {analysis.n_tokens} tokens)"
        rows.append(
            [shape, "capture + statistics", f"{statistics.median(times[1:]) * 1000:.0f} ms", ""]
        )
        start = time.perf_counter()
        probe = run_induction_probe(loaded.model, seed=0)
        rows.append([shape, f"induction probe ({2 * probe.length} tokens)",
                     f"{(time.perf_counter() - start) * 1000:.0f} ms", ""])  # fmt: skip
        model_view_figure(analysis.attn, [0]).to_json()  # warm-up: plotly's first figure
        for per_page in sorted({min(8, lay.n_layer), lay.n_layer}):
            layers = list(page_layers(lay.n_layer, per_page, 0))
            start = time.perf_counter()
            payload = len(model_view_figure(analysis.attn, layers).to_json().encode("utf-8"))
            built = time.perf_counter() - start
            rows.append([shape, f"model view, {len(layers)} layers on a page: build",
                         f"{built * 1000:.0f} ms", f"{payload / 1e6:.2f} MB"])  # fmt: skip
    return rows


def browser_rows(repeat: int) -> list[list[object]]:
    from playwright.sync_api import sync_playwright

    db = tempfile.mkdtemp(prefix="glassbox-bench-")
    server, base = start_streamlit("app.py", {"GLASSBOX_DATABASE_URL": f"sqlite:///{db}/g.db"})
    idle = SCRIPT_IDLE_JS
    rows = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for model_id in model_ids():
                loaded = registry.load_model(model_id)
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                page.set_default_timeout(180_000)
                shown, opened = [], []
                for i in range(repeat + 1):  # a fresh session each time: no state carried over
                    page.goto(f"{base}/attention?text=+")  # blank: an error, no map
                    page.get_by_text("only whitespace").first.wait_for()
                    page.wait_for_function(idle)
                    if model_id != registry.BUILTIN_ID:
                        sidebar = page.locator('[data-testid="stSidebar"]')
                        sidebar.locator('[data-testid="stSelectbox"]').first.click()
                        page.get_by_role("option", name=loaded.entry.label).click()
                        page.wait_for_function(idle)
                    box = page.get_by_role("textbox", name="Text")
                    box.fill(text_of(loaded) + " " * (i % 2))
                    start = time.perf_counter()
                    box.press("Control+Enter")
                    page.wait_for_function(
                        "() => !!document.querySelector('[data-testid=\"stPlotlyChart\"] image')",
                        polling=10,
                    )
                    shown.append(time.perf_counter() - start)
                    page.wait_for_function(idle)
                    markers = page.locator('[data-testid="stPlotlyChart"] .scatterlayer .point')
                    start = time.perf_counter()
                    markers.nth(1 + i).click(force=True)
                    page.locator('[data-testid="stPlotlyChart"] .heatmaplayer').first.wait_for()
                    opened.append(time.perf_counter() - start)
                    page.wait_for_function(idle)
                caption = page.get_by_text(re.compile(r"Text: \d+ tokens")).first.inner_text()
                n = re.search(r"Text: (\d+) tokens", caption).group(1)
                label = f"{model_id} ({n} tokens)"
                rows.append([label, "text submitted → model view shown",
                             f"{statistics.median(shown[1:]):.2f} s", len(shown) - 1])  # fmt: skip
                rows.append([label, "head clicked → its map shown",
                             f"{statistics.median(opened[1:]):.2f} s", len(opened) - 1])  # fmt: skip
                page.close()
            browser.close()
    finally:
        stop_streamlit(server)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_attention", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (medians)")
    parser.add_argument("--browser", action="store_true", help="also time the page in Chromium")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    print(machine())
    print_table(
        "Attention maps: compute and payload (goal: SmolLM2 model view <= 2 MB)",
        ["model", "step", "time", "payload"],
        core_rows(args.repeat),
    )
    if args.browser:
        print_table(
            "Attention maps in Chromium (goals: built-in <= 1.5 s, SmolLM2 <= 3 s)",
            ["model", "measured", "median", "runs"],
            browser_rows(args.repeat),
        )


if __name__ == "__main__":
    main()
