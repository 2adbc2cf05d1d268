"""GPU pool: many LLMs sharing a few GPUs (Aegaeon, SOSP'25), live, compared and swept.

The setup panel (knobs checked by ``core.pool.setup``) sits beside the view, or above it
when the window is narrow; the view is one of four: **Stories** (guided presets that each
reproduce one of the paper's findings: ``ui.pool_stories``), **Live** (a run watched frame by
frame, or run in batch mode, saved only on request: ``ui.pool_live``), **Compare** (policies
on the same seeded workload) and **Sweep** (attainment against load, the paper's headline
figure, and the GPUs each policy needs). Figures come from ``core.viz``; runs, comparisons
and sweeps are saved only on request (``save_on_request``); the setup and the view live in
the URL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

import pandas as pd
import streamlit as st

from core.cluster import ray_address_from_env
from core.pool import PolicyName, PoolError, SimConfig, SimResult, Trace
from core.pool import setup as ps
from core.pool.persist import save_result, save_sweep
from core.pool.presets import PRESETS, preset
from core.pool.runner import run, run_many_anywhere
from core.pool.setup import Setup
from core.pool.stories import STORIES
from core.viz.pool import (
    attainment_time_figure,
    cdf_figure,
    compare_rows,
    gpu_split_figure,
    gpus_needed_figure,
    sweep_figure,
    switches_figure,
)
from ui.boot import ensure_app_shell
from ui.jobs import Report, run_job
from ui.layout import side_by_side
from ui.pool_live import live_view, save_on_request
from ui.pool_parts import save
from ui.pool_stories import stories_view
from ui.text import md
from ui.uploads import widget_mb
from ui.urlstate import Choice, Float, Int, Items, Param, parse_query, warn, write_url

ensure_app_shell()

WORKLOAD_KNOBS = ("models", "rate", "duration", "popularity", "alpha", "arrival", "cv", "burst")
WORKLOAD_KNOBS += ("lengths", "mix", "in_scale", "out_scale")
POOL_KNOBS = ("gpu", "gpus", "ttft", "tpot", "switch", "seed")
STEPS = {
    "rate": (0.05, "%.3f"),
    "duration": (30.0, None),
    "ttft": (0.5, None),
    "tpot": (0.01, "%.3f"),
}
FORMATS = {"mix": ps.MIX_NAMES.get}
S = st.session_state


# ---------------------------------------------------------------- state, setup panel, URL
def setup_params(name: str) -> dict[str, Param]:
    """The link's setup entries: the preset, then every knob bounded as its widget is
    (defaults: that preset's values)."""
    vals = ps.values_of(preset(name))
    specs: dict[str, Param] = {"preset": Choice(ps.DEFAULT_PRESET, tuple(PRESETS))}
    for key in ps.KNOBS:
        if key in ps.CHOICES:
            specs[key] = Choice(vals[key], tuple(ps.CHOICES[key]))
        elif ps.NUMBERS[key] is int:
            specs[key] = Int(vals[key], *map(int, ps.LIMITS[key]))
        else:
            specs[key] = Float(vals[key], *ps.LIMITS[key])
    return specs


def view_params() -> dict[str, Param]:
    """The link's view entries (``ps.ViewState``), bounded as their widgets are."""
    d = ps.ViewState()
    policy = Choice(ps.POLICIES[0], tuple(ps.POLICIES))
    return {
        "view": Choice(d.view, ps.VIEWS),
        "story": Choice(d.story, tuple(STORIES)),
        "art": Choice(d.art, ps.ART_TRACES),
        "speed": Choice(d.speed, ps.SPEEDS),
        "cmp": Items(tuple(d.cmp), policy, max_items=4),
        "sw_axis": Choice(d.sw_axis, tuple(ps.AXES)),
        "sw_lo": Float(d.sw_lo, 0.0, ps.SWEEP_LIMIT),
        "sw_hi": Float(d.sw_hi, 0.0, ps.SWEEP_LIMIT),
        "sw_n": Int(d.sw_n, 0, 16),
        "sw_pols": Items(tuple(d.sw_pols), policy, max_items=4),
    }


def init_state() -> None:
    """Session keys once per session; the first run takes the setup and view from the URL."""
    for key in ("pl_live", "pl_batch", "pl_compare", "pl_sweep", "pl_needed", "pl_trace"):
        S.setdefault(key, None)
    for key in ("pl_refused", "pl_toast", "pl_sweep_write"):
        S.setdefault(key, None)
    for key, default in (("pl_playing", False), ("pl_trace_name", "")):
        S.setdefault(key, default)
    if "pl_ready" in S:
        return
    q = {k: st.query_params.get_all(k) for k in st.query_params}
    first, bad = parse_query({"preset": setup_params(ps.DEFAULT_PRESET)["preset"]}, q)
    values, more = parse_query(setup_params(first["preset"]), q)
    view, worse = parse_query(view_params(), q)
    for k, v in (values | view).items():
        S[f"pl_{k}"] = list(v) if isinstance(v, tuple) else v
    S.pl_url_problems = bad + [p for p in more if not p.startswith("preset")] + worse
    S.pl_flash = None
    S.pl_ready = True


def _apply_preset() -> None:
    for k, v in ps.values_of(preset(S.pl_preset)).items():
        S[f"pl_{k}"] = v


def _widget(key: str, container: Any = st) -> None:
    """The knob ``key``: a selectbox for a choice, a number input otherwise."""
    label, help_text = ps.KNOBS[key]
    if key in ps.CHOICES:
        fmt = FORMATS.get(key, str)
        container.selectbox(
            label, ps.CHOICES[key], format_func=fmt, key=f"pl_{key}", help=help_text
        )
        return
    is_int = ps.NUMBERS[key] is int
    lo, hi = ps.LIMITS[key]
    step, fmt = STEPS.get(key, (1 if is_int else 0.1, None))
    container.number_input(
        label,
        min_value=int(lo) if is_int else float(lo),
        max_value=int(hi) if is_int else float(hi),
        step=step,
        format=fmt,
        key=f"pl_{key}",
        help=help_text,
    )


def _grid(keys: tuple[str, ...]) -> None:
    """Knobs two to a row, in reading order."""
    c = st.columns(2)
    for i, key in enumerate(keys):
        _widget(key, c[i % 2])


def setup_panel() -> Any:
    """The left column's knobs; returns the uploaded trace file (or None)."""
    st.selectbox(
        "Preset",
        list(PRESETS),
        key="pl_preset",
        on_change=_apply_preset,
        help="Scenarios from the paper's evaluation and its market study.",
    )
    st.caption(PRESETS[S.pl_preset].description)
    _widget("policy")
    with st.expander("Workload", expanded=True):
        _grid(WORKLOAD_KNOBS)
        upload = st.file_uploader(
            "…or a trace CSV",
            type=["csv"],
            key="pl_upload",
            max_upload_size=widget_mb(ps.MAX_UPLOAD_BYTES),
            help="arrival_s,model,model_type,input_tokens,output_tokens, or the "
            "artifact's Request Time,Model Name,Input Length,Output Length. "
            "Replaces the synthetic workload.",
        )
        st.selectbox(
            "…or replay an artifact trace",
            ps.ART_TRACES,
            key="pl_art",
            format_func=lambda n: n or "(none: the synthetic workload)",
            help="The Aegaeon artifact's own traces (M models × rate req/s), as its simulator "
            "replays them: the first 120 s, models mapped 6:2:2 in a cycle of 10.",
        )
    with st.expander("Pool and SLOs", expanded=True):
        _grid(POOL_KNOBS)
    with st.expander("What the knobs mean"):
        st.markdown("\n".join(f"- **{lab}** — {txt}" for lab, txt in ps.KNOBS.values()))
    return upload


def sync_url(values: dict[str, Any]) -> None:
    """Keep the setup and the view in the URL, so that a link reproduces the page."""
    view = {f.name: S[f"pl_{f.name}"] for f in fields(ps.ViewState)}
    setup = setup_params(S.pl_preset)
    write_url(setup, {"preset": S.pl_preset} | values)
    write_url(view_params(), view)


def read_upload(upload: Any, mix: str) -> Trace | None:
    """Parse the uploaded CSV once per (file, model mix), else the chosen artifact trace;
    errors become a flash message."""
    if upload is None:
        S.pl_trace, S.pl_trace_name = None, ""
        return _artifact_trace(S.pl_art) if S.pl_art else None
    ident = f"{upload.file_id}:{mix}"
    if S.pl_trace_name != ident:
        S.pl_trace_name, S.pl_trace = ident, None
        try:
            S.pl_trace = ps.read_upload(upload.name, upload.getvalue(), mix)
        except PoolError as exc:
            S.pl_flash = str(exc)  # names the file and a line of it: shown escaped
    return S.pl_trace


@st.cache_data(show_spinner=False, max_entries=32)
def _artifact_trace(name: str) -> Trace:
    return ps.artifact_replay(name)


# ---------------------------------------------------------------- small helpers
# ---------------------------------------------------------------- stories
# ---------------------------------------------------------------- live view
# ---------------------------------------------------------------- compare
@st.cache_data(show_spinner=False, max_entries=64)
def _cached_run(config_json: str) -> SimResult:
    """A synthetic run (same seed ⇒ same trace, so policies share the workload)."""
    return run(SimConfig.from_json(config_json))


def compare_section(s: Setup | None) -> None:
    st.markdown("Run several policies on the **same seeded workload** and compare them.")
    row = st.container(horizontal=True, vertical_alignment="bottom")
    row.multiselect("Policies (2–4)", ps.POLICIES, key="pl_cmp", max_selections=4)
    go_ = row.button(
        "Run comparison",
        type="primary",
        key="pl_cmp_btn",
        disabled=s is None,
        icon=":material/compare_arrows:",
    )
    if go_ and s is not None:
        refusal = ps.compare_refusal(s, list(S.pl_cmp))
        if refusal:
            st.error(refusal)
        else:
            run_compare(s, list(S.pl_cmp))
    if S.pl_compare is not None:
        compare_results(*S.pl_compare)


def run_compare(s: Setup, pols: list[str]) -> None:
    def work(report: Report) -> dict[str, SimResult]:
        results: dict[str, SimResult] = {}
        for i, p in enumerate(pols):
            report(i / len(pols), f"{p}")
            cfg = s.config.replace(policy=PolicyName(p), record_events=False)
            try:
                results[p] = run(cfg, trace=s.trace) if s.trace else _cached_run(cfg.to_json())
            except PoolError as exc:
                raise PoolError(f"{p}: {exc}") from None
        return results

    try:
        results = run_job("Simulating the policies", work)
    except PoolError as exc:
        st.error(md(exc, 1000))
        return

    S.pl_compare = (s.config, results, [None] * len(results))  # saved on request


def _save_compare() -> None:
    """Save these runs' callback: one run per compared policy, once."""
    if S.pl_compare is None or any(i is not None for i in S.pl_compare[2]):
        return
    cfg, results, _ = S.pl_compare

    def write(p: str) -> Callable[[Any], int]:
        policy_cfg = cfg.replace(policy=PolicyName(p))
        return lambda ses: save_result(ses, policy_cfg, results[p], tags=["compare", "dashboard"])

    ids = [save(f"save the {p} run", write(p)) for p in results]
    S.pl_compare = (cfg, results, ids)
    if all(i is not None for i in ids):
        S.pl_toast = f"Saved as runs {', '.join(f'#{i}' for i in ids)}: compare them on Saved runs."


def _compare_saved(ids: list) -> None:
    if any(i is None for i in ids):
        st.caption("Not all saved: the run store is unavailable (see the message above).")
    link = ",".join(str(i) for i in ids if i is not None)
    if link:
        st.caption(f"Saved as runs {link}: [compare them on Saved runs](runs?compare={link}).")


def compare_results(cfg: SimConfig, results: dict[str, SimResult], ids: list) -> None:
    percent = st.column_config.NumberColumn(format="percent")
    st.dataframe(
        pd.DataFrame(compare_rows(results, ids)),
        hide_index=True,
        key="pl_cmp_table",
        column_config={
            "SLO attainment": percent,
            "strict attainment": percent,
            "idle share": percent,
            "TTFT p90 (s)": st.column_config.NumberColumn(format="%.2f"),
            "TBT p90 (ms)": st.column_config.NumberColumn(format="%.1f"),
            "models per GPU": st.column_config.NumberColumn(format="%.1f"),
        },
    )
    save_on_request(  # not a fragment: the table's run column fills in when saved
        "pl_save_cmp",
        lambda: next((i for i in ids if i is not None), None),
        _save_compare,
        label=f"Save these {len(results)} runs",
        saved=lambda _: _compare_saved(ids),
    )
    if "dedicated" in results:
        st.caption("Dedicated ignores the pool size: it uses one GPU per model.")
    st.plotly_chart(attainment_time_figure(results), key="pl_cmp_att")
    st.plotly_chart(cdf_figure(results, (cfg.slo.ttft_s, cfg.slo.tpot_s)), key="pl_cmp_cdf")
    st.plotly_chart(gpu_split_figure(results), key="pl_cmp_split")
    st.plotly_chart(switches_figure(results), key="pl_cmp_sw")


# ---------------------------------------------------------------- sweep
def sweep_section(s: Setup | None) -> None:
    if s is not None and s.trace is not None:
        st.info(
            "Sweeps vary the synthetic workload: remove the uploaded or artifact trace to sweep."
        )
        return
    st.markdown(
        "Attainment against load for each policy, the paper's headline figure: the "
        "**goodput** is the highest load that keeps ≥ 90% SLO attainment."
    )
    st.radio("x-axis", list(ps.AXES), key="pl_sw_axis", format_func=ps.AXES.get, horizontal=True)
    row = st.container(horizontal=True)
    step = 4.0 if S.pl_sw_axis == "models" else 0.05
    row.number_input("from", 0.0, ps.SWEEP_LIMIT, step=step, key="pl_sw_lo", width=150)
    row.number_input("to", 0.0, ps.SWEEP_LIMIT, step=step, key="pl_sw_hi", width=150)
    row.number_input("points", min_value=0, max_value=16, step=1, key="pl_sw_n", width=150)
    st.multiselect("Policies", ps.POLICIES, key="pl_sw_pols", max_selections=4)
    icon = ":material/insights:"
    if st.button("Run sweep", type="primary", key="pl_sw_btn", disabled=s is None, icon=icon):
        run_sweep(s)
    if S.pl_sweep is not None:
        axis, curves, marks, run_id = S.pl_sweep
        unit = "req/s per model" if axis == "rate" else "models"
        st.plotly_chart(sweep_figure(curves, marks, ps.AXES[axis]), key="pl_sw_fig")
        st.markdown(" · ".join(f"**{p}** goodput {g:.3g} {unit}" for p, g in marks.items()))
        save_on_request("pl_save_sweep", lambda: run_id, _save_sweep, label="Save this sweep")
    st.divider()
    st.markdown(
        "**GPUs needed** for a target total load (≥ 90% attainment), for each policy "
        "selected above."
    )
    row = st.container(horizontal=True, vertical_alignment="bottom")
    default = s.config.workload.total_rate if s is not None else 4.0
    target = row.number_input(
        "Target total load (req/s)",
        min_value=0.0,
        max_value=ps.TARGET_LIMIT,
        value=min(float(default), ps.TARGET_LIMIT),
        step=0.5,
        key="pl_need_rate",
        width=240,
    )
    if row.button("Find GPUs needed", key="pl_need_btn", disabled=s is None):
        run_needed(s, target)
    if S.pl_needed is not None:
        st.plotly_chart(gpus_needed_figure(*S.pl_needed), key="pl_need_fig")


def run_sweep(s: Setup) -> None:
    axis, pols = S.pl_sw_axis, list(S.pl_sw_pols)
    lo, hi, n = float(S.pl_sw_lo), float(S.pl_sw_hi), int(S.pl_sw_n)
    try:
        configs, wall = ps.plan_sweep(s.config, S.pl_preset, axis, lo, hi, n, pols)
    except PoolError as exc:
        st.error(md(exc, 1000))
        return

    def work(report: Report) -> list[Any]:
        def progress(done: int, total: int, point: Any) -> None:
            report(done / total, f"{done} of {total} points")

        return run_many_anywhere(
            configs, ps.processes_for(wall), progress, ray_address=ray_address_from_env()
        )

    points, notice = run_job(f"Sweeping {len(configs)} points", work)
    if notice:
        st.warning(md(notice, 600), icon=":material/cloud_off:")
    curves, marks = ps.sweep_curves(axis, configs, points)
    if axis == "rate":
        tags = ["sweep", "dashboard"]
        write = lambda ses: save_sweep(ses, s.config, points, tags=tags)  # noqa: E731
    else:
        write = lambda ses: ps.save_models_sweep(ses, s.config, curves, marks)  # noqa: E731
    S.pl_sweep = (axis, curves, marks, None)  # saved on request, by _save_sweep
    S.pl_sweep_write = write


def _save_sweep() -> None:
    """Save this sweep's callback: the swept points as one run, once."""
    if S.pl_sweep is None or S.pl_sweep[3] is not None or S.pl_sweep_write is None:
        return
    run_id = save("save the sweep", S.pl_sweep_write)
    S.pl_sweep = (*S.pl_sweep[:3], run_id)
    if run_id is not None:
        S.pl_sweep_write = None
        S.pl_toast = f"Saved as run #{run_id}: compare it on the Saved runs page."


def run_needed(s: Setup, target_rps: float) -> None:
    pols = list(S.pl_sw_pols) or [s.config.policy.value]
    try:
        wall = ps.plan_needed(s.config, pols, target_rps)
    except PoolError as exc:
        st.error(md(exc, 1000))
        return

    def work(report: Report) -> tuple[dict[str, int | None], str]:
        def progress(i: int, p: str) -> None:
            report(i / len(pols), f"{p} done")

        return ps.gpus_needed_per_policy(s.config, pols, target_rps, progress)

    S.pl_needed = run_job(f"Bisecting the pool size (about {wall:,.0f} s)", work)


# ---------------------------------------------------------------- the page
init_state()
st.title("GPU pool")
st.caption(
    "Many LLMs share a small pool of GPUs. Most models are rarely called, yet a model that "
    "holds a GPU until its requests finish needs about one GPU per active model; Aegaeon "
    "(SOSP'25) switches models between token batches so a few GPUs serve many models within "
    "their latency SLOs. Set up a market, watch it run, compare policies, sweep the load."
)
setup_col, main_col = side_by_side("pl_layout", (300, 1), (480, 3), border_left=True)
with setup_col:
    upload = setup_panel()
values = {k: S[f"pl_{k}"] for k in ps.KNOBS}
sync_url(values)
try:
    setup: Setup | None = ps.check_setup(S.pl_preset, values, read_upload(upload, values["mix"]))
    setup_error = ""
except PoolError as exc:
    setup, setup_error = None, str(exc)

with main_col:
    warn(S.pl_url_problems)
    S.pl_url_problems = []
    if S.pl_flash:
        st.warning(md(S.pl_flash, 1000))
        S.pl_flash = None
    if setup is None:
        st.error(f"This setup cannot run: {md(setup_error, 1000)}")
    elif setup.trace is not None:
        t = setup.trace
        source = "uploaded trace" if upload is not None else f"artifact trace {S.pl_art}"
        st.info(
            f"Using the {source}: {len(t):,} requests to {t.num_models} models over "
            f"{t.duration_s:,.0f} s (the workload knobs are ignored)."
        )
    view = st.segmented_control("View", ps.VIEWS, key="pl_view", required=True, wrap=True)
    views = {"Stories": stories_view, "Live": live_view}
    views |= {"Compare": compare_section, "Sweep": sweep_section}
    views[view](setup)
