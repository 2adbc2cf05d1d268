"""Sampling: watch a model write one token at a time, see every decision, branch and compare.

A chat model (SmolLM2) also has a chat mode: system and user messages go through the model's
chat template and the assistant's reply is generated step by step until ``<|im_end|>``.
The page lays out ``core.sampling.page`` (the prompt or chat, the settings, what goes into
the link) around a ``BranchTree`` of samplers; figures come from ``core.viz.sampling``.
The link holds the prompt (or the chat's messages), the settings, N and the trajectory.
"""

from __future__ import annotations

import re
from functools import partial
from typing import NoReturn

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core import registry
from core.sampling import (
    DEFAULT_ORDER,
    MAX_SEED,
    PROCESSOR_LABELS,
    BranchTree,
    Sampler,
    SamplingConfig,
    SamplingConfigError,
    SamplingError,
    token_text,
)
from core.sampling import page as sp
from core.sampling.link import parse_trajectory, regenerate, trajectory_query
from core.sampling.persist import list_saved, load_trajectory, replay, save_trajectory
from core.store import DatabaseUnavailable, reading
from core.tokenization.display import display_token
from core.tokenization.gguf_tokenizer import ChatTemplateError
from core.viz.sampling import (
    branch_tree_figure,
    escape_markdown,
    probability_legend,
    stage_bars_figure,
    stage_summary,
    token_label,
    trajectory_figure,
)
from ui import presenter
from ui import sampling_panels as panels_ui
from ui.boot import ensure_app_shell
from ui.db import guard
from ui.jobs import run_quietly
from ui.models import load_model
from ui.saved import save_or_open_panel
from ui.shell import MODEL_KEY, choices
from ui.text import md
from ui.urlstate import Flag, Int, Text, query_of, read_url, replace_url, warn

ensure_app_shell()

CHAT, PLAIN = sp.CHAT, sp.PLAIN
RUN_N_MAX = sp.RUN_N_MAX
SETTINGS_PX, FIELD_PX = 340, 145  # the settings panel and one setting in it (two a row)
RUN_SLICE_S = 0.3  # a Run N redraws (and can be stopped) after each slice of this length
D = sp.Form()
# The page's own URL entries (a prompt or a chat's messages: links keep at most
# LINK_TEXT_CHARS characters of them); the sampling settings travel as
# SamplingConfig.to_query(), the trajectory as trajectory_query().
PARAMS = {
    "prompt": Text(D.prompt.prompt, sp.LINK_TEXT_CHARS),
    "chat": Flag(True),
    "system": Text(D.prompt.system, sp.LINK_TEXT_CHARS),
    "user": Text(D.prompt.user, sp.LINK_TEXT_CHARS),
    "cache": Flag(D.cache),
    "n": Int(D.n, 1, RUN_N_MAX),
}
ERRORS = (
    SamplingError,
    SamplingConfigError,
    FloatingPointError,
    ValueError,
    DatabaseUnavailable,
)

st.title("Sampling")
st.caption(
    "A language model writes one token at a time. Step through it, see the model's top candidates and "
    "what each processor (temperature, top-k, top-p, min-p, penalties) did to them, click a "
    "token to inspect that step, branch with another candidate, and compare settings."
)


# ---------------------------------------------------------------- state, read once per session
FORM_KEYS = tuple(SamplingConfig().to_form())  # widget key = "smp_" + setting name


def _set_widgets(prompt: sp.Prompt, cfg: SamplingConfig) -> None:
    st.session_state.smp_prompt = prompt.prompt
    st.session_state.smp_mode = prompt.mode
    st.session_state.smp_system = prompt.system
    st.session_state.smp_user = prompt.user
    for name, value in cfg.to_form().items():
        st.session_state[f"smp_{name}"] = value


def _config_from_widgets() -> SamplingConfig:
    return SamplingConfig.from_form({k: st.session_state[f"smp_{k}"] for k in FORM_KEYS})


def _prompt_from_widgets() -> sp.Prompt:
    s = st.session_state
    return sp.Prompt(mode=s.smp_mode or CHAT, prompt=s.smp_prompt, system=s.smp_system,
                     user=s.smp_user)  # fmt: skip


