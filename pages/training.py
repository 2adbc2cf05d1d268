"""Training: train a small GPT from the browser and watch it learn, live.

The page lays out the form of ``core.training.page`` (corpus, tokenizer, size, settings,
the cost estimate), submits jobs to the server's one ``core.training.jobs.JobManager``
(worker processes, a FIFO queue), and follows any training run from the store in an
``st.fragment`` that refreshes every few seconds: loss curves (``core.viz.training``),
progress, tokens/s, time left and the latest samples. Closing the tab loses nothing: the
job runs on, and the page reattaches from the store. The form and the run shown live in
the URL.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import streamlit as st

from core import registry
from core.corpus import CorpusError
from core.model import CheckpointError
from core.store import DatabaseUnavailable, database_url
from core.tokenization import TokenizerError
from core.training import page as tp
from core.training.jobs import Job, JobError, JobManager, JobSpec, JobState
from core.viz.training import estimate_tiles, loss_figure, progress_tiles
from ui.boot import ensure_app_shell
from ui.db import guard, session_factory
from ui.formkeep import remember, restore
from ui.shell import refresh_store_lists
from ui.text import md
from ui.uploads import widget_mb
from ui.urlstate import Choice, Float, Int, Items, Param, Text, parse_query, warn, write_url

ensure_app_shell()

S = st.session_state
LIVE_EVERY_S = 2.0  # seconds between live refreshes while a job runs
WIDE, NARROW = 320, 150  # pixel widths of the form's widgets (rows wrap to the window)
FORM_FIELDS = [f.name for f in fields(tp.TrainForm) if f.name not in ("name", "finetune_from")]
KEPT = [*FORM_FIELDS, "name", "mode"]  # what ui.formkeep puts back if Streamlit drops it


# ---------------------------------------------------------------- server-wide resources
@st.cache_resource(
    show_spinner="Starting the job manager (joining the Ray cluster, if one is set)…"
)
def job_manager(url: str) -> JobManager:
    """The server's one job manager (per database URL): created once, shared by sessions."""
    return JobManager(session_factory(quiet=True))


@st.cache_resource(show_spinner="Measuring this machine…")
def machine_rate() -> float:
    return tp.machine_flops()


@st.cache_resource(show_spinner=False)
def vocab_size(tokenizer_id: str, store_key: str) -> int:
    return registry.load_tokenizer(tokenizer_id, session_factory(quiet=True)).n_vocab


# ---------------------------------------------------------------- URL and state
def form_params() -> dict[str, Param]:
    d = tp.TrainForm()
    lim = tp.LIMITS

    def whole(key: str) -> Int:
        return Int(getattr(d, key), int(lim[key][0]), int(lim[key][1]))

    return {
        "corpora": Items(d.corpora, Choice("builtin", tp.CORPORA), max_items=4, allow_empty=True),
        "tokenizer": Text(d.tokenizer, max_chars=40),
        "preset": Choice(d.preset, tp.PRESET_NAMES),
        **{k: whole(k) for k in ("n_layer", "n_head", "n_embd", "context_length", "steps")},
        **{k: whole(k) for k in ("batch_size", "warmup_steps", "seed", "eval_every")},
        "sample_every": whole("sample_every"),
        "lr": Float(d.lr, *lim["lr"]),
        "weight_decay": Float(d.weight_decay, *lim["weight_decay"]),
        "start_token": Choice(d.start_token, tp.START_TOKENS),
        "sample_prompt": Text(d.sample_prompt, max_chars=200),
        "run": Int(0, 0, 2**62),
    }


def init_state() -> None:
    S.setdefault("tr_keys", {})  # job id -> cancel key, for the jobs this session started
    S.setdefault("tr_upload", None)  # (file id, saved path, name) of an accepted upload
    S.setdefault("tr_flash", None)
    S.setdefault("tr_last_status", {})  # run id -> status last drawn
    if "tr_ready" in S:
        return
    q = {k: st.query_params.get_all(k) for k in st.query_params}
    values, S.tr_url_problems = parse_query(form_params(), q)
    for key, value in values.items():
        S[f"tr_{key}"] = list(value) if isinstance(value, tuple) else value
    S.tr_mode = "new"
    S.tr_ready = True
    remember(S, "tr_form_copy", "tr_", KEPT)


def current_form() -> tp.TrainForm:
    return tp.form_from({k: S[f"tr_{k}"] for k in FORM_FIELDS} | {"name": S.get("tr_name", "")})


def _apply_preset() -> None:
    if S.tr_preset in tp.PRESETS:
        for key, value in zip(
            ("n_layer", "n_head", "n_embd", "context_length"), tp.PRESETS[S.tr_preset], strict=True
        ):
            S[f"tr_{key}"] = value


