"""The shared sidebar (model, tokenizer, device) and the choices every page reads.

``render_sidebar()`` runs in app.py on every page; pages call ``choices()``. Outside
app.py (a page run alone under AppTest) ``choices()`` falls back to the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from core import registry
from core.device import describe_device
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
# A store that stops answering raises (never cached): the menus fall back to what needs no
# store and the sidebar says so, and the next rerun tries the store again.
@st.cache_data(ttl=10, show_spinner=False)
def _stored_model_options(_factory: sessionmaker[Session] | None, url: str) -> dict[str, str]:
    return {m.id: m.label for m in registry.list_models(_factory)}


@st.cache_data(ttl=10, show_spinner=False)
def _stored_tokenizer_options(_factory: sessionmaker[Session] | None, url: str) -> dict[str, str]:
    return {t.id: t.label for t in registry.list_tokenizers(_factory)}


def _model_options(factory: sessionmaker[Session] | None, url: str) -> dict[str, str]:
    try:
        return _stored_model_options(factory, url)
    except DatabaseUnavailable as exc:
        st.session_state[STORE_DOWN_KEY] = str(exc)
        return {m.id: m.label for m in registry.list_models(store=False)}


def _tokenizer_options(factory: sessionmaker[Session] | None, url: str) -> dict[str, str]:
    try:
        return _stored_tokenizer_options(factory, url)
    except DatabaseUnavailable as exc:
        st.session_state[STORE_DOWN_KEY] = str(exc)
        return {t.id: t.label for t in registry.list_tokenizers(store=False)}


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


def render_sidebar() -> Choices:
    """Draw the model/tokenizer pickers and the device line; return the choices."""
    st.session_state.pop(STORE_DOWN_KEY, None)
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