def _init_widgets() -> None:
    """Fill the settings widgets: from the URL (a shared link) on the first visit, else from
    the copy kept in ``smp_form`` (Streamlit drops widget state while another page is shown).
    """
    q = st.query_params
    if "smp_form" in st.session_state and not q:
        form: sp.Form = st.session_state.smp_form
        _set_widgets(form.prompt, form.config)
        st.session_state.smp_cache, st.session_state.smp_n = form.cache, form.n
        return
    values, problems = read_url(PARAMS)
    st.session_state.smp_url_problems = problems
    try:
        from_url = SamplingConfig.from_query(q.to_dict())
        from_url.resolve(1_000_000)  # only the vocabulary-dependent checks are left for later
    except SamplingConfigError as exc:
        st.session_state.smp_error = f"Ignored the settings in the link: {exc}"
        from_url = SamplingConfig()
    _set_widgets(sp.prompt_from_link(values, set(q.keys())), from_url)
    st.session_state.smp_cache = values["cache"]
    st.session_state.smp_n = values["n"]
    # The link's trajectory is regenerated once the model is loaded (its vocabulary checks it).
    st.session_state.smp_link_steps = {k: q[k] for k in ("steps", "forced") if k in q}


def init_state() -> None:
    for key, default in (
        ("smp_tree", None),
        ("smp_running", None),  # a Run N in progress: {"done": steps so far, "total": N}
        ("smp_signature", None),
        ("smp_error", None),
        ("smp_flash", None),
        ("smp_compare", None),
        ("smp_cache_cmp", None),
        ("smp_url_problems", []),
    ):
        st.session_state.setdefault(key, default)
    if "smp_temperature" not in st.session_state:
        _init_widgets()
    # Keep the values of the widgets one mode hides (Streamlit forgets a widget not drawn).
    for key in ("smp_prompt", "smp_mode", "smp_system", "smp_user"):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


init_state()


def _load(model_id: str):  # -> registry.LoadedModel, shared read-only (ui.models' cache)
    with st.spinner("Loading the model…"):
        return load_model(model_id)


def _action(fn, *args) -> None:
    """Run a button callback; a core error becomes a message shown at the top of the page."""
    try:
        fn(*args)
    except ERRORS as exc:
        st.session_state.smp_error = str(exc)


# ---------------------------------------------------------------- model and settings
model_id = choices().model_id
if model_id is None:
    st.info(
        "No model is available yet: train one on the Training page (or with "
        "`python -m core.training`) or add a checkpoint."
    )
    st.stop()
try:
    loaded = _load(model_id)
except Exception as exc:  # any load failure (missing file, bad checkpoint) becomes a message
    st.error(f"Could not load model {md(repr(model_id))}: {md(exc, 1000)}")
    st.stop()
model, tokenizer = loaded.model, loaded.tokenizer
chat_template: str | None = getattr(loaded, "chat_template", None)
st.caption(
    f"Model: {md(loaded.entry.label)}. Text is encoded with the model's own "
    f"tokenizer ({md(tokenizer.name)}, {tokenizer.n_vocab:,} tokens); the "
    "sidebar's Tokenizer choice applies to the tokenization pages."
)


def settings_panel(chat_template: str | None) -> None:
    """Mode, the prompt or the chat's messages, every setting, the processors' order."""
    if chat_template is not None:
        st.segmented_control(
            "Mode", sp.MODES, key="smp_mode",
            help="Chat: your messages go through the model's chat template and the model "
            "writes the assistant's reply. Plain text: the model continues your text.",
        )  # fmt: skip
    if _prompt_from_widgets().is_chat(chat_template is not None):
        st.text_area("System message", key="smp_system", height=68,
                     help="Empty = the template's default system message.")  # fmt: skip
        st.text_area("User message", key="smp_user", height=68)
    else:
        st.text_area("Prompt", key="smp_prompt", height=90,
                     help="Empty = start a new document from <|endoftext|>.")  # fmt: skip
    numbers = st.container(horizontal=True)
    for n in sp.NUMBER_SETTINGS:
        widget = numbers.slider if n.slider else numbers.number_input
        widget(n.label, n.lo, n.hi, step=n.step, key=f"smp_{n.setting}", help=n.help,
               width=FIELD_PX)  # fmt: skip
    numbers.number_input("Seed", 0, MAX_SEED, step=1, key="smp_seed", width=FIELD_PX,
                         help="Same seed + same settings = same tokens.")  # fmt: skip
    flags = numbers.container(width=FIELD_PX, gap="small")
    flags.checkbox("Greedy", key="smp_greedy", help="Always take the most likely token.")
    flags.checkbox("Stop at end-of-text", key="smp_stop_at_eos")
    st.multiselect(
        "Processors, in the order they run",
        list(DEFAULT_ORDER),
        key="smp_order",
        format_func=lambda p: PROCESSOR_LABELS[p],
        help="Remove a processor to switch it off; the order changes the result.",
    )
    st.toggle(
        "KV cache",
        key="smp_cache",
        help="Keep each layer's keys/values so a step only computes the new token. "
        "Tokens are identical either way; only the latency changes.",
    )