# ---------------------------------------------------------------- the form
def number(label: str, key: str, container: Any = st, **kw: Any) -> None:
    lo, hi = tp.LIMITS[key]
    is_int = isinstance(getattr(tp.TrainForm(), key), int)
    container.number_input(
        label,
        min_value=int(lo) if is_int else float(lo),
        max_value=int(hi) if is_int else float(hi),
        key=f"tr_{key}",
        width=NARROW,
        **kw,
    )


def tokenizer_options() -> dict[str, str]:
    try:
        entries = registry.list_tokenizers(session_factory(quiet=True))
    except DatabaseUnavailable:  # the store stopped answering: offer what needs none
        entries = registry.list_tokenizers(store=False)
    return {t.id: t.label for t in entries if t.id != "smollm2"}


def finetune_options() -> dict[str, str]:
    try:
        entries = registry.list_models(session_factory(quiet=True))
    except DatabaseUnavailable:
        return {}
    return {m.id: m.label for m in entries if m.source == "run"}


def corpus_panel() -> list[str]:
    """Corpora and the upload; returns the sources for the job (names and saved paths)."""
    row = st.container(horizontal=True, wrap=True)
    row.multiselect(
        "Corpora",
        tp.CORPORA,
        key="tr_corpora",
        help="builtin: the Python reference manual (0.5M characters); stdlib-docs, "
        "torch-docs, deps-docs: docstrings of the standard library, PyTorch and the app's "
        "dependencies (1.3M to 8M characters: slower to prepare).",
        width=WIDE,
    )
    upload = row.file_uploader(
        "…and/or your own text (.txt, UTF-8)",
        type=["txt"],
        key="tr_file",
        max_upload_size=widget_mb(tp.upload_limit()),
        help=f"At most {tp.upload_limit() / 2**20:.3g} MB on this server.",
        width=WIDE,
    )
    sources = list(S.tr_corpora)
    if upload is None:
        S.tr_upload = None
    elif S.tr_upload is None or S.tr_upload[0] != upload.file_id:
        try:
            text = tp.check_upload(upload.name, upload.getvalue())
            S.tr_upload = (upload.file_id, str(tp.save_upload(text)), upload.name)
        except CorpusError as exc:
            S.tr_upload = None
            st.error(md(str(exc), 500), icon=":material/block:")
    if S.tr_upload is not None:
        sources.append(S.tr_upload[1])
        st.caption(f"Uploaded: {md(S.tr_upload[2])}")
    return sources


def form_panel() -> tuple[tp.TrainForm, list[str], Any]:
    """The form in rows that wrap to the window's width; returns the form, its corpus
    sources and the fine-tune checkpoint."""
    checkpoint = None
    row = st.container(horizontal=True, wrap=True)
    row.radio(
        "Model",
        ("new", "finetune"),
        format_func={"new": "New model", "finetune": "Fine-tune a trained one"}.get,
        key="tr_mode",
        horizontal=True,
        width=WIDE,
    )
    if S.tr_mode == "finetune":
        options = finetune_options()
        if not options:
            row.info("No finished training run with a checkpoint yet: train one first.")
        else:
            choice = row.selectbox(
                "Start from",
                list(options),
                format_func=lambda i: options[i],
                key="tr_base",
                width=WIDE,
            )
            try:
                checkpoint = registry.run_checkpoint_path(choice, session_factory(quiet=True))
            except CheckpointError as exc:
                st.error(md(str(exc), 500))
    else:
        options = tokenizer_options()
        if S.tr_tokenizer not in options:
            S.tr_tokenizer = "gpt2"
        row.selectbox(
            "Tokenizer", list(options), format_func=options.get, key="tr_tokenizer", width=WIDE
        )
        row.selectbox(
            "Size", tp.PRESET_NAMES, key="tr_preset", on_change=_apply_preset, width=NARROW
        )
        if S.tr_preset == "custom":
            number("Layers", "n_layer", row)
            number("Heads", "n_head", row)
            number("Width", "n_embd", row, step=8)
            number("Context", "context_length", row, step=8)
        else:
            layers, heads, width, ctx = tp.PRESETS[S.tr_preset]
            row.caption(f"{layers} layers · {heads} heads · width {width} · context {ctx}")
    sources = corpus_panel()
    row = st.container(horizontal=True, wrap=True)
    number("Steps", "steps", row, step=50)
    number("Batch", "batch_size", row, help="windows of context-length tokens per step")
    number("Learning rate", "lr", row, format="%.4f", step=0.0005)
    number("Warmup", "warmup_steps", row, help="steps of linear warmup")
    number("Weight decay", "weight_decay", row, step=0.05)
    number("Seed", "seed", row)
    number("Evaluate every", "eval_every", row, help="steps between validation losses")
    number("Sample every", "sample_every", row, help="steps between samples (0: never)")
    row = st.container(horizontal=True, wrap=True)
    if S.tr_mode == "new":
        row.selectbox(
            "Start token",
            tp.START_TOKENS,
            key="tr_start_token",
            help="eot: every window begins with <|endoftext|> (an attention sink)",
            width=NARROW,
        )
    row.text_input("Sample prompt", key="tr_sample_prompt", max_chars=200, width=WIDE)
    row.text_input("Run name (optional)", key="tr_name", max_chars=200, width=WIDE)
    return current_form(), sources, checkpoint


