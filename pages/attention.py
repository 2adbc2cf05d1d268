"""Attention maps: every layer and head of a model, head types found for you, one head's maths.

The page reads a text with the sidebar's model once (``core.attention.view.analyse``: at most
``MAX_TOKENS`` tokens) and shows one of five views of the result: the **model view** (all
heads as one image, paged by layers, click a head to open it), **one head** (heatmap with
token labels, several query tokens combined, which query heads share its key/value head),
**statistics** (sortable, labelled, thresholds shown), **number by number** (x -> Q, K, V
-> scores -> softmax -> output for one head, the model's own numbers) and **compare two
texts** (difference maps centred at 0). Figures come from ``core.viz.attention``; the view
lives in the URL; an analysis can be saved as a run and reopened.
"""

from __future__ import annotations

from dataclasses import asdict, fields

import numpy as np
import pandas as pd
import streamlit as st

from core import registry
from core.attention import (
    EXPLAIN_MAX_TOKENS,
    MAX_TOKENS,
    AttentionInputError,
    Thresholds,
    explain_head,
    run_induction_probe,
)
from core.attention.explain import model_attention_output, step_panels, steps_intro
from core.attention.view import (
    AGAINST,
    LAYERS_PER_PAGE,
    MAX_QUERIES,
    TEXT_MAX_CHARS,
    VIEW_LABELS,
    VIEWS,
    SavedAnalysisError,
    ViewState,
    analyse,
    combine_queries,
    difference,
    gqa_phrase,
    grid_pick,
    head_differences,
    hover_lines,
    induction_heads,
    induction_line,
    kv_heads,
    line_picks,
    list_saved,
    load_analysis,
    n_pages,
    page_layers,
    same_statistics,
    save_analysis,
    sharing_note,
    statistics_rows,
    table_pick,
)
from core.model.gpt import InputError
from core.store import reading
from core.viz.attention import (
    combined_figure,
    difference_figure,
    head_heatmap_figure,
    lines_figure,
    matrix_figure,
    model_view_figure,
    scores_figure,
)
from ui.boot import ensure_app_shell
from ui.db import guard
from ui.saved import save_or_open_panel
from ui.shell import MODEL_KEY, choices
from ui.text import md
from ui.urlstate import Choice, Flag, Int, Items, Text, read_url, warn, write_url

ensure_app_shell()

S = st.session_state
D = ViewState()
THRESHOLDS = Thresholds()
LINES_MAX_TOKENS = 64  # the lines view draws at most this many tokens (19 px per token)
ERRORS = (AttentionInputError, InputError, ValueError)
# The link's entries, bounded as their widgets are (layer/head are cut to the model later).
PARAMS = {
    "text": Text(D.text, TEXT_MAX_CHARS),
    "other": Text(D.other, TEXT_MAX_CHARS),
    "view": Choice(D.view, VIEWS),
    "layer": Int(D.layer, 0, 999),
    "head": Int(D.head, 0, 999),
    "page": Int(D.page, 0, 999),
    "per_page": Choice(D.per_page, LAYERS_PER_PAGE),
    "queries": Items(D.queries, Int(0, 0, MAX_TOKENS), max_items=MAX_QUERIES, allow_empty=True),
    "probe": Flag(D.probe),
    "against": Choice(D.against, AGAINST),
    "other_model": Text(D.other_model, 200),
}

st.title("Attention maps")
st.caption(
    "Where every head of every layer looks while the model reads your text. Heads are "
    "measured and labelled for you (previous-token, first-token/sink, induction, local, "
    "broad); open one to see its map, combine several query tokens, compare two texts, or "
    "follow one head's computation number by number."
)


# ---------------------------------------------------------------- state, once per session
def _put(state: ViewState) -> None:
    for f in fields(ViewState):
        value = getattr(state, f.name)
        S[f"att_{f.name}"] = list(value) if isinstance(value, tuple) else value


def _state() -> ViewState:
    values = {f.name: S[f"att_{f.name}"] for f in fields(ViewState)}
    return ViewState(**(values | {"queries": tuple(values["queries"])}))