# Panels and controls sit in wrapping rows: at half a screen the trajectory moves below the
# settings instead of squeezing every label to one letter per line.
panels = st.container(horizontal=True, gap="large")
settings_col = panels.container(width=SETTINGS_PX)
main_col = panels.container(width="stretch")
with settings_col.container(border=True):
    settings_panel(chat_template)

config = _config_from_widgets()
form = sp.Form(
    prompt=_prompt_from_widgets(),
    config=config,
    cache=st.session_state.smp_cache,
    n=st.session_state.smp_n,
)
st.session_state.smp_form = form
try:  # a chat's template is the model file's: rendered in Jinja's sandbox
    prompt = form.prompt.text(chat_template)
except ChatTemplateError as exc:
    main_col.error(md(exc, 1000))
    st.stop()
# The link keeps the plain prompt or the chat's messages (not the chat's render).
link_text = sp.link_values(form.prompt, chat_template is not None)
st.session_state.smp_link_base = config.to_query() | query_of(
    PARAMS, link_text.values | {"cache": form.cache, "n": form.n}
)
st.session_state.smp_link_text_kept = link_text.complete
with settings_col:
    warn(st.session_state.smp_url_problems)
    st.session_state.smp_url_problems = []
    if link_text.note:
        st.caption(link_text.note)

signature = (model_id, prompt, config.to_json())
if st.session_state.smp_tree is None or st.session_state.smp_signature != signature:
    try:
        root = Sampler(model, tokenizer, prompt, config, use_cache=st.session_state.smp_cache)
    except ERRORS as exc:
        main_col.error(md(exc, 1000))
        st.stop()
    if st.session_state.smp_tree is not None and len(st.session_state.smp_tree.sampler):
        st.toast("Prompt, model or settings changed: started a new trajectory.")
    st.session_state.smp_tree = BranchTree(root)
    st.session_state.smp_signature = signature
    st.session_state.smp_running = None
    st.session_state.smp_pick = None


def _link() -> dict[str, str]:
    """This view's link: prompt or chat, settings, N and the trajectory."""
    entries = st.session_state.smp_link_base | query_of(PARAMS, {"n": st.session_state.smp_n})
    if st.session_state.smp_link_text_kept:  # no steps without the text they continue
        entries |= trajectory_query(st.session_state.smp_tree.sampler)
    return entries


waits = sp.chat_link_waits(form.prompt, chat_template is not None)
if st.session_state.get("smp_link_steps") and waits:  # kept until a chat model is picked
    main_col.info(waits, icon=":material/chat:")
link_steps = None if waits else st.session_state.pop("smp_link_steps", None)
if link_steps:  # a shared link: show the trajectory it was made with
    try:
        steps, forced = parse_trajectory(link_steps, tokenizer.n_vocab)
        with st.spinner(f"Regenerating the link's {steps:,} steps…"):
            regenerate(st.session_state.smp_tree.sampler, steps, forced)
    except ERRORS as exc:
        st.session_state.smp_error = f"Could not regenerate the link's trajectory: {exc}"
replace_url(_link())


# ---------------------------------------------------------------- stepping
def _next_token() -> None:
    st.session_state.smp_tree.sampler.step()
    st.session_state.smp_pick = None


def _reset() -> None:
    st.session_state.smp_running = None
    st.session_state.smp_tree = BranchTree(
        Sampler(model, tokenizer, prompt, config, use_cache=st.session_state.smp_cache)
    )
    st.session_state.smp_pick = None


def _branch(at: int, token_id: int) -> None:
    t = st.session_state.smp_tree
    t.fork(t.active_id, at, token_id)
    st.session_state.smp_pick = None


def _rewind_to(at: int) -> None:
    s = st.session_state.smp_tree.sampler
    s.rewind(len(s) - at - 1)
    st.session_state.smp_pick = None


def _activate() -> None:
    st.session_state.smp_tree.activate(st.session_state.smp_branch)
    st.session_state.smp_pick = None


def _marker(text: str) -> str:
    """A special token's text for Markdown: ``<|name|>`` as is, anything else escaped."""
    return text if re.fullmatch(r"<\|\w+\|>", text) else escape_markdown(text)


_fmt_p = sp.fmt_p


