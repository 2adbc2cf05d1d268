"""The GPU pool page's Stories view: guided presets that each reproduce one of the paper's
findings (Aegaeon, SOSP'25), already run and cached, with a "Run it yourself" button.

The stories themselves (setup, experiment, finding, tiles) are ``core.pool.stories``; their
figure is ``core.viz.pool_stories``. A story is a fixed experiment with fixed seeds, so its
result is computed once per server; **Run it yourself** loads its setup and view into the
knobs (``core.pool.setup.story_state``).
"""

from __future__ import annotations

import streamlit as st

from core.pool import setup as ps
from core.pool.setup import Setup
from core.pool.stories import STORIES, StoryResult
from core.viz.pool_stories import story_figure
from ui.pool_parts import metric_rows
from ui.text import md

S = st.session_state


def stories_view(s: Setup | None) -> None:
    """The chosen story: its finding, tiles, figure and the button that loads its setup
    (``s``, the knobs' setup, is not used: a story does not depend on the knobs)."""
    st.segmented_control(
        "Story",
        list(STORIES),
        key="pl_story",
        required=True,
        wrap=True,
        format_func=lambda k: STORIES[k].title.split(":")[0],
    )
    story = STORIES[S.pl_story]
    st.subheader(story.title)
    st.markdown(md(story.finding, 2000))
    st.caption(
        "A fixed experiment, already run: the setup knobs do not change it. "
        "**Run it yourself** loads its setup into them and opens the view that runs it."
    )
    result = _story(story.key)
    metric_rows(list(result.tiles), per_row=2)
    st.plotly_chart(story_figure(result), key=f"pl_story_{story.key}")
    if result.note:
        st.caption(md(result.note, 2000))
    st.button(
        "Run it yourself",
        key="pl_story_try",
        icon=":material/tune:",
        on_click=_try_story,
        args=(story.key,),
        help="Load this story's setup into the knobs and open the view that runs it.",
    )


@st.cache_data(show_spinner="Running the story's simulations…", max_entries=16)
def _story(key: str) -> StoryResult:
    """A story's result: computed once per server (a fixed experiment, fixed seeds)."""
    return STORIES[key].compute()


def _try_story(key: str) -> None:
    """ "Run it yourself": load the story's setup and view into the knobs."""
    for k, v in ps.story_state(key).items():
        S[f"pl_{k}"] = v
