"""The loaded models every session shares, and their warm-up when the server starts.

`load_model` is the one cache of loaded models (read-only, shared by every session; keyed
by the model's store uid as well as its id, so a deleted run's id never serves its model).
`start_warmup` (called by app.py on the first script run of the server process) loads the
built-in model in a background thread: importing PyTorch and reading the weights take ~20 s
on a cold machine, and the first visitor of Sampling would otherwise wait on a blank page.
`wait_for_warmup` shows a clear "loading" state while that is still under way.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import Future

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx

log = logging.getLogger("glassbox.warmup")
WARM_WAIT_S = 120.0  # a page waits at most this long for the warm-up, then loads by itself


@st.cache_resource(show_spinner=False)
def _load_cached(model_id: str, uid: str):  # -> registry.LoadedModel, shared read-only
    from core import registry

    return registry.load_model(model_id)


def load_model(model_id: str):  # -> registry.LoadedModel
    """The shared, read-only loaded model ``model_id`` (loaded on first use)."""
    from core import registry

    return _load_cached(model_id, registry.store_key(model_id))


def _warm(done: Future) -> None:
    try:
        from core import registry  # imports PyTorch: most of the cold-start time

        if registry.BUILTIN_ID in {m.id for m in registry.list_models()}:
            load_model(registry.BUILTIN_ID)
            log.warning("Glassbox warm-up: model %s loaded", registry.BUILTIN_ID)
        done.set_result(True)
    except Exception as exc:  # never reaches a user: the page loads (and reports) by itself
        log.warning("Glassbox warm-up failed: %s", exc)
        done.set_result(False)


@st.cache_resource(show_spinner=False)
def start_warmup() -> Future:
    """Start loading the built-in model in the background, once per server process."""
    done: Future = Future()
    thread = threading.Thread(target=_warm, args=(done,), name="glassbox-warmup", daemon=True)
    add_script_run_ctx(thread)  # Streamlit's caches expect a script context
    thread.start()
    return done


def wait_for_warmup() -> None:
    """While the warm-up runs, say so (instead of grey placeholders) and wait for it."""
    done = start_warmup()
    if done.done():
        return
    with (
        st.spinner(
            "Loading PyTorch and the built-in model: the first page that needs a model takes "
            "about 20 s after the server starts…",
            show_time=True,
        ),
        contextlib.suppress(TimeoutError),
    ):  # then the page loads what it needs itself
        done.result(timeout=WARM_WAIT_S)