def step_view(records: list, current: int) -> None:
    """Metrics, before/after bars and branching controls of one step."""
    rec = records[current]
    st.subheader(f"Step {current + 1}: “{escape_markdown(display_token(rec.token_text))}”")
    row = st.container(horizontal=True, gap="medium")  # tiles wrap to a second row if narrow
    tile = partial(row.metric, width="content")
    tile("Rank (model)", rec.rank + 1)
    tile("p sampled", _fmt_p(rec.prob), help="After the processors.")
    tile("p model", _fmt_p(rec.raw_prob), help="The model's own probability.")
    tile("Entropy (nats)", f"{rec.entropy:.2f}")
    tile(
        "Latency",
        f"{rec.latency_ms:.0f} ms",
        help=f"{rec.new_tokens} token(s) fed to the model, "
        f"{'with' if rec.cached else 'without'} KV cache",
    )
    who, why = sp.chosen_by(rec)
    tile("Chosen by", who, help=why)
    for notice in rec.notices:
        st.warning(notice)
    st.plotly_chart(stage_bars_figure(rec), key="smp_bars")
    st.caption(f"Candidates left after each stage: {stage_summary(rec)}")
    cand = {c.token_id: c for c in rec.candidates if c.token_id != rec.token_id}
    k1 = k2 = k3 = st.container(horizontal=True, vertical_alignment="bottom")
    alt = k1.selectbox(
        "Another candidate for this step",
        list(cand),
        key="smp_alt",
        width=320,
        format_func=lambda t: f"“{display_token(cand[t].text)}” (p={_fmt_p(cand[t].prob)}, id {t})",
    )
    k2.button(
        "Branch with it",
        key="smp_branch_btn",
        on_click=_action,
        args=(_branch, current, alt),
        disabled=alt is None,
        icon=":material/call_split:",
    )
    k3.button(
        "Rewind to this step",
        key="smp_rewind",
        on_click=_action,
        args=(_rewind_to, current),
        disabled=current == len(records) - 1,
        icon=":material/undo:",
    )
    st.plotly_chart(trajectory_figure(records, selected=current), key="smp_lines")


def branches_view(tree: BranchTree) -> None:
    st.subheader("Branches")
    st.plotly_chart(branch_tree_figure(tree.nodes()), key="smp_tree_fig")
    st.session_state.smp_branch = tree.active_id
    st.radio(
        "Show branch",
        list(tree.branches),
        key="smp_branch",
        horizontal=True,
        format_func=lambda b: tree.branches[b].label,
        on_change=_activate,
    )


def show_notices() -> None:
    """The last action's error, and a confirmation (a toast: where the eye is)."""
    if st.session_state.smp_error:
        st.error(md(st.session_state.smp_error, 1000))
        st.session_state.smp_error = None
    if st.session_state.smp_flash:
        st.toast(st.session_state.smp_flash, icon=":material/check_circle:")
        st.session_state.smp_flash = None


def _stop_run() -> None:
    st.session_state.smp_running = None


def _continue_run() -> NoReturn:
    """Run the next slice of a Run N: rerun this fragment (the whole page in a full run)."""
    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:  # a fragment-scoped rerun is refused during a full run
        st.rerun()