def start_panel(form: tp.TrainForm, sources: list[str], checkpoint: Any) -> None:
    """Estimate, problems and the Start button."""
    form = tp.form_from(tp.form_values(form) | {"corpora": tuple(sources)})
    try:
        if S.tr_mode == "finetune":
            if checkpoint is None:
                return
            form, vocab = tp.finetune_form(form, checkpoint)
        else:
            vocab = vocab_size(form.tokenizer, registry.store_key(form.tokenizer))
    except (TokenizerError, CheckpointError) as exc:
        st.error(md(str(exc), 500))
        return
    rate = machine_rate()
    problems = tp.form_problems(form, vocab, rate)
    if not problems:
        tiles = st.container(horizontal=True, gap="medium")  # wrap at half a screen
        for label, value in estimate_tiles(tp.estimate(form, vocab, rate)):
            tiles.metric(label, value, width="content")
    for problem in problems:
        st.warning(md(problem, 400), icon=":material/block:")
    manager = job_manager(_url())
    if st.button(
        "Start training",
        type="primary",
        icon=":material/play_arrow:",
        disabled=bool(problems) or manager.session_factory is None,
        key="tr_start",
    ):
        spec = tp.job_spec(form, sources, checkpoint)
        submit(manager, spec)


def submit(manager: JobManager, spec: JobSpec) -> None:
    try:
        job, key = manager.submit(spec)
    except JobError as exc:
        st.error(md(str(exc), 400))
        return
    S.tr_start_error = None
    if job.state is JobState.DONE:  # it could not even start (the Ray cluster went away)
        st.error(md(f"Job {job.id} could not start: {job.log_tail}", 600))
        return
    S.tr_keys[job.id] = key
    S.tr_watch = job.id
    S.tr_flash = (
        f"Job {job.id} started."
        if job.state is JobState.RUNNING
        else f"Job {job.id} queued at position {job.position}."
    )
    st.rerun()


def _url() -> str:
    return database_url()


# ---------------------------------------------------------------- queue and live view
def _cancel(manager: JobManager, job_id: str) -> None:
    try:
        manager.cancel(job_id, S.tr_keys[job_id])
    except JobError as exc:
        S.tr_live_error = str(exc)


def _follow() -> None:
    S.tr_run, S.tr_watch = S.tr_pick, None


def queue_panel(manager: JobManager) -> None:
    if S.get("tr_live_error"):
        st.error(md(S.pop("tr_live_error"), 400))
    jobs = [j for j in manager.jobs() if j.state in (JobState.RUNNING, JobState.QUEUED)]
    st.markdown(f"**Jobs** · {manager.running_count()} of {manager.max_jobs} slots busy")
    if not jobs:
        st.caption("No job is running or waiting.")
    for job in jobs:
        c = st.columns([3, 1], vertical_alignment="center")
        where = (
            f"running (run {job.run_id})"
            if job.state is JobState.RUNNING and job.run_id is not None
            else "starting"
            if job.state is JobState.RUNNING
            else f"queued, position {job.position}"
        )
        mine = job.id in S.tr_keys
        c[0].markdown(f"`{job.id}` {md(job.spec.label)} — {where}" + (" · yours" if mine else ""))
        if mine and not job.stop_requested:
            c[1].button(
                "Stop" if job.state is JobState.RUNNING else "Cancel",
                key=f"tr_stop_{job.id}",
                icon=":material/stop:",
                on_click=_cancel,
                args=(manager, job.id),
            )
        elif job.stop_requested:
            c[1].caption("stopping…")


def busy(manager: JobManager) -> bool:
    """A job of this server is running or waiting (the live view keeps refreshing)."""
    return any(j.state in (JobState.RUNNING, JobState.QUEUED) for j in manager.jobs())


def watched_job(manager: JobManager) -> Job | None:
    """The job this session started last, while it has no run yet (starting or queued);
    once it has one, the live view follows that run."""
    job_id = S.get("tr_watch")
    if not job_id:
        return None
    try:
        job = manager.get(job_id)
    except JobError:
        S.tr_watch = None
        return None
    if job.run_id is not None:
        S.tr_run = job.run_id
        return None
    if job.state in (JobState.RUNNING, JobState.QUEUED):
        return job
    if job.returncode:  # it ended before its run existed: say why, until the next Start
        lines = [ln for ln in job.log_tail.strip().splitlines() if ln.strip()]
        S.tr_start_error = f"Job {job.id} ended before training started: " + (
            " ".join(lines[-2:]) if lines else f"exit status {job.returncode}"
        )
        S.tr_watch = None
    return None


