"""The guided tour: a short, skippable walk through the pages for a first-time visitor.

Home invites a new session to it (Start / No thanks); ``?tour=1`` starts it from any link and
``?tour=0`` turns it off. While it runs, a card atop the page says which stop this is, one
thing to try there, and offers Back / Next / End: Next opens the next stop's page. The
tour's state lives in this session (``st.session_state[STATE_KEY]``), never in the module:

    None       not offered yet      (Home shows the invitation)
    0 … n-1    at stop i            (the card shows stop i)
    "ended"    skipped or finished  (nothing is shown; ?tour=1 starts again)

The stops and the state changes (:func:`advance`, :func:`back`) are pure and tested alone;
:func:`card` draws (app.py calls it before the page runs) and :func:`read_flag` reads
the link flag, which it then removes from the URL (the flag is an order, not part of a
view: kept, it would restart the tour on every rerun).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from ui.nav import HOME, PAGES, PageSpec
from ui.urlstate import Flag, read_url, warn

STATE_KEY = "gb_tour"
URL_KEY = "tour"
PARAMS = {URL_KEY: Flag(True)}
ENDED = "ended"


@dataclass(frozen=True)
class Stop:
    url_path: str  # the page's URL path ("" = Home), as in ui.nav
    try_this: str  # one sentence: what to do there first


STOPS: tuple[Stop, ...] = (
    Stop("", "Every page is listed below; the sidebar picks the model and tokenizer they use."),
    Stop(
        "tokenization",
        "Type a sentence with a number and an emoji, and see GPT-2 and GPT-4o cut it apart.",
    ),
    Stop(
        "sampling",
        "Press Next token a few times, then click a generated token to see what temperature "
        "and top-p did to its candidates.",
    ),
    Stop(
        "attention",
        "Hover the grid of every layer and head: the labels say which heads look at the "
        "previous token and which are induction heads.",
    ),
    Stop("embeddings", "Search a word's nearest neighbours, then try king − man + woman."),
    Stop(
        "math", "Step through x·W three ways: by rows, by columns and as a sum of outer products."
    ),
    Stop("training", "Start a small run on a built-in corpus and watch the loss fall."),
    Stop("pool", "Open a story, then start a live run and watch the GPUs switch models."),
    Stop("runs", "Everything you saved lands here: tick two runs and compare them."),
)


def spec_of(stop: Stop) -> PageSpec:
    """The navigation entry of a stop's page."""
    return next(s for s in (HOME, *PAGES) if s.url_path == stop.url_path)


def advance(state: int) -> int | str:
    """The state after Next at stop ``state``: the next stop, or ENDED after the last."""
    return state + 1 if state + 1 < len(STOPS) else ENDED


def back(state: int) -> int:
    """The state after Back at stop ``state`` (the first stop stays)."""
    return max(state - 1, 0)


def current() -> int | str | None:
    """This session's tour state (see the module's docstring)."""
    state = st.session_state.get(STATE_KEY)
    if isinstance(state, int) and 0 <= state < len(STOPS):
        return state
    return ENDED if state == ENDED else None


def read_flag() -> None:
    """``?tour=1`` starts the tour at Home's stop, ``?tour=0`` ends it; the flag then leaves
    the URL. A bad value is named."""
    if URL_KEY not in st.query_params:
        return
    values, problems = read_url(PARAMS)
    del st.query_params[URL_KEY]
    if problems:
        warn(problems)
        return
    st.session_state[STATE_KEY] = 0 if values[URL_KEY] else ENDED


def _set(state: int | str) -> None:
    st.session_state[STATE_KEY] = state


def _invitation() -> None:
    with st.container(border=True, key="gb_tour_invite"):
        st.markdown(
            f"**New here?** A short tour: {len(STOPS)} stops, one thing to try on each "
            "(about five minutes). You can leave it at any stop."
        )
        row = st.container(horizontal=True)
        row.button(
            "Start the tour",
            key="gb_tour_start",
            type="primary",
            icon=":material/tour:",
            on_click=_set,
            args=(0,),
        )
        row.button("No thanks", key="gb_tour_skip", on_click=_set, args=(ENDED,))


def card(url_path: str) -> None:
    """Draw the tour for the page at ``url_path``: the invitation on Home for a new session,
    the current stop's card while the tour runs, nothing once it ended."""
    state = current()
    if state is None:
        if url_path == HOME.url_path:
            _invitation()
        return
    if state == ENDED:
        return
    stop = STOPS[state]
    spec = spec_of(stop)
    with st.container(border=True, key="gb_tour_card"):
        st.markdown(f"**Tour, stop {state + 1} of {len(STOPS)}: {spec.title}.** {stop.try_this}")
        row = st.container(horizontal=True, vertical_alignment="center")
        if url_path != stop.url_path:
            row.page_link(spec.path, label=f"Back to {spec.title}", icon=spec.icon)
        went_back = state > 0 and row.button(
            "Back", key="gb_tour_back", icon=":material/arrow_back:"
        )
        nxt = advance(state)
        label = "Finish" if nxt == ENDED else f"Next: {spec_of(STOPS[nxt]).title}"
        icon = ":material/check:" if nxt == ENDED else ":material/arrow_forward:"
        go_next = row.button(label, key="gb_tour_next", type="primary", icon=icon)
        row.button("End the tour", key="gb_tour_end", on_click=_set, args=(ENDED,))
    if went_back:
        _go(back(state))
    if go_next:
        _go(nxt)


def restart_button() -> None:
    """Home's way back into the tour once it was skipped or finished."""
    if current() == ENDED:
        st.button("Take the guided tour", key="gb_tour_again", icon=":material/tour:",
                  on_click=_set, args=(0,))  # fmt: skip


def _go(state: int | str) -> None:
    """Move to ``state`` and open its page (once the tour ended: stay, and say so)."""
    _set(state)
    if state == ENDED:
        st.toast("That was the tour. Home has a button to take it again.", icon=":material/tour:")
        st.rerun()
    st.switch_page(spec_of(STOPS[state]).path)