if "att_ready" not in S:
    values, problems = read_url(PARAMS)
    _put(ViewState(**values))
    S.att_url_problems, S.att_flash, S.att_error = problems, None, None
    S.att_cache, S.att_probe_result = {}, None
    S.att_last = _state()
    S.att_ready = True
# Streamlit forgets a widget's value on a run that does not draw it (another view, another
# page): such keys come back from the last state the page showed.
for _f in fields(ViewState):
    if f"att_{_f.name}" not in S:
        _value = getattr(S.att_last, _f.name)
        S[f"att_{_f.name}"] = list(_value) if isinstance(_value, tuple) else _value
warn(S.att_url_problems)
S.att_url_problems = []


# Keyed by the run's uid as well as its id: a deleted run's id must not serve its model.
@st.cache_resource(show_spinner="Loading the model…")
def _load_cached(model_id: str, uid: str):  # -> registry.LoadedModel, shared read-only
    return registry.load_model(model_id)


def _load(model_id: str):
    return _load_cached(model_id, registry.store_key(model_id))


model_id = choices().model_id
if model_id is None:
    st.info(
        "No model is available yet: train one with `python -m core.training` or add a checkpoint."
    )
    st.stop()
try:
    loaded = _load(model_id)
except Exception as exc:  # any load failure (missing file, bad checkpoint) becomes a message
    st.error(f"Could not load model {md(repr(model_id))}: {md(exc, 1000)}")
    st.stop()
model, tokenizer = loaded.model, loaded.tokenizer


def _analysis(text: str, mid: str | None = None):
    """The analysis of ``text`` by model ``mid`` (default: the sidebar's), computed once per
    (model, text) per session; at most three are kept (this text, the compared one, the
    other checkpoint's)."""
    mid = mid or model_id
    key = (mid, registry.store_key(mid), text)
    cache = S.att_cache
    if key not in cache:
        if len(cache) >= 3:
            cache.pop(next(iter(cache)))
        other = loaded if mid == model_id else _load(mid)
        cache[key] = analyse(other.model, other.tokenizer, text, model_id=mid)
    return cache[key]


@st.cache_data(ttl=10, show_spinner=False)
def _model_menu() -> dict[str, str]:
    return {m.id: m.label for m in registry.list_models()}


def _action(fn, *args) -> None:
    """A button callback; a core error becomes a message at the top of the page."""
    try:
        fn(*args)
    except ERRORS as exc:
        S.att_error = str(exc)


def _open_head(layer: int, head: int) -> None:
    S.att_layer, S.att_head, S.att_view = layer, head, "head"


def _on_grid_select() -> None:
    if picked := grid_pick(S.get("att_grid", {}).get("selection", {}).get("points", [])):
        _open_head(*picked)


def _on_line_select() -> None:
    if picked := line_picks(S.get("att_lines", {}).get("selection", {}).get("points", [])):
        S.att_queries = picked


def _on_table_select() -> None:
    selected = S.get("att_table", {}).get("selection", {}).get("rows", [])
    if picked := table_pick(selected, S.get("att_table_rows") or []):
        _open_head(*picked)


def _probe() -> None:
    """Run the induction probe for this model (bounded: at most 2 x 128 tokens)."""
    special = {tokenizer.encode_single_token(s) for s in tokenizer.special_tokens_set}
    S.att_probe_result = (model_id, run_induction_probe(model, seed=0, exclude=special))


def _find_induction() -> None:
    _probe()
    S.att_probe = True
    S.att_view = "model"


# ---------------------------------------------------------------- the text and the view
S.att_text = S.att_text[:TEXT_MAX_CHARS]
st.text_area(
    "Text",
    key="att_text",
    height=80,
    max_chars=TEXT_MAX_CHARS,
    help=f"Up to {MAX_TOKENS} tokens are read (and at most the model's context); special "
    "tokens such as <|endoftext|> are read as one token each.",
)
if S.get("att_view") is None:  # a segmented control can be clicked off
    S.att_view = "model"
st.segmented_control(
    "View", VIEWS, key="att_view", format_func=VIEW_LABELS.get, label_visibility="collapsed"
)