def live_panel() -> None:
    manager = job_manager(_url())
    factory = session_factory(quiet=True)
    queue_panel(manager)
    if factory is None:
        return
    pending = watched_job(manager)
    if S.get("tr_start_error"):
        st.error(md(S.tr_start_error, 600))
    if pending is not None:
        st.info(
            f"Job {pending.id} is starting: {manager.executor.starting}…"
            if pending.state is JobState.RUNNING
            else f"Job {pending.id} is queued at position {pending.position}.",
            icon=":material/hourglass_top:",
        )
        return
    run_id = S.tr_run or None
    with guard("read the training runs") as outcome, factory() as session:
        runs = tp.recent_runs(session)
        if not run_id and runs:
            run_id = S.tr_run = runs[0].run_id  # nothing chosen yet: the newest run
        view = tp.live_view(session, run_id) if run_id else None
    if not outcome.ok:
        S.tr_run, S.tr_watch = 0, None  # a deleted run: follow none
        return
    if view is None:
        st.info("No training run yet: set up a job below and start it.")
        return
    options = {r.run_id: f"run {r.run_id}: {r.name} ({r.status})" for r in runs}
    if view.run_id not in options:
        options = {view.run_id: f"run {view.run_id}: {view.name} ({view.status})"} | options
    S.tr_pick = view.run_id
    st.selectbox(
        "Follow run", list(options), format_func=options.get, key="tr_pick", on_change=_follow
    )
    draw_view(view, manager)
    before = S.tr_last_status.get(view.run_id)
    S.tr_last_status[view.run_id] = view.status
    if before is not None and before != view.status:
        refresh_store_lists()  # a finished model appears in every page's menu
        st.rerun()  # the whole page: live refresh on or off
    if S.tr_live_on and view.status != "running" and not busy(manager):
        st.rerun()  # nothing left to follow: the whole page turns the live refresh off


def draw_view(view: tp.LiveView, manager: JobManager) -> None:
    st.subheader(md(view.name))
    tiles = st.container(horizontal=True, gap="medium")  # wrap at half a screen
    for label, value in progress_tiles(view):
        tiles.metric(label, value, width="content")
    st.progress(view.fraction, text=f"{view.status} · {view.fraction:.0%}")
    if view.message:
        box = st.error if view.status == "failed" else st.info
        box(md(view.message, 600))
    st.plotly_chart(
        loss_figure(view.train_loss, view.val_loss),
        config={"displayModeBar": False},
        key="tr_loss",
    )
    if view.resumable and st.button(
        "Resume from the last checkpoint", icon=":material/replay:", key="tr_resume"
    ):
        submit(manager, JobSpec.resume(view.run_id, f"resume {view.name}"))
    if view.samples:
        (step, text), earlier = view.samples[0], view.samples[1:]
        st.markdown(f"**Latest sample** (after step {step:,}, same prompt every time)")
        st.code(text[:2000], language=None, wrap_lines=True)
        if earlier:
            with st.expander(f"{len(earlier)} earlier samples"):
                for step, text in earlier:
                    st.caption(f"after step {step:,}")
                    st.code(text[:2000], language=None, wrap_lines=True)


# ---------------------------------------------------------------- the page
init_state()
restore(S, "tr_form_copy", "tr_", KEPT)  # a click during the first load dropped some
st.title("Training")
st.caption("Train a small GPT on a corpus and watch it go from noise to text.")
warn(S.pop("tr_url_problems", []))
if S.tr_flash:
    st.success(md(S.tr_flash))
    S.tr_flash = None
if session_factory() is None:
    st.stop()
MANAGER = job_manager(_url())
st.caption(
    f"Jobs run {md(MANAGER.executor.where)}: close the tab and come back, the page reattaches."
)
if MANAGER.notice:  # GLASSBOX_RAY_ADDRESS names a cluster that did not answer
    st.warning(md(MANAGER.notice, 600), icon=":material/cloud_off:")
S.tr_live_on = busy(MANAGER) or (
    bool(S.tr_run) and S.tr_last_status.get(S.tr_run) in (None, "running")
)
st.fragment(live_panel, run_every=LIVE_EVERY_S if S.tr_live_on else None)()
with st.expander("New training job", expanded=True, icon=":material/add_circle:"):
    form, sources, checkpoint = form_panel()
    remember(S, "tr_form_copy", "tr_", KEPT)
    start_panel(form, sources, checkpoint)
write_url(form_params(), tp.form_values(form) | {"run": S.tr_run or 0}, omit_defaults=True)
