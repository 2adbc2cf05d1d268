"""Sampling benchmark: core step latency with the built-in model, and the browser round trip.

1. Core: median latency of one `Sampler.step()` (forward pass + processors + step record)
   with the registry's default model (the built-in one), with and without the KV cache, and
   the part of it spent in the model's forward pass. Goal: median <= 10 ms with the cache.
2. Browser: a real ``streamlit run app.py`` and headless Chromium; the time from clicking
   "Next token" until the new step's heading is shown, and until the script run is over.
   Goal: median <= 400 ms.

    python -m bench.bench_sampling                      # both parts
    python -m bench.bench_sampling --skip-browser --steps 200 --threads 1
    OMP_WAIT_POLICY=ACTIVE python -m bench.bench_sampling    # OpenMP's spinning threads

On a busy machine (more runnable processes than cores) OpenMP's spinning worker threads
steal the cores that the next small operation needs: with OpenMP's default policy the step
latency was 60x higher here; ``OMP_WAIT_POLICY=PASSIVE`` (set before torch is imported, as
``bench/__init__.py`` and ``core/__init__.py`` do unless the variable is set) or
``--threads 1`` avoids it. ``--model-id run:3`` benchmarks another model of the registry.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time

import torch

from bench.common import SCRIPT_IDLE_JS, print_table
from core import registry
from core.helpformat import HelpFormatter
from core.sampling import Sampler, SamplingConfig
from ui.server import start_streamlit, stop_streamlit

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]  # fmt: skip
PROMPT = "The Python language reference says that"
CONFIG = SamplingConfig(temperature=0.8, top_k=50, top_p=0.95, seed=0, stop_at_eos=False)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def core_latency(model_id: str | None, steps: int) -> list[list[object]]:
    """Rows: mode, steps, median / p90 step latency, median forward, tokens identical."""
    model_id = model_id or registry.default_model_id()
    if model_id is None:
        raise SystemExit("no model in the registry: train the built-in model first")
    loaded = registry.load_model(model_id)
    cfg = loaded.model.config
    steps = min(steps, cfg.context_length - 16)  # stay inside the context: no sliding window
    rows, tokens = [], {}
    for use_cache in (True, False):
        warm = Sampler(loaded.model, loaded.tokenizer, PROMPT, CONFIG, use_cache=use_cache)
        warm.run(5)
        sampler = Sampler(loaded.model, loaded.tokenizer, PROMPT, CONFIG, use_cache=use_cache)
        sampler.run(steps)
        decode = sampler.records[1:]  # step 1 also reads the prompt
        latency = [r.latency_ms for r in decode]
        tokens[use_cache] = sampler.token_ids
        rows.append([
            f"{model_id} ({cfg.n_layer}L, d={cfg.n_embd}, ctx {cfg.context_length}), "
            f"{'KV cache' if use_cache else 'no cache'}",
            len(decode),
            statistics.median(latency),
            _pct(latency, 0.9),
            statistics.median(r.forward_ms for r in decode),
            sampler.records[0].latency_ms,
        ])  # fmt: skip
    same = tokens[True] == tokens[False]
    for row in rows:
        row.append("yes" if same else "NO")
    return rows


def _page_target() -> tuple[str, str]:
    """(script, url path): app.py + the page's path once registered, else the page alone."""
    try:
        from ui.nav import PAGES

        for spec in PAGES:
            if spec.path == "pages/sampling.py":
                return "app.py", spec.url_path
    except ImportError:
        pass
    return "pages/sampling.py", ""


def browser_round_trip(clicks: int) -> list[list[object]]:
    from playwright.sync_api import sync_playwright

    script, url_path = _page_target()
    home = tempfile.mkdtemp(prefix="glassbox-bench-")
    env = {"GLASSBOX_HOME": home, "GLASSBOX_DATABASE_URL": f"sqlite:///{home}/glassbox.db"}
    server, base = start_streamlit(script, env)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(f"{base}/{url_path}?prompt=The+Python+language&seed=1&stop_at_eos=0")
            button = page.get_by_role("button", name="Next token", exact=True)
            button.wait_for()
            shown, done = [], []
            for step in range(1, clicks + 2):
                page.wait_for_function(SCRIPT_IDLE_JS)
                start = time.perf_counter()
                button.click()
                page.get_by_role("heading", name=re.compile(f"^Step {step}:")).wait_for()
                shown.append((time.perf_counter() - start) * 1000)
                page.wait_for_function(SCRIPT_IDLE_JS, polling=10)
                done.append((time.perf_counter() - start) * 1000)
            browser.close()
    finally:
        stop_streamlit(server)
    shown, done = shown[1:], done[1:]  # the first click also loads the model
    return [
        [f"new step shown ({script})", len(shown), statistics.median(shown), _pct(shown, 0.9)],
        [f"script run finished ({script})", len(done), statistics.median(done), _pct(done, 0.9)],
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_sampling", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("--model-id", default=None, help="registry id (default: the default)")
    parser.add_argument("--steps", type=int, default=100, help="core steps per mode")
    parser.add_argument("--clicks", type=int, default=20, help="Next-token clicks timed")
    parser.add_argument("--skip-browser", action="store_true", help="time the core part only")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (core part)")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    if args.threads:
        torch.set_num_threads(args.threads)
    omp = f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}"
    print_table(
        f"Sampling: core step latency (goal: median <= 10 ms with the KV cache), {omp}",
        ["model, mode", "steps", "median ms", "p90 ms", "median forward ms",
         "first step ms (prompt)", "same tokens"],
        core_latency(args.model_id, args.steps),
    )  # fmt: skip
    if not args.skip_browser:
        print_table(
            f"Sampling: browser round trip of Next token (goal: median <= 400 ms), {omp}",
            ["measured until", "clicks", "median ms", "p90 ms"],
            browser_round_trip(args.clicks),
        )


if __name__ == "__main__":
    main()