def _find_button(container=st) -> None:
    container.button(
        "Find the induction heads",
        key=f"att_find_{S.att_view}",
        on_click=_action,
        args=(_find_induction,),
        icon=":material/search:",
        help="Runs the standard probe: random tokens repeated twice. An induction head "
        "attends from the second copy to the token after the first occurrence of the "
        "current token.",
    )


try:
    analysis = _analysis(S.att_text)
except ERRORS as exc:
    st.error(md(exc, 1000), icon=":material/error:")
    st.stop()

lay = analysis.layout
if S.att_probe and not (S.att_probe_result and S.att_probe_result[0] == model_id):
    _action(_probe)  # the link or a reopened run asks for the induction heads
probe = S.att_probe_result[1] if S.att_probe_result and S.att_probe_result[0] == model_id else None
induction = probe.scores if (probe is not None and S.att_probe) else None
state = _state().clamp(lay, analysis.n_tokens)
for _name in ("layer", "head", "page", "per_page", "queries"):  # widgets not drawn yet
    _value = getattr(state, _name)
    S[f"att_{_name}"] = list(_value) if isinstance(_value, tuple) else _value
S.att_last = state
write_url(PARAMS, asdict(state), omit_defaults=True)

for flash, show in ((S.att_error, st.error), (S.att_flash, st.success)):
    if flash:
        show(md(flash, 1000))
S.att_error = S.att_flash = None
for notice in analysis.notices:
    st.info(md(notice, 600), icon=":material/info:")

st.caption(
    f"Model: {md(loaded.entry.label)} — {lay.n_layer} layers × {lay.n_head} heads"
    f"{gqa_phrase(lay)}. "
    f"Text: {analysis.n_tokens} tokens (model's own tokenizer, {md(tokenizer.name)})."
)
rows = statistics_rows(analysis, induction, THRESHOLDS)


def _layer_head_pickers(container=st) -> None:
    c1, c2 = container.columns(2)
    c1.number_input("Layer", 0, lay.n_layer - 1, key="att_layer")
    c2.number_input("Head", 0, lay.n_head - 1, key="att_head")


def _sharing_note(head: int) -> None:
    if note := sharing_note(lay, head):
        st.caption(note)


# ---------------------------------------------------------------- the five views
def model_view() -> None:
    c1, c2 = st.columns(2, vertical_alignment="bottom")
    c3 = c4 = st.container(horizontal=True, vertical_alignment="center", gap="large")  # wraps
    c1.selectbox("Layers per page", LAYERS_PER_PAGE, key="att_per_page")
    pages = n_pages(lay.n_layer, S.att_per_page)
    S.att_page = min(S.att_page, pages - 1)
    label = f"Page (0–{pages - 1})" if pages > 1 else "Page (all layers shown)"
    c2.number_input(label, 0, pages - 1, key="att_page", disabled=pages == 1)
    contrast = c3.toggle(
        "Each map on its own scale",
        key="att_contrast",
        help="Off: one 0..1 scale for every head (heads compare). On: faint patterns show.",
    )
    _find_button(c4)
    layers = list(page_layers(lay.n_layer, S.att_per_page, S.att_page))
    found = induction_heads(induction, THRESHOLDS) if induction is not None else []
    if analysis.n_tokens < 2:
        st.info("One token: every map is a single 1. Add text to see patterns.")
    fig = model_view_figure(
        analysis.attn,
        layers,
        hover=hover_lines(rows),
        highlight=found,
        selected=(state.layer, state.head),
        contrast=contrast,
        kv_heads=kv_heads(lay),
    )
    st.plotly_chart(
        fig,
        key="att_grid",
        on_select=_on_grid_select,
        selection_mode="points",
        config={"displayModeBar": False},
        width="stretch",
    )
    st.caption(
        f"Layers {layers[0]}–{layers[-1]}: rows are layers, columns heads; each thumbnail "
        "is one head's map (query rows down, key columns across). Hover a head for its "
        "label and statistics, click it to open it. White frame: the selected head"
        + ("; red frames: induction heads." if induction is not None else ".")
    )
    if induction is not None:
        st.markdown(induction_line(induction, found, THRESHOLDS.induction, probe.length))
        st.plotly_chart(
            scores_figure(
                induction, title="Induction score per head", highlight_at=THRESHOLDS.induction
            ),
            width="stretch",
        )


