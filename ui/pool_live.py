"""The GPU pool page's Live view: start a run, watch it frame by frame, see and save its result.

Before a run: **Start live run** (a ``core.pool.live.LiveRun`` in this session's state) or
**Run in batch mode** (simulated to the end on the shared worker pool, no animation), the
run's size and the market's popularity. During a run: Play/Pause, Run to end, New run and
the speed; an ``st.fragment`` that reruns every ``FRAME_S`` while playing advances the run by
one frame (``next_frame``) and draws the tiles, the per-GPU Gantt chart, the queues, the
notable events and the live series (``core.viz.pool_live``). At the end: the result's tiles
and figures, and **Save this run**: live and batch runs are saved to the run store only on
request (a room of students would otherwise fill it), through ``core.pool.setup``'s
writers, and a toast confirms where the click was.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import streamlit as st

from core.pool import PoolError, SimConfig, SimResult, Simulation
from core.pool import setup as ps
from core.pool.live import LiveRun
from core.pool.runner import run_in_steps
from core.pool.setup import Setup
from core.viz.pool import (
    attainment_time_figure,
    cdf_figure,
    market_figure,
    per_gpu_figure,
    result_tiles,
)
from core.viz.pool_live import gantt_figure, live_series_figure, live_tiles, queue_figure
from ui import presenter
from ui.jobs import Report, run_job
from ui.layout import side_by_side
from ui.pool_parts import metric_rows, save, saved_note
from ui.text import md

FRAME_S = 0.5  # wall seconds between live frames
STATIC = {"displayModeBar": False}  # plotly config of the live figures
S = st.session_state


def live_view(s: Setup | None) -> None:
    """The Live view for the checked setup ``s`` (None when it cannot run)."""
    if S.pl_live is None:
        live_start(s)
    else:
        live_controls(s, S.pl_live)
    if S.pl_batch is not None and S.pl_live is None:
        cfg, result, run_id = S.pl_batch
        result_view("Batch result", result, cfg, save=("pl_save_batch", _batch_run_id, _save_batch))


# ---------------------------------------------------------------- before a run
def live_start(s: Setup | None) -> None:
    """Before a run: start / batch buttons, the run's size and the market's popularity."""
    st.markdown(
        "Start a run to watch every GPU load models, prefill and decode; at its end, "
        "**Save this run** keeps it in the run store."
    )
    row = st.container(horizontal=True, vertical_alignment="center")
    row.button(
        "Start live run",
        type="primary",
        icon=":material/play_arrow:",
        disabled=s is None,
        key="pl_start",
        on_click=_start,
        args=(s,),
    )
    batch = row.button(
        "Run in batch mode",
        icon=":material/bolt:",
        disabled=s is None,
        key="pl_batch_btn",
        help="Simulate to the end at once, no animation.",
    )
    if s is not None:
        row.caption(f"≈ {s.requests:,} requests, ≈ {s.wall_s:.2f} s to simulate.")
    if S.pl_refused:
        st.error(md(S.pl_refused, 1000))
        S.pl_refused = None
    if s is None:
        return
    st.plotly_chart(market_figure(*ps.market_of(s)), key="pl_market")
    if batch:
        refusal = ps.batch_refusal(s, S.pl_preset)
        if refusal:
            st.error(refusal)
        else:
            batch_run(s)


def _start(s: Setup | None) -> None:
    """Start button callback: runs before the script, so the first frame needs one run."""
    if s is None:
        return
    S.pl_refused = ps.live_refusal(s)
    if S.pl_refused:
        return
    try:
        S.pl_live = LiveRun.start(Simulation(s.config, trace=s.trace), s.config)
        S.pl_playing, S.pl_batch = True, None
    except PoolError as exc:
        S.pl_refused = str(exc)


def batch_run(s: Setup) -> None:
    """Simulate to the end on the shared worker pool, in slices that report progress (and
    stop when nobody waits any more); the result is kept until saved or replaced."""
    cfg = s.config.replace(record_events=False)

    def work(report: Report) -> SimResult:
        return run_in_steps(cfg, trace=s.trace, between=lambda done: report(done, f"{done:.0%}"))

    result = run_job(f"Simulating about {s.requests:,} requests", work)
    S.pl_batch = (cfg, result, None)  # saved on request


# ---------------------------------------------------------------- during a run
def live_controls(s: Setup | None, live: LiveRun) -> None:
    """During a run: play/pause, run to end, new run, speed; then the live fragment."""
    row = st.container(horizontal=True, vertical_alignment="bottom")
    done = live.sim.done
    row.button(
        "Pause" if S.pl_playing else "Play",
        on_click=_toggle_play,
        disabled=done,
        icon=":material/pause:" if S.pl_playing else ":material/play_arrow:",
        key="pl_play",
    )
    row.button(
        "Run to end",
        on_click=_run_to_end,
        disabled=done,
        key="pl_end",
        icon=":material/fast_forward:",
    )
    if row.button("New run", key="pl_new", icon=":material/restart_alt:"):
        S.pl_live, S.pl_playing = None, False
        st.rerun()
    row.select_slider(
        "Speed (× real time)",
        ps.SPEEDS,
        key="pl_speed",
        width=220,
        help="Simulated seconds per wall-clock second while playing.",
    )
    if s is None or s.config != live.config:
        st.caption("This run keeps the setup it started with; **New run** applies your changes.")
    presenter.step_button(
        "Next frame",
        _next_frame,
        key="pl_next_frame",
        disabled=done,
        help="Pause and advance one frame (→ in presenter mode).",
    )
    st.fragment(live_fragment, run_every=FRAME_S if S.pl_playing else None)()
    if live.result is not None:
        saving = ("pl_save_live", _live_run_id, _save_live)
        result_view("Result of the live run", live.result, live.config, save=saving)


def _toggle_play() -> None:
    S.pl_playing = not S.pl_playing
    S.pl_live.last_wall = None


def _next_frame() -> None:
    """Next frame button (and the presenter's step key): pause, then one frame at this speed."""
    S.pl_playing = False
    S.pl_live.step(S.pl_speed * FRAME_S)


def _run_to_end() -> None:
    S.pl_live.run_to_end()
    S.pl_playing = False


def next_frame(live: LiveRun) -> None:
    """Advance the live run by one frame: ``speed`` × the wall time since the last frame
    (what Play does every ``FRAME_S``; a presenter's step key can call it too)."""
    if not live.sim.done:
        live.play_frame(S.pl_speed, time.monotonic(), FRAME_S)


def live_fragment() -> None:
    """One frame: step while playing, draw, and rerun the page once the run has ended."""
    live = S.pl_live
    if live is None:
        return
    if S.pl_playing:
        next_frame(live)
    draw_live(live)
    if live.sim.done and live.result is None:
        live.result = live.sim.result()  # shown with Save this run: nothing saved yet
        S.pl_playing = False
        st.rerun(scope="app")


def draw_live(live: LiveRun) -> None:
    """Tiles, the per-GPU timeline, queues beside the notable events, the live series."""
    snap, hist = live.snap, live.history
    metric_rows(live_tiles(snap, hist.series))
    gantt = gantt_figure(hist.segments, live.gpu_labels, live.model_index, snap.time)
    st.plotly_chart(gantt, key="pl_gantt", config=STATIC)
    queues, events = side_by_side("pl_live_row", (320, 1.6), (240, 1))
    queues.plotly_chart(queue_figure(snap.models), key="pl_queue", config=STATIC)
    with events:
        st.markdown("**Notable events** (latest first)")
        lines = [f"{e.time:8.2f} s  {e.text}" for e in reversed(hist.feed)][:14]
        with st.container(height=240):
            st.text("\n".join(lines) or "nothing yet")
        n = hist.counts
        st.caption(
            f"{n.get('switch_start', 0)} switches · {n.get('preempt', 0)} preemptions · "
            f"{n.get('slo_miss', 0)} SLO misses · {n.get('reject', 0)} rejections"
        )
    st.plotly_chart(live_series_figure(hist.series), key="pl_series", config=STATIC)


# ---------------------------------------------------------------- after a run
def result_view(
    title: str,
    result: SimResult,
    cfg: SimConfig,
    save: tuple[str, Callable[[], int | None], Callable[[], None]],
) -> None:
    """Metrics and figures of one finished run, with its Save button (``save_on_request``'s
    arguments), a fragment: a Save click reruns the button alone, not the figures."""
    st.subheader(title)
    metric_rows(result_tiles(result))
    st.caption(
        f"{result.num_requests:,} requests, {result.finished:,} finished, "
        f"{result.gpus_used} GPUs, simulated in {result.wall_s:.2f} s "
        f"({result.requests_per_wall_s:,.0f} requests/s)."
    )
    st.fragment(save_on_request)(*save)
    label = {result.policy: result}
    st.plotly_chart(attainment_time_figure(label), key=f"pl_{title}_att")
    st.plotly_chart(cdf_figure(label, (cfg.slo.ttft_s, cfg.slo.tpot_s)), key=f"pl_{title}_cdf")
    st.plotly_chart(per_gpu_figure(result.per_gpu), key=f"pl_{title}_gpus")


def save_on_request(
    key: str,
    saved_id: Callable[[], int | None],
    on_save: Callable[[], None],
    label: str = "Save this run",
    saved: Callable[[int], None] = saved_note,
) -> None:
    """A finished result's save button (**Save this run**, or ``label``), or, once saved,
    where it went (``saved(run id)``). ``saved_id()`` is read at each run, the fragment's own
    reruns included (the pages call this as an ``st.fragment``). Nothing on the pool page is
    stored until its button is pressed."""
    run_id = saved_id()
    if S.pl_toast:  # a confirmation where the click was, not atop the panel
        st.toast(S.pl_toast, icon=":material/check_circle:")
        S.pl_toast = None
    if run_id is not None:
        saved(run_id)
        return
    st.button(
        label,
        key=key,
        icon=":material/save:",
        on_click=on_save,
        help="Keep this in the run store, to compare it on the Saved runs page. "
        "Runs, comparisons and sweeps on this page are saved only when you ask.",
    )


def _batch_run_id() -> int | None:
    return None if S.pl_batch is None else S.pl_batch[2]


def _live_run_id() -> int | None:
    return None if S.pl_live is None else S.pl_live.run_id


def _save_live() -> None:
    """Save this run's callback: the finished live run with its live series, once."""
    live = S.pl_live
    if live is None or live.result is None or live.run_id is not None:
        return
    live.run_id = save(
        "save the live run",
        lambda ses: ps.save_live_run(ses, live.config, live.result, live.history.series),
    )
    _saved(live.run_id)


def _save_batch() -> None:
    """Save this run's callback: the batch result, once."""
    if S.pl_batch is None or S.pl_batch[2] is not None:
        return
    cfg, result, _ = S.pl_batch
    run_id = save("save the run", lambda ses: ps.save_batch_run(ses, cfg, result))
    S.pl_batch = (cfg, result, run_id)
    _saved(run_id)


def _saved(run_id: int | None) -> None:
    """After a save: the confirmation a toast shows on the next run."""
    if run_id is not None:
        S.pl_toast = f"Saved as run #{run_id}: compare it on the Saved runs page."