@st.fragment
def trajectory_view() -> None:
    """Buttons, text and the inspected step: reruns alone when a step is added (fast)."""
    tree: BranchTree = st.session_state.smp_tree
    sampler = tree.sampler
    sampler.set_use_cache(st.session_state.smp_cache)
    show_notices()
    for notice in sampler.notices:
        st.info(notice, icon=":material/info:")

    b1 = b2 = b3 = b4 = b5 = st.container(horizontal=True, vertical_alignment="bottom")
    b1.button(
        "Next token",
        key="smp_next",
        type="primary",
        on_click=_action,
        args=(_next_token,),
        disabled=sampler.finished,
        icon=":material/skip_next:",
    )
    b2.number_input("N", 1, RUN_N_MAX, key="smp_n", label_visibility="collapsed", width=110)
    run_clicked = b3.button(
        "Run N", key="smp_run", disabled=sampler.finished, icon=":material/play_arrow:"
    )
    b4.button(
        "Stop", key="smp_stop", on_click=_stop_run, icon=":material/stop:",
        help="Stops a running Run N.",
    )  # fmt: skip
    b5.button("Reset", key="smp_reset", on_click=_reset, icon=":material/restart_alt:")

    text_slot = st.empty()
    if run_clicked:
        st.session_state.smp_running = {"done": 0, "total": int(st.session_state.smp_n)}
    run = st.session_state.smp_running
    if run is not None:
        # A slice of steps per fragment run: a Stop click can only be seen between runs
        # (Streamlit does not interrupt a fragment for a click inside it).
        progress = st.progress(
            run["done"] / run["total"], text=f"Generated {run['done']} of {run['total']} tokens"
        )
        try:
            left = run["total"] - run["done"]  # a slice on the shared worker pool (ui/jobs.py)
            run["done"] += len(run_quietly(lambda: sampler.run_within(left, RUN_SLICE_S)))
        except ERRORS as exc:
            st.error(md(exc, 1000))
            run["done"] = run["total"]
        if run["done"] < run["total"] and not sampler.finished:
            text_slot.markdown(" ".join(token_label(r.token_text, r.prob) for r in sampler.records))
            progress.progress(
                run["done"] / run["total"],
                text=f"Generated {run['done']} of {run['total']} tokens",
            )
            _continue_run()
        progress.empty()
        st.session_state.smp_running = None
        st.session_state.smp_pick = None

    records = sampler.records
    with text_slot.container():
        start = ""
        if sampler.start_token is not None:
            start = (
                " after the start token "
                f"{escape_markdown(token_text(sampler.tokenizer, sampler.start_token))}, "
                "which began every window this model was trained on"
            )
        st.markdown(
            f"**Prompt** ({len(sampler.prompt_ids) - bool(start)} tokens{start}): "
            f":gray[{escape_markdown(sampler.prompt_text)}]"
        )
        if records:
            st.pills(
                "Generated tokens: click one to inspect that step",
                list(range(len(records))),
                format_func=lambda i: token_label(records[i].token_text, records[i].prob),
                key="smp_pick",
            )
            st.caption(
                f"Probability of the chosen token: {probability_legend()}   ·   "
                f"{len(records)} tokens in {tree.active.label}"
            )
        else:
            st.caption("Press **Next token** or **Run N** to start generating.")
    if sampler.finished:
        st.success(
            f"The model ended the text with {_marker(sampler.eos_text)}. "
            "Rewind or branch to go on.",
            icon=":material/flag:",
        )

    if records:
        pick = st.session_state.get("smp_pick")
        step_view(
            records, pick if isinstance(pick, int) and pick < len(records) else len(records) - 1
        )
    if len(tree) > 1:
        branches_view(tree)
    replace_url(_link())  # N and the steps change here, in the fragment


with main_col:
    trajectory_view()
presenter.step_key("smp_next")  # presenter mode: → or Page Down presses Next token


# ---------------------------------------------------------------- KV cache, comparison, runs
def _save(Session) -> None:
    if not st.session_state.smp_tree.sampler.records:
        raise SamplingError("Nothing to save yet: generate at least one token first.")
    with guard("save the trajectory") as outcome, Session.begin() as session:
        run_id = save_trajectory(session, st.session_state.smp_tree.sampler, model_id=model_id)
    if outcome.ok:
        st.session_state.smp_flash = f"Saved as run #{run_id}. Compare it on the Saved runs page."


def _open(Session, run_id: int) -> None:
    with guard("open the trajectory") as outcome, reading(Session) as session:
        saved = load_trajectory(session, run_id)
    if not outcome.ok:
        return
    target = saved.model_id or model_id
    if target != model_id:
        if target not in {m.id for m in registry.list_models()}:
            raise SamplingError(
                f"The run was saved with model {target!r}, which is not available here."
            )
        st.session_state[MODEL_KEY] = target
    result = replay(_load(target).model, _load(target).tokenizer, saved)
    # The saved prompt as the model read it (plain text, chat markers included).
    _set_widgets(sp.opened_prompt(saved.prompt, _prompt_from_widgets()), saved.config)
    st.session_state.smp_cache = saved.use_cache
    st.session_state.smp_tree = BranchTree(result.sampler)
    st.session_state.smp_signature = (target, saved.prompt, _config_from_widgets().to_json())
    st.session_state.smp_pick = None
    st.session_state.smp_flash = sp.opened_message(run_id, result, len(saved.records))


run = panels_ui.Run(model, tokenizer, prompt, config, ERRORS)
with st.expander("KV cache: measured latency"):
    panels_ui.cache_panel(run)
with st.expander("Compare two settings on the same prompt and seed"):
    panels_ui.compare_panel(run)
with st.expander("Save or open a trajectory", expanded=False):
    save_or_open_panel(
        things="trajectories",
        save_label="Save this trajectory as a run",
        open_label="Open and replay",
        open_icon=":material/replay:",
        key="smp",
        list_saved=list_saved,
        label=lambda r: f"#{r.run_id} {r.name} ({r.tokens} tokens)",
        action=_action,
        save=_save,
        open_run=_open,
        notices=show_notices,  # a fragment: a Save redraws this panel, not the charts
    )