def head_view() -> None:
    _layer_head_pickers()
    layer, head = S.att_layer, S.att_head
    _sharing_note(head)
    row = next((r for r in rows if (r["layer"], r["head"]) == (layer, head)), None)
    if row:
        st.markdown(
            f"**L{layer}H{head}: {md(row['label'])}**"
            + (f" (also {md(row['also'])})" if row["also"] else "")
            + f" — entropy {row['entropy (bits)']} bits, mean distance {row['mean distance']}, "
            f"first token {row['first token']}, previous token {row['previous token']}"
        )
    labels = {i: f"{i} {t}" for i, t in enumerate(analysis.tokens)}
    st.multiselect(
        "Query tokens to combine",
        list(labels),
        key="att_queries",
        format_func=labels.get,
        max_selections=MAX_QUERIES,
        help="Their rows of the map are averaged: where these tokens look, together.",
    )
    weights = analysis.head(layer, head)
    style = st.segmented_control(
        "Show as", ("Heatmap", "Lines"), key="att_style", default="Heatmap"
    )
    if style == "Lines":
        others = [h for h in range(lay.n_head) if h != head]
        more = st.multiselect(
            "More heads of this layer", others, key="att_more_heads", max_selections=5,
            format_func=lambda h: f"head {h}",
        )  # fmt: skip
        n = min(analysis.n_tokens, LINES_MAX_TOKENS)
        if analysis.n_tokens > n:
            st.caption(f"Lines for the first {n} tokens; the heatmap shows all of them.")
        shown = {h: analysis.head(layer, h)[:n, :n] for h in (head, *more)}
        st.plotly_chart(
            lines_figure(shown, analysis.tokens[:n], queries=[q for q in S.att_queries if q < n]),
            key="att_lines",
            on_select=_on_line_select,
            selection_mode="points",
            config={"displayModeBar": False},
            width="stretch",
        )
        st.caption(
            "Left: each token as a query; right: the tokens it attends to. Darker, thicker "
            "lines carry more weight (below 0.02 not drawn). Click a token on the left to "
            "keep only its lines; clear the query tokens above to see all."
        )
    else:
        st.plotly_chart(
            head_heatmap_figure(
                weights, analysis.tokens, title=f"Layer {layer}, head {head}", queries=S.att_queries
            ),
            width="stretch",
        )
    if S.att_queries:
        values = combine_queries(weights, tuple(S.att_queries))
        st.plotly_chart(combined_figure(values, analysis.tokens, S.att_queries), width="stretch")


def statistics_view() -> None:
    if not rows:
        st.info("Statistics need at least two tokens (the first can only attend to itself).")
        return
    described = THRESHOLDS.describe()
    st.markdown(
        "**Labels** (a head gets the first that applies, in this order): "
        + "; ".join(f"**{md(k)}**: {md(v)}" for k, v in described.items())
        + ". Every statistic is a mean over the query tokens 2 … T (the first sees only "
        "itself). Click a column to sort, a row to open that head."
        + (
            ""
            if induction is not None
            else " Induction scores appear after **Find the induction heads**."
        )
    )
    _find_button()
    S.att_table_rows = rows
    st.dataframe(
        pd.DataFrame(rows),
        key="att_table",
        on_select=_on_table_select,
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
    )


def steps_view() -> None:
    _layer_head_pickers()
    layer, head = S.att_layer, S.att_head
    ids = analysis.ids[:EXPLAIN_MAX_TOKENS]
    if len(analysis.ids) > EXPLAIN_MAX_TOKENS:
        st.info(f"Number by number uses the first {EXPLAIN_MAX_TOKENS} tokens of the text.")
    steps = explain_head(model, ids, layer, head)
    own = model_attention_output(model, ids, layer)
    tokens = analysis.tokens[: len(ids)]
    st.markdown(steps_intro(steps, len(ids), float(np.abs(steps.output - own).max())))
    _sharing_note(head)
    for p in step_panels(steps, tokens, lay.n_head):
        st.markdown(f"**{p.title}** — {p.text}")
        fig = matrix_figure(
            p.matrix, tokens, p.columns, title="", xtitle=p.xtitle, diverging=p.diverging
        )
        st.plotly_chart(fig, width="stretch")


