"""Benchmark: the GPU-pool page's live view — time to first frame and frame rate.

Two measurements per scenario (a preset of ``core.pool.presets``):

* **browser**: ``streamlit run pages/pool.py`` on a free port, driven by Playwright in Debian's
  headless Chromium. *First frame* is the wall time from clicking "Start live run" until the
  Gantt chart and the "Sim time" tile are on screen; *frames/s* counts how often the tile
  changes in a ``--seconds`` window (the page asks for one frame every 0.5 s, so 2.0 is the
  ceiling); *sim s per s* is simulated time advanced per wall second (the speed slider's
  target is the preset's ``speed``).
* **server**: the same frame work in-process, without browser or websocket: advance the
  simulation by one frame (24 sampled steps), build the three live figures and serialise
  them to JSON as Streamlit does; the median milliseconds per frame.

Usage: ``python -m bench.bench_pool_live [--seconds 10] [--scenarios paper-40x0.1:10,...]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time

from bench.common import print_table
from core.helpformat import HelpFormatter
from core.pool import Simulation
from core.pool.live import LiveHistory
from core.pool.presets import preset
from core.pool.workload import measured_rates
from core.viz.pool_live import gantt_figure, live_series_figure, queue_figure
from ui.server import start_streamlit, stop_streamlit

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
FRAME_S = 0.5  # the page's frame interval (ui/pool_live.py FRAME_S)
# (preset, speed in simulated seconds per wall second)
SCENARIOS = (("paper-40x0.1", 10), ("alibaba-market", 10), ("theorem-3.1", 60))
_RECORD_JS = """(seconds) => new Promise((resolve) => {
    const read = () => {
        const m = [...document.querySelectorAll('[data-testid="stMetric"]')]
            .find(e => e.innerText.includes('Sim time'));
        return m ? m.querySelector('[data-testid="stMetricValue"]').innerText : null;
    };
    const seen = [[performance.now(), read()]];
    const timer = setInterval(() => {
        const v = read();
        if (v !== seen[seen.length - 1][1]) seen.push([performance.now(), v]);
    }, 10);
    setTimeout(() => { clearInterval(timer); resolve(seen); }, seconds * 1000);
})"""


def start_server(home: str) -> tuple[subprocess.Popen, str]:
    """The pool page alone, on a SQLite store in ``home``."""
    env = {"GLASSBOX_HOME": home, "GLASSBOX_DATABASE_URL": f"sqlite:///{home}/bench.db"}
    return start_streamlit("pages/pool.py", env)


def browser_rows(
    url: str, seconds: float, scenarios: dict[str, int]
) -> dict[str, tuple[float, float, float]]:
    """Per scenario: (first frame s, frames per s, simulated s per wall s)."""
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for name, speed in scenarios.items():
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(120_000)
            page.goto(f"{url}/?preset={name}&speed={speed}")
            start = page.get_by_role("button", name="Start live run")
            start.wait_for()
            page.wait_for_timeout(500)  # let the first script run settle
            t0 = time.perf_counter()
            start.click()
            page.locator(".js-plotly-plot").first.wait_for()
            page.get_by_text("Sim time").first.wait_for()
            first = time.perf_counter() - t0
            seen = page.evaluate(_RECORD_JS, seconds)
            page.close()
            times = [(t / 1000.0, float(v.split()[0])) for t, v in seen[1:] if v]
            fps = (len(times) - 1) / (times[-1][0] - times[0][0]) if len(times) > 2 else 0.0
            sim_rate = (times[-1][1] - times[0][1]) / (times[-1][0] - times[0][0]) if fps else 0.0
            out[name] = (first, fps, sim_rate)
    return out


def server_ms(name: str, speed: float, frames: int = 40) -> float:
    """Median ms to advance one frame and build + serialise the live figures, in-process."""
    sim = Simulation(preset(name).replace(record_events=True))
    events, snap = sim.advance(until=0.0)
    hist = LiveHistory()
    rates = measured_rates(sim.trace)
    hist.record(snap, events, rates)
    labels = [f"GPU {g.index} · {g.role}" for g in snap.gpus]
    index = {n: i for i, n in enumerate(sim.trace.model_names)}
    out = []
    for _ in range(frames):
        t0 = time.perf_counter()
        snap = hist.follow(sim, speed * FRAME_S, rates)
        for fig in (
            gantt_figure(hist.segments, labels, index, snap.time),
            queue_figure(snap.models),
            live_series_figure(hist.series),
        ):
            fig.to_json()
        out.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.bench_pool_live", description=__doc__, formatter_class=HelpFormatter
    )
    p.add_argument("--seconds", type=float, default=10.0, help="frame-rate window per scenario")
    p.add_argument(
        "--scenarios",
        default=",".join(f"{n}:{v}" for n, v in SCENARIOS),
        help="comma-separated PRESET:SPEED (speed in simulated seconds per second)",
    )
    p.add_argument("--no-browser", action="store_true", help="only the in-process measurement")
    a = p.parse_args(argv)
    scenarios: dict[str, int] = {}
    for item in filter(None, a.scenarios.split(",")):
        name, _, speed = item.partition(":")
        scenarios[name] = int(speed or 10)
    browser: dict[str, tuple[float, float, float]] = {}
    if not a.no_browser:
        with tempfile.TemporaryDirectory() as home:
            proc, url = start_server(home)
            try:
                browser = browser_rows(url, a.seconds, scenarios)
            finally:
                stop_streamlit(proc)
    rows = []
    for name, speed in scenarios.items():
        cfg = preset(name)
        gpus = cfg.workload.num_models if cfg.policy.value == "dedicated" else cfg.pool.num_gpus
        first, fps, rate = browser.get(name, (float("nan"),) * 3)
        rows.append(
            [
                name,
                cfg.policy.value,
                cfg.workload.num_models,
                gpus,
                speed,
                first,
                fps,
                rate,
                server_ms(name, speed),
            ]
        )
    print_table(
        "GPU-pool live view (headless Chromium, frame interval 0.5 s)",
        [
            "scenario",
            "policy",
            "models",
            "GPUs",
            "speed (sim s/s)",
            "first frame (s)",
            "frames/s",
            "sim s per s",
            "server ms/frame",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
