"""Embedding spaces: a model's token table projected, neighbours, arithmetic, positions, context."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from core import registry
from core.embeddings import (
    MAX_K,
    MAX_TSNE_POINTS,
    METHOD_LABELS,
    METHODS,
    METRICS,
    EmbeddingError,
    ProjectionCache,
    arithmetic,
    compare_tables,
    divergence,
    find_term,
    neighbours_of,
    position_view,
    project_cached,
    project_contexts,
    projection_key,
    resolve_term,
    run_context,
    table_fingerprint,
    vocab_of,
)
from core.embeddings.neighbours import MAX_TERM_CHARS
from core.embeddings.positional import LearnedPositions
from core.embeddings.view import (
    COLOURS,
    DEFAULT_TSNE_SAMPLE,
    MAX_CONTEXT_CHARS,
    MAX_SEARCH_CHARS,
    MAX_SELECTION,
    TAB_LABELS,
    TABS,
    EmbeddingView,
    list_views,
    load_view,
    point_groups,
    positions_of,
    rows_of,
    save_view,
)
from core.model import CheckpointError
from core.model.gpt import InputError
from core.store import glassbox_home, reading
from core.viz.embeddings import (
    comparison_figure,
    context_paths,
    divergence_figure,
    hover_texts,
    position_components,
    position_similarity,
    rotary_cosines,
    rotary_wavelengths,
    token_scatter,
)
from ui.boot import ensure_app_shell
from ui.db import guard, session_factory
from ui.shell import MODEL_KEY, choices, model_label, model_options
from ui.text import md
from ui.urlstate import Choice, Float, Int, Items, Text, read_url, warn, write_url
from ui.work import check_alive

ensure_app_shell()

D = EmbeddingView()  # defaults
# URL entry -> widget key "emb_<entry>"; the same bounds as EmbeddingView's.
PARAMS = {
    "tab": Choice(D.tab, TABS),
    "method": Choice(D.method, METHODS),
    "dims": Choice(D.dims, (2, 3)),
    "sample": Int(D.sample, 0, 1_000_000),
    "perplexity": Float(D.perplexity, 1.0, 200.0),
    "seed": Int(D.seed, 0, 2**31 - 1),
    "colour": Choice(D.colour, COLOURS),
    "search": Text(D.search, MAX_SEARCH_CHARS),
    "term": Text(D.term, MAX_TERM_CHARS),
    "metric": Choice(D.metric, METRICS),
    "k": Int(D.k, 1, MAX_K),
    "a": Text(D.a, MAX_TERM_CHARS),
    "b": Text(D.b, MAX_TERM_CHARS),
    "c": Text(D.c, MAX_TERM_CHARS),
    "text_a": Text(D.text_a, MAX_CONTEXT_CHARS),
    "text_b": Text(D.text_b, MAX_CONTEXT_CHARS),
    "word": Text(D.word, MAX_TERM_CHARS),
    "selection": Items((), Int(0, 0, 10_000_000), MAX_SELECTION, allow_empty=True),
    "other_model": Text(D.other_model, 200),
}
# The model of a shared link: offered as a switch (the sidebar owns the choice).
MODEL_PARAM = {"model": Text("", 200)}
COMPARE_POINTS = 5_000  # tokens drawn per model in the comparison (all are aligned)
MOST_MOVED = 15
ERRORS = (EmbeddingError, CheckpointError, InputError)

st.title("Embedding spaces")
st.caption(
    "Every token of the model is a point in a space of a few hundred dimensions. Project the "
    "whole table to 2-D or 3-D, find a token's nearest neighbours, try a − b + c, see how the "
    "model encodes position, and follow one sentence's tokens through the layers."
)


# ---------------------------------------------------------------- state, read once per session
def _put_view(view: EmbeddingView) -> None:
    st.session_state.emb_copy = {name: getattr(view, name) for name in PARAMS}
    for name in PARAMS:
        st.session_state[f"emb_{name}"] = getattr(view, name)


# The values live in "emb_copy" (Streamlit forgets a widget's state on a rerun that does
# not draw it, e.g. the token table's widgets while the Positions tab is shown); each run
# puts back the ones it forgot. The link is read on the first visit of a session.
if "emb_copy" not in st.session_state:
    values, problems = read_url(PARAMS)
    if values["method"] == "tsne" and values["sample"] > MAX_TSNE_POINTS:
        values["sample"] = MAX_TSNE_POINTS
        problems.append(f"sample: t-SNE takes at most {MAX_TSNE_POINTS:,} points (kept that)")
    st.session_state.emb_link_model = read_url(MODEL_PARAM)[0]["model"]
    st.session_state.emb_copy = values
    st.session_state.emb_problems = problems
for _name, _value in st.session_state.emb_copy.items():
    st.session_state.setdefault(f"emb_{_name}", _value)
warn(st.session_state.pop("emb_problems", []))
if "emb_flash" in st.session_state:
    st.success(st.session_state.pop("emb_flash"), icon=":material/check:")


@st.cache_resource(show_spinner="Loading the model…")
def _load_cached(model_id: str, uid: str):  # -> registry.LoadedModel, shared read-only
    return registry.load_model(model_id)


@st.cache_resource(show_spinner="Reading the vocabulary…")
def _model_facts(model_id: str, uid: str):  # -> (table, identity, vocab), shared read-only
    loaded = _load_cached(model_id, uid)
    table = loaded.model.token_embedding_matrix().detach().to("cpu").float()
    identity = f"{model_id}|{uid}|{table_fingerprint(table)}"
    return table, identity, vocab_of(loaded.tokenizer, table.shape[0])


@st.cache_resource
def _projections(folder: str) -> ProjectionCache:  # one per server and $GLASSBOX_HOME
    return ProjectionCache(Path(folder))


def _use_model(linked: str) -> None:
    st.session_state[MODEL_KEY] = linked
    st.session_state.emb_link_model = ""


model_id = choices().model_id
if model_id is None:
    st.info("There is no model to look at: the built-in checkpoint is missing.")
    st.stop()
try:
    uid = registry.store_key(model_id)
    loaded = _load_cached(model_id, uid)
    table, identity, vocab = _model_facts(model_id, uid)
except ERRORS as exc:
    st.error(f"The model cannot be used here: {md(exc)}")
    st.stop()
cache = _projections(str(glassbox_home() / "cache" / "embeddings"))
_linked = st.session_state.get("emb_link_model") or ""
if _linked and _linked != model_id:
    _options = model_options()
    if _linked in _options:
        st.info(f"The link was made with {md(_options[_linked])}.", icon=":material/swap_horiz:")
        st.button(f"Use {md(_options[_linked], 80)}", key="emb_use_linked",
                  on_click=_use_model, args=(_linked,))  # fmt: skip
    else:
        st.warning(f"The link's model {md(_linked, 80)} is not on this server.")
st.caption(
    f"Model: {md(model_label(model_id))} · {table.shape[0]:,} tokens × width "
    f"{table.shape[1]} · pick another in the sidebar."
)


def _view() -> EmbeddingView:
    values = {name: st.session_state[f"emb_{name}"] for name in PARAMS}
    values["selection"] = tuple(values["selection"])
    return EmbeddingView(model_id=model_id, **values)


def _terms_of(*texts: str):
    return [resolve_term(t, loaded.tokenizer, table.shape[0]) for t in texts]


# ---------------------------------------------------------------- saved views
def _open_saved(run_id: int) -> None:
    factory = session_factory(quiet=True)
    if factory is None:
        st.session_state.emb_error = "the run store is unavailable"
        return
    try:
        with reading(factory) as session:
            view = load_view(session, run_id)
    except EmbeddingError as exc:
        st.session_state.emb_error = str(exc)
        return
    except SQLAlchemyError as exc:  # the store stopped answering between two clicks
        st.session_state.emb_error = f"the run store did not answer: {str(exc)[:200]}"
        return
    _put_view(view)
    st.session_state.emb_flash = f"Opened saved view {run_id}."
    if view.model_id != model_id:
        if view.model_id in model_options():
            st.session_state[MODEL_KEY] = view.model_id
        else:  # the view is shown with the sidebar's model instead
            st.session_state.emb_error = (
                f"saved view {run_id} was made with the model {view.model_id!r}, which is not "
                "on this server; it is shown with the sidebar's model"
            )


def _saved_views_panel(view: EmbeddingView, summary: dict) -> None:
    factory = session_factory(quiet=True)
    with st.expander("Save or open a view", icon=":material/bookmark:"):
        if factory is None:
            st.caption("The run store is unavailable: views cannot be saved right now.")
            return
        name = st.text_input(
            "Name",
            value=f"{model_label(model_id)[:60]}: {view.method} {view.dims}-D",
            max_chars=120,
            key="emb_save_name",
        )
        if st.button("Save this view", key="emb_save", icon=":material/save:"):
            with guard("save the view") as outcome, factory.begin() as session:
                run_id = save_view(
                    session, view, name=name or "embedding view", model_key=identity,
                    summary=summary,
                )  # fmt: skip
            if outcome.ok:
                st.success(f"Saved as run {run_id}; it is listed on Saved runs too.")
        with guard("list the saved views") as outcome, reading(factory) as session:
            saved = list_views(session)
        if outcome.ok and saved:
            labels = {s.run_id: f"{s.run_id}: {s.name}" for s in saved}
            pick = st.selectbox(
                "Saved views", list(labels), format_func=lambda i: labels[i], key="emb_pick"
            )
            st.button("Open", key="emb_open", on_click=_open_saved, args=(pick,))


if "emb_error" in st.session_state:
    st.error(md(st.session_state.pop("emb_error")))


# ---------------------------------------------------------------- token table
def _progress_bar(label: str):
    bar = st.progress(0.0, text=label)

    def progress(fraction: float, what: str) -> None:
        check_alive()  # a closed tab stops the work; nothing half-done is cached
        bar.progress(min(max(fraction, 0.0), 1.0), text=f"{label}: {what}")

    return bar, progress


def _keep(ids: tuple[int, ...]) -> None:
    st.session_state.emb_selection = ids
    st.session_state.emb_colour = "selection"


def _table_tab(view: EmbeddingView) -> None:
    # two rows of two: at 900 px a row of four clips the segmented controls' options
    c1, c2 = st.columns(2)
    c1.segmented_control(
        "Projection", METHODS, format_func=METHOD_LABELS.get, key="emb_method", required=True
    )
    c2.segmented_control("Dimensions", (2, 3), format_func=lambda d: f"{d}-D", key="emb_dims",
                         required=True)  # fmt: skip
    c3, c4 = st.columns(2)
    c3.radio("Colour by", COLOURS, key="emb_colour", horizontal=True,
             format_func={"kind": "token kind", "search": "search", "selection": "selection"}.get)  # fmt: skip
    c4.text_input("Search tokens", key="emb_search", max_chars=MAX_SEARCH_CHARS,
                  placeholder="e.g. ing", disabled=view.colour != "search")  # fmt: skip
    tsne = view.method == "tsne"
    top = MAX_TSNE_POINTS if tsne else table.shape[0]
    if st.session_state.emb_sample > top:  # a link's sample for another model or method
        st.session_state.emb_sample = top
        view = view.with_(sample=top)
    with st.expander("Sample, perplexity, seed", expanded=tsne):
        s1, s2, s3 = st.columns(3)
        s1.number_input(
            "Sample (tokens)",
            0,
            top,
            key="emb_sample",
            step=500,
            help=f"0 = every token for PCA, {DEFAULT_TSNE_SAMPLE:,} for t-SNE. t-SNE takes at "
            f"most {MAX_TSNE_POINTS:,} (a seeded random sample); PCA always fits every token.",
        )
        s2.number_input("Perplexity", 1.0, 200.0, key="emb_perplexity", step=5.0,
                        disabled=not tsne,
                        help="t-SNE: how many neighbours each point tries to keep close.")  # fmt: skip
        s3.number_input("Seed", 0, 2**31 - 1, key="emb_seed", help="The sample and t-SNE's start.")
    settings = view.settings()
    key = projection_key(identity, settings)
    n_points = min(settings.sample or table.shape[0], table.shape[0])
    if tsne and key not in cache:
        st.info(
            f"t-SNE of {n_points:,} of {table.shape[0]:,} tokens runs on the server (about "
            f"{max(5, n_points // 100)} s here) and is cached for everyone afterwards.",
            icon=":material/hourglass:",
        )
        if not st.button("Compute t-SNE", key="emb_run", type="primary"):
            return
    bar, progress = _progress_bar(f"{METHOD_LABELS[settings.method]} of {n_points:,} tokens")
    try:
        projection, from_cache = project_cached(table, identity, settings, cache, progress)
    except EmbeddingError as exc:
        bar.empty()
        st.error(md(exc))
        return
    bar.empty()

    plot_area = st.container()
    left, right = st.columns(2, gap="large")
    highlight_ids: list[int] = []
    highlight_name = "neighbours"
    with left:
        st.markdown("**Nearest neighbours**")
        st.text_input("Token or word", key="emb_term", max_chars=MAX_TERM_CHARS,
                      placeholder="a word, or #id", help="A word of several tokens uses their mean.")  # fmt: skip
        n1, n2 = st.columns([1.3, 1])
        n1.radio("Metric", METRICS, key="emb_metric", horizontal=True)
        n2.number_input("How many", 1, MAX_K, key="emb_k")
        if view.term.strip():
            try:
                (term,) = _terms_of(view.term)
                found = neighbours_of(table, term, view.k, view.metric)
            except EmbeddingError as exc:
                st.warning(md(exc))
            else:
                if term.note:
                    st.caption(md(term.note))
                _neighbour_table(found, view.metric)
                highlight_ids = list(term.ids) + [n.id for n in found]
                highlight_name = f"“{view.term[:30]}” and neighbours"
                st.button("Keep as the selection", key="emb_keep", on_click=_keep,
                          args=(tuple(dict.fromkeys(highlight_ids))[:MAX_SELECTION],),
                          help="Colour by selection shows these tokens; saved with the view.")  # fmt: skip
    with right:
        st.markdown("**Vector arithmetic a − b + c**")
        a1, a2, a3 = st.columns(3)
        a1.text_input("a", key="emb_a", max_chars=MAX_TERM_CHARS, placeholder=" lists")
        a2.text_input("− b", key="emb_b", max_chars=MAX_TERM_CHARS, placeholder=" list")
        a3.text_input("+ c", key="emb_c", max_chars=MAX_TERM_CHARS, placeholder=" string")
        if view.a.strip() and view.b.strip() and view.c.strip():
            try:
                a, b, c = _terms_of(view.a, view.b, view.c)
                found = arithmetic(table, a, b, c, view.k, view.metric)
            except EmbeddingError as exc:
                st.warning(md(exc))
            else:
                for t in (a, b, c):
                    if t.note:
                        st.caption(md(t.note))
                _neighbour_table(found, view.metric)
                if table.shape[1] < 1024:
                    st.caption(
                        f"An honest note: with {table.shape[0]:,} tokens of width "
                        f"{table.shape[1]}, analogies work for frequent, regular pairs "
                        "(plural, case) and often fail for meaning."
                    )
                if not highlight_ids:
                    highlight_ids = [r.id for r in found]
                    highlight_name = "a − b + c"

    with plot_area:
        groups = point_groups(projection, vocab, view.colour, search=view.search,
                              selection=view.selection)  # fmt: skip
        texts = hover_texts([vocab.texts[i] for i in projection.ids])
        rows = rows_of(projection, highlight_ids) if highlight_ids else None
        fig = token_scatter(
            projection.coords, projection.ids, texts, groups, method=projection.method,
            explained=projection.explained, highlight=rows, highlight_name=highlight_name,
        )  # fmt: skip
        st.plotly_chart(fig, key="emb_scatter", config={"displaylogo": False})
        where = "from the cache" if from_cache else f"computed in {projection.seconds:.1f} s"
        sample = (
            f"{len(projection.ids):,} of {table.shape[0]:,} tokens (random sample, seed "
            f"{settings.seed})" if len(projection.ids) < table.shape[0] else
            f"all {table.shape[0]:,} tokens"
        )  # fmt: skip
        explained = (
            f" · the {len(projection.explained)} axes hold "
            f"{sum(projection.explained):.1%} of the variance"
            if projection.explained else ""
        )  # fmt: skip
        st.caption(f"{md(METHOD_LABELS[projection.method])} of {sample}, {where}{explained}.")
        if projection.note:
            st.caption(md(projection.note))
        if rows is not None and len(rows) < len(set(highlight_ids)):
            st.caption(
                f"{len(set(highlight_ids)) - len(rows)} highlighted token(s) are not in this "
                "sample and are not drawn."
            )
    summary = {"points": len(projection.ids), "seconds": round(projection.seconds, 3)}
    _saved_views_panel(view, summary)


def _neighbour_table(found, metric: str) -> None:
    score = "cosine" if metric == "cosine" else "distance"
    frame = pd.DataFrame(
        {
            "token": [vocab.texts[n.id] for n in found],
            "id": [n.id for n in found],
            "kind": [vocab.kinds[n.id].value for n in found],
            score: [round(n.score, 4) for n in found],
        }
    )
    st.dataframe(frame, hide_index=True, height=min(36 + 35 * len(frame), 400))


# ---------------------------------------------------------------- positions
def _positions_tab() -> None:
    try:
        positions = position_view(loaded.model)
    except EmbeddingError as exc:
        st.info(md(exc))
        return
    if isinstance(positions, LearnedPositions):
        st.caption(
            "This GPT learned one vector per position, added to the token's. Nearby positions "
            "end up alike (the band along the diagonal) and the first principal components vary smoothly "
            "with position."
        )
        st.plotly_chart(position_similarity(positions), key="emb_possim")
        st.plotly_chart(position_components(positions), key="emb_pospca")
    else:
        st.caption(
            "This Llama adds no position vector: rotary embeddings turn each pair of query and "
            "key dimensions by an angle proportional to the position, fast for the first "
            "pairs and slow for the last, so attention scores depend on relative distance."
        )
        st.plotly_chart(rotary_cosines(positions), key="emb_rotcos")
        st.plotly_chart(rotary_wavelengths(positions), key="emb_rotwave")


# ---------------------------------------------------------------- contextual
def _context_tab(view: EmbeddingView) -> None:
    t1, t2 = st.columns(2)
    t1.text_area("Text A", key="emb_text_a", max_chars=MAX_CONTEXT_CHARS, height=80)
    t2.text_area("Text B", key="emb_text_b", max_chars=MAX_CONTEXT_CHARS, height=80)
    w1, w2 = st.columns([1, 2])
    w1.text_input("Word to follow in both", key="emb_word", max_chars=MAX_TERM_CHARS,
                  help="Inside a sentence a word usually starts with a space: ' bank'.")  # fmt: skip
    w2.segmented_control("Dimensions", (2, 3), format_func=lambda d: f"{d}-D", key="emb_dims",
                         required=True)  # fmt: skip
    try:
        contexts = [
            run_context(loaded.model, loaded.tokenizer, t) for t in (view.text_a, view.text_b)
        ]
        paths, explained = project_contexts(contexts, view.dims)
    except ERRORS as exc:
        st.error(md(exc))
        return
    followed: list[int | None] = [None, None]
    cosines = None
    if view.word.strip():
        try:
            (term,) = _terms_of(view.word)
            followed = [find_term(c, term) for c in contexts]
            cosines = divergence(contexts[0], followed[0], contexts[1], followed[1])
        except EmbeddingError as exc:
            st.warning(md(exc))
            followed = [None, None]
    st.plotly_chart(context_paths(contexts, paths, explained, followed, view.word), key="emb_paths")
    st.caption(
        "Every hidden state of both texts (the input to the first block, then the state after "
        "each block), scaled to unit length and projected with one PCA; a line joins one "
        "token's states from layer 0 to the last. The followed word is drawn bold."
    )
    if cosines is not None:
        st.plotly_chart(divergence_figure(cosines, view.word), key="emb_div")


# ---------------------------------------------------------------- compare checkpoints
def _compare_tab(view: EmbeddingView) -> None:
    options = {k: v for k, v in model_options().items() if k != model_id}
    st.caption(
        "The same tokens in two models of one tokenizer (the built-in GPT and a run trained "
        "from it, say). Two trainings may learn the same shape in rotated axes, so model A "
        "is first turned onto model B by the orthogonal rotation that fits best "
        "(Procrustes); what is left is how far each token really moved."
    )
    if not options:
        st.info("There is no second model to compare with: train one (python -m "
                "core.training) or place GPT-2 weights under $GLASSBOX_HOME/models.")  # fmt: skip
        return
    if st.session_state.emb_other_model not in options:
        st.session_state.emb_other_model = next(iter(options))
    c1, c2 = st.columns([2, 1])
    c1.selectbox("Model A (rotated onto the sidebar's model, B)", list(options),
                 format_func=lambda i: options[i], key="emb_other_model")  # fmt: skip
    c2.segmented_control("Dimensions", (2, 3), format_func=lambda d: f"{d}-D", key="emb_dims",
                         required=True)  # fmt: skip
    other = st.session_state.emb_other_model
    try:
        other_uid = registry.store_key(other)
        other_loaded = _load_cached(other, other_uid)
        other_table = _model_facts(other, other_uid)[0]
        if other_loaded.tokenizer.name != loaded.tokenizer.name:
            raise EmbeddingError(
                f"the two models use different tokenizers ({other_loaded.tokenizer.name} and "
                f"{loaded.tokenizer.name}): token i is not the same token in both"
            )
        with st.spinner("Aligning the two tables…"):
            comparison = compare_tables(other_table, table, view.dims, COMPARE_POINTS, view.seed)
    except ERRORS as exc:
        st.error(md(exc))
        return
    order = np.argsort(-comparison.moved)[:MOST_MOVED]
    drawn = positions_of(comparison.ids, order)
    texts = hover_texts([vocab.texts[i] for i in comparison.ids])
    labels = (f"A: {options[other]}", f"B: {model_label(model_id)}")
    st.plotly_chart(comparison_figure(comparison, texts, labels, drawn), key="emb_compare")
    st.caption(
        f"After the rotation {comparison.residual:.1%} of B's spread is left unexplained "
        f"(0% = the same geometry). {len(comparison.ids):,} of {table.shape[0]:,} tokens "
        f"drawn per model; all were aligned. Red lines join the {len(drawn)} most moved "
        "tokens that are drawn."
    )
    st.dataframe(
        pd.DataFrame(
            {
                "token": [vocab.texts[i] for i in order],
                "id": order,
                "moved (× mean norm)": np.round(comparison.moved[order], 3),
            }
        ),
        hide_index=True,
    )


# ---------------------------------------------------------------- the page
st.segmented_control(
    "View", TABS, format_func=TAB_LABELS.get, key="emb_tab", required=True,
    label_visibility="collapsed",
)  # fmt: skip
try:
    current = _view()
except EmbeddingError as exc:
    st.error(f"These settings do not fit together: {md(exc)}")
    st.stop()
if current.tab == "table":
    _table_tab(current)
elif current.tab == "positional":
    _positions_tab()
elif current.tab == "contextual":
    _context_tab(current)
else:
    _compare_tab(current)

try:
    final = _view()
except EmbeddingError:
    final = current
write_url(PARAMS, {name: getattr(final, name) for name in PARAMS}, omit_defaults=True)
write_url(MODEL_PARAM, {"model": model_id})
st.session_state.emb_copy = {
    name: st.session_state.get(f"emb_{name}", getattr(final, name)) for name in PARAMS
}
