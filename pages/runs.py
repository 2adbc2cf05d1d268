"""Saved runs: browse every experiment, compare 2–10 side by side, manage, export, import.

The page lays out ``core.store.runs_page`` (filters, table rows, the selection, the
comparison tables as text): filters and sort above the table, the import panel, the table
with its pages, then what the selection allows: export and delete for any number, editing
for one run, and for 2–10 the config diff, the metrics with ★ on the best value, the curves
(``core.viz.runs``) and, for two sampling runs, their trajectories aligned token by token.
The filters and the compared runs live in the link.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.sampling import SamplingError
from core.sampling.compare import agreement_line, align_tokens, aligned_table
from core.sampling.persist import load_trajectory
from core.store import (
    all_tags,
    delete_runs,
    export_csv,
    export_json,
    get_points,
    get_runs,
    import_json,
    list_runs,
    mark_interrupted,
    reading,
    series_names,
    update_run,
)
from core.store import runs_page as rp
from core.store.exchange import MAX_IMPORT_BYTES
from core.viz.runs import series_overlay
from ui.boot import ensure_app_shell
from ui.db import guard, session_factory
from ui.shell import refresh_store_lists
from ui.text import md
from ui.uploads import widget_mb
from ui.urlstate import Choice, Int, Items, Text, read_url, warn, write_url

ensure_app_shell()

S = st.session_state
D = rp.RunsView()
# The link: the view's filters, sort, page size, and ``compare=3,7`` (a comparison to open).
PARAMS = {
    "kind": Items(D.kind, Choice(rp.KINDS[0], rp.KINDS), max_items=len(rp.KINDS), allow_empty=True),
    "status": Items(
        D.status, Choice(rp.STATUSES[0], rp.STATUSES), max_items=len(rp.STATUSES), allow_empty=True
    ),
    "tag": Text(D.tag, rp.FILTER_CHARS),
    "q": Text(D.q, rp.FILTER_CHARS),
    "sort": Choice(D.sort, tuple(rp.SORTS)),
    "order": Choice(D.order, rp.ORDERS),
    "size": Choice(D.size, rp.PAGE_SIZES),
    "compare": Items((), Int(1, 1, 2**63 - 1), max_items=50, allow_empty=True),
}
FILTER_PX, SEARCH_PX = 190, 240  # widths of the filter widgets (the row wraps)
HIGHLIGHT = "background-color: rgba(230,159,0,0.25)"  # a config key the runs disagree on


# ---------------------------------------------------------------- state
def init_state() -> rp.RunsView:
    """Session keys once; the view the link asks for (read on every run: widgets follow it)."""
    for key, default in (("runs_page", 0), ("runs_confirm_delete", False), ("runs_flash", None)):
        S.setdefault(key, default)
    url, problems = read_url(PARAMS)
    if "runs_pinned" not in S:
        # A shared link ``?compare=3,7`` opens that comparison (read once per session).
        S.runs_pinned = list(url["compare"])
        warn(problems)
    return rp.with_defaults(url)


def flash(message: str) -> None:
    """A confirmation shown after the rerun that follows an action."""
    S.runs_flash = message
    st.rerun()


# ---------------------------------------------------------------- filters and table
def filters(url: rp.RunsView, tags: list[str]) -> rp.RunsView:
    """Kind, status, tag, search, sort and page size; kept in the URL to share a view."""
    # A row that wraps: at half a screen the filters take two lines, not one letter each.
    f = st.container(horizontal=True, wrap=True, vertical_alignment="bottom", gap="small")
    kinds = f.multiselect(
        "Kind", rp.KINDS, default=url.kind, placeholder="all kinds", width=FILTER_PX
    )
    statuses = f.multiselect(
        "Status", rp.STATUSES, default=url.status, placeholder="any status", width=FILTER_PX
    )
    options = rp.tag_options(tags)
    tag = f.selectbox("Tag", options, index=rp.tag_index(options, url.tag), width=FILTER_PX)
    text = f.text_input(
        "Search name and notes", value=url.q, max_chars=rp.FILTER_CHARS, width=SEARCH_PX
    )
    row = st.container(horizontal=True, vertical_alignment="bottom")
    sort = row.selectbox(
        "Sort by", list(rp.SORTS), index=list(rp.SORTS).index(url.sort),
        format_func=rp.SORTS.get, width=220,
    )  # fmt: skip
    descending = row.toggle("Descending", value=url.order == "desc")
    size = row.selectbox(
        "Rows per page", rp.PAGE_SIZES, index=rp.PAGE_SIZES.index(url.size), width=160
    )
    view = rp.view_from_widgets(kinds, statuses, tag, text, sort, descending, size)
    if S.get("runs_view") != view:  # another filter: back to the first page
        S.runs_view, S.runs_page = view, 0
    write_url(PARAMS, view.link(), omit_defaults=True)
    return view


def import_panel(Session) -> None:
    """Import a JSON export (always offered, also on an empty store)."""
    with st.expander("Import runs from a JSON export", icon=":material/upload:"):
        upload = st.file_uploader(
            "Glassbox export (.json)",
            type=["json"],
            key="runs_import",
            max_upload_size=widget_mb(MAX_IMPORT_BYTES),
        )
        if upload is not None and st.button("Import", type="primary"):
            with guard("import the file") as outcome, Session.begin() as s:
                result = import_json(s, upload.getvalue())
            if outcome.ok:
                skipped = f", {len(result.skipped)} already present" if result.skipped else ""
                S.runs_import_warnings = result.warnings
                refresh_store_lists()
                flash(f"Imported {len(result.created)} run(s){skipped}.")
        if S.get("runs_import_warnings"):
            st.warning("Some artifact paths of the last import were not kept:")
            st.text("\n".join(S.runs_import_warnings))  # plain text: names are data


def run_table(view: rp.RunsView, total: int, rows: list[dict]) -> list[int]:
    """The table of one page of runs and its page buttons; returns the ids ticked in it."""
    st.markdown(rp.page_line(total, S.runs_page, view.size, len(rows)))
    table = st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="multi-row",
        key=f"runs_table_{view}_{S.runs_page}",
        column_config={
            "id": st.column_config.NumberColumn("id", width="small", format="%d"),
            "created": st.column_config.DatetimeColumn(
                "created (UTC)", format="YYYY-MM-DD HH:mm:ss"
            ),
            "name": st.column_config.TextColumn("name", width="medium"),
            "key metrics": st.column_config.TextColumn("key metrics", width="medium"),
            "problems": st.column_config.TextColumn("problems", width="medium"),
        },
    )
    p1, p2, _ = st.columns([2, 2, 5])
    if p1.button("← Previous", disabled=S.runs_page == 0):
        S.runs_page -= 1
        st.rerun()
    if p2.button("Next →", disabled=S.runs_page >= rp.n_pages(total, view.size) - 1):
        S.runs_page += 1
        st.rerun()
    return [rows[i]["id"] for i in table.selection.rows]


def chosen_ids(ticked: list[int]) -> list[int]:
    """The runs to act on: those ticked, else those the link named; the link follows."""
    if ticked:
        S.runs_pinned = []
        st.query_params["compare"] = rp.link_ids(ticked)
        return ticked
    if S.runs_pinned:
        st.caption(f"Showing runs {', '.join(map(str, S.runs_pinned))} from the link.")
        if st.button("Clear this selection"):
            S.runs_pinned = []
            del st.query_params["compare"]
            st.rerun()
        return list(S.runs_pinned)
    if "compare" in st.query_params:
        del st.query_params["compare"]
    st.caption("Select rows (tick the boxes at the left of the table) to manage or compare runs.")
    return []


# ---------------------------------------------------------------- the selection
def actions(Session, sel: rp.Selection) -> None:
    """Export (JSON, CSV) and delete, for any number of runs."""
    st.subheader(f"{len(sel)} selected")
    a1, a2, a3 = st.columns(3)
    with guard("export the runs") as outcome, reading(Session) as s:
        json_export = export_json(s, list(sel.ids))
        csv_export = export_csv(s, list(sel.ids))
    if outcome.ok:
        a1.download_button(
            "Export JSON", json_export, "glassbox-runs.json", "application/json",
            icon=":material/download:",
        )  # fmt: skip
        a2.download_button(
            "Export CSV", csv_export, "glassbox-runs.csv", "text/csv", icon=":material/table:"
        )
    if a3.button("Delete…", icon=":material/delete:"):
        S.runs_confirm_delete = True
    if S.runs_confirm_delete:
        confirm_delete(Session, sel)


def confirm_delete(Session, sel: rp.Selection) -> None:
    with st.container(border=True):
        named = ", ".join(md(x, 80) for x in sel.labels[:5])
        st.warning(
            f"Delete {len(sel)} run(s) — {named}{' …' if len(sel) > 5 else ''} — with their "
            "time series and artifact records? Files on disk (checkpoints) are kept. This "
            "cannot be undone."
        )
        c1, c2, _ = st.columns([1, 1, 4])
        if c1.button("Yes, delete", type="primary"):
            with guard("delete the runs") as outcome, Session.begin() as s:
                n = delete_runs(s, list(sel.ids))
            S.runs_confirm_delete = False
            if outcome.ok:
                refresh_store_lists()  # the sidebar menus must not offer deleted runs
                flash(f"Deleted {n} run(s).")
        if c2.button("Cancel"):
            S.runs_confirm_delete = False
            st.rerun()


def edit_one(Session, one: rp.OneRun, config: object, summary: object) -> None:
    """One run: the damage warning, Mark interrupted, name/tags/notes, its config."""
    if one.broken:
        st.warning(
            "This run's stored data is damaged (see the problems column): the other pages "
            "skip or label it. Delete it, or export it, fix the file and import it again.",
            icon=":material/report:",
        )
    if one.running and st.button(
        "Mark interrupted",
        icon=":material/stop_circle:",
        help="For a run whose process was killed: it will never finish by itself.",
    ):
        with guard("mark the run interrupted") as outcome, Session.begin() as s:
            mark_interrupted(s, one.id)
        if outcome.ok:
            flash(f"Marked run #{one.id} interrupted.")
    with st.form(f"edit_{one.id}"):
        st.markdown(f"**Run #{one.id}** · {md(one.kind)} · {md(one.status)}")
        name = st.text_input("Name", value=one.name, max_chars=200)
        tags = st.text_input("Tags (comma-separated)", value=", ".join(one.tags), max_chars=500)
        notes = st.text_area("Notes", value=one.notes, max_chars=20_000)
        if st.form_submit_button("Save changes", type="primary"):
            with guard("save the changes") as outcome, Session.begin() as s:
                update_run(s, one.id, name=name, notes=notes, tags=tags.split(","))
            if outcome.ok:
                flash(f"Saved run #{one.id}.")
    with st.expander("Config and metrics", expanded=False):
        st.json({"config": config, "summary": summary})
    st.caption("Select a second run to compare.")


# ---------------------------------------------------------------- the comparison
def metrics_section(sel: rp.Selection) -> None:
    st.markdown("**Metrics**")
    columns, rows = rp.metric_cells(sel)
    if not rows:
        st.info("None of these runs has numeric summary metrics.")
        return
    st.dataframe(pd.DataFrame(rows, columns=columns), hide_index=True, width="stretch")
    st.caption("★ marks the best value: ↓ lower is better, ↑ higher is better.")


def config_section(sel: rp.Selection) -> None:
    st.markdown("**Config**")
    show_all = st.toggle("Show all keys (not only those that differ)", value=False)
    table = rp.config_cells(sel, only_different=not show_all)
    if not table.rows:
        st.info("The configs are identical.")
        return
    frame = pd.DataFrame(table.rows, columns=table.columns)
    st.dataframe(
        frame.style.apply(
            lambda col: [HIGHLIGHT if d and col.name != "key" else "" for d in table.differs]
        ),
        hide_index=True,
        width="stretch",
    )
    st.caption(table.caption)


def curves_section(Session, sel: rp.Selection, available: list[str]) -> None:
    """The recorded series, one row each with its own x axis (``core.viz.runs``)."""
    st.markdown("**Curves**")
    if not available:
        st.info("These runs recorded no time series.")
        return
    chosen = st.multiselect("Series", available, default=rp.default_series(available))
    with guard("read the time series") as outcome, reading(Session) as s:
        points = [
            (label, get_points(s, rid, chosen))
            for label, rid in zip(sel.labels, sel.ids, strict=True)
        ]
    if outcome.ok and chosen:
        st.plotly_chart(series_overlay(points, chosen), width="stretch")


def trajectories_section(Session, sel: rp.Selection) -> None:
    """Two sampling runs: their tokens side by side, step by step."""
    st.markdown("**Trajectories, aligned token by token**")
    try:
        with guard("read the trajectories") as outcome, reading(Session) as s:
            trajectories = [load_trajectory(s, rid) for rid in sel.ids]
    except SamplingError as exc:
        st.error(md(exc, 1000))
        return
    if not outcome.ok:
        return
    rows = align_tokens(trajectories[0].records, trajectories[1].records)
    st.caption(agreement_line(rows))
    st.dataframe(
        pd.DataFrame(aligned_table(rows, (sel.labels[0], sel.labels[1]))),
        hide_index=True,
        width="stretch",
        column_config={
            "p (a)": st.column_config.NumberColumn(format="%.3f"),
            "p (b)": st.column_config.NumberColumn(format="%.3f"),
        },
    )


def comparison(Session, sel: rp.Selection, available: list[str]) -> None:
    st.subheader("Comparison")
    # One above the other at full width: side by side, a wide table hid every run but the first.
    metrics_section(sel)
    config_section(sel)
    curves_section(Session, sel, available)
    if sel.sampling_pair:
        trajectories_section(Session, sel)


# ---------------------------------------------------------------- the page
def main() -> None:
    st.title("Saved runs")
    st.caption(
        "Every experiment the app or a command line saved. Select runs in the table to manage "
        f"them; select 2–{rp.MAX_COMPARE} to compare configs, metrics and curves side by side."
    )
    url = init_state()
    Session = session_factory()
    if Session is None:
        st.stop()
    if S.runs_flash:
        st.success(S.runs_flash)
        S.runs_flash = None

    with guard("read the run list") as read, reading(Session) as s:
        tags = all_tags(s)
    if not read.ok:
        st.stop()
    view = filters(url, tags)
    with guard("read the run list") as read, reading(Session) as s:
        page = list_runs(s, view.query(S.runs_page))
        rows = rp.table_rows(page.runs)
    if not read.ok:
        st.stop()

    import_panel(Session)
    if page.total == 0:
        st.info(rp.empty_message(view))
        st.stop()
    ids = chosen_ids(run_table(view, page.total, rows))
    if not ids:
        st.stop()

    with guard("load the selected runs") as read, reading(Session) as s:
        sel = rp.selected_runs(ids, get_runs(s, ids))
        available = series_names(s, list(sel.ids)) if sel.comparable else []
    if not read.ok:
        st.stop()
    if not sel.ids:
        st.info("The selected runs no longer exist (deleted in another tab?).")
        S.runs_pinned = []
        st.stop()
    if sel.gone:  # ids are never reused, so a link names these runs or none
        st.info(
            f"Run(s) {', '.join(map(str, sel.gone))} no longer exist (deleted); showing the others."
        )

    actions(Session, sel)
    if sel.single is not None:
        edit_one(Session, sel.single, sel.configs[0], sel.summaries[0])
    elif len(sel) > rp.MAX_COMPARE:
        st.warning(
            f"{len(sel)} runs are selected; comparison shows at most {rp.MAX_COMPARE}. "
            "Export and delete still apply to all of them."
        )
    else:
        comparison(Session, sel, available)


main()