def compare_view() -> None:
    st.segmented_control(
        "Compare with",
        AGAINST,
        key="att_against",
        format_func={"text": "Another text", "model": "Another model (checkpoint)"}.get,
    )
    if S.att_against == "model":
        menu = {k: v for k, v in _model_menu().items() if k != model_id}
        if not menu:
            st.info(
                "No other model is available: train one (`python -m core.training`) or add "
                "a checkpoint to compare the same text in two checkpoints."
            )
            return
        if S.att_other_model not in menu:
            S.att_other_model = next(iter(menu))
        st.selectbox("Other model", list(menu), key="att_other_model", format_func=menu.get)
        try:
            other = _analysis(S.att_text, S.att_other_model)
        except Exception as exc:  # a model that fails to load becomes a message
            st.error(f"Could not load model {md(repr(S.att_other_model))}: {md(exc, 1000)}")
            return
        first, second = "this model", "the other model"
    else:
        st.text_area(
            "Second text",
            key="att_other",
            height=80,
            max_chars=TEXT_MAX_CHARS,
            placeholder="Another text to compare with the first, e.g. one word changed",
        )
        if not S.att_other.strip():
            st.info("Type a second text to see how each head's attention changes.")
            return
        other = _analysis(S.att_other)
        first, second = "the first text", "the second text"
    for notice in other.notices:
        st.info(f"{second.capitalize()}: {md(notice, 600)}", icon=":material/info:")
    _layer_head_pickers()
    diff = difference(analysis, other, S.att_layer, S.att_head)
    if diff.notice:
        st.caption(md(diff.notice))
    st.plotly_chart(
        difference_figure(
            diff.values,
            diff.tokens,
            title=f"Layer {S.att_layer}, head {S.att_head}: {second} minus {first}",
        ),
        width="stretch",
    )
    if diff.values.shape[0] >= 2:
        st.plotly_chart(
            scores_figure(
                head_differences(analysis, other),
                title="How much each head changed (mean total-variation distance per query)",
                zmax=None,
            ),
            width="stretch",
        )
    st.caption(
        f"Red: {second} puts more weight there; blue: less; white: the same. "
        "Labels “a | b” mark positions where the tokens differ."
    )


try:
    {
        "model": model_view,
        "head": head_view,
        "statistics": statistics_view,
        "steps": steps_view,
        "compare": compare_view,
    }[S.att_view]()
except ERRORS as exc:
    st.error(md(exc, 1000), icon=":material/error:")


# ---------------------------------------------------------------- save and reopen
def _save(Session) -> None:
    with guard("save the analysis") as outcome, Session.begin() as session:
        run_id = save_analysis(session, analysis, _state(), induction)
    if outcome.ok:
        S.att_flash = f"Saved as run #{run_id}. It is listed on the Saved runs page."


def _open(Session, run_id: int) -> None:
    with guard("open the analysis") as outcome, reading(Session) as session:
        saved = load_analysis(session, run_id)
    if not outcome.ok:
        return
    if saved.model_id != model_id:
        if saved.model_id not in {m.id for m in registry.list_models()}:
            raise SavedAnalysisError(
                f"Run #{run_id} was made with model {saved.model_id!r}, which is not available here."
            )
        S[MODEL_KEY] = saved.model_id
    _put(saved.state)
    S.att_flash = f"Opened run #{run_id} ({saved.name}); the maps are recomputed from the text."
    S.att_check = (run_id, saved.rows)


check = S.pop("att_check", None)
if check:
    matches = same_statistics(check[1], rows)
    st.caption(
        f"Run #{check[0]}: the recomputed statistics "
        + (
            "match the saved ones ✓"
            if matches
            else "differ from the saved ones (another model version?)"
        )
    )

with st.expander("Save or open an analysis"):
    save_or_open_panel(
        things="analyses",
        save_label="Save this analysis as a run",
        open_label="Open",
        open_icon=":material/folder_open:",
        key="att",
        list_saved=list_saved,
        label=lambda r: f"#{r.run_id} {r.name}",
        action=_action,
        save=_save,
        open_run=_open,
    )
