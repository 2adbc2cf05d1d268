"""Saved runs: browse every experiment, compare 2–10 side by side, manage, export, import."""

from __future__ import annotations

import math
from datetime import UTC

import pandas as pd
import streamlit as st

from core.sampling import SamplingError
from core.sampling.compare import agreement, align_tokens, aligned_table, first_divergence
from core.sampling.persist import load_trajectory
from core.store import (
    RunKind,
    RunQuery,
    RunStatus,
    all_tags,
    config_diff,
    delete_runs,
    export_csv,
    export_json,
    get_points,
    get_runs,
    import_json,
    key_metrics,
    list_runs,
    mark_interrupted,
    metrics_table,
    reading,
    run_problems,
    series_names,
    update_run,
)
from core.viz.runs import series_overlay
from ui.boot import ensure_app_shell
from ui.db import guard, session_factory
from ui.shell import refresh_store_lists
from ui.text import md
from ui.urlstate import Choice, Int, Items, Text, read_url, warn, write_url

ensure_app_shell()

MAX_COMPARE = 10
PAGE_SIZES = (25, 50, 100, 200)
SORTS = {
    "created_at": "Created",
    "updated_at": "Updated",
    "name": "Name",
    "kind": "Kind",
    "status": "Status",
}
KINDS = tuple(k.value for k in RunKind)
STATUSES = tuple(s.value for s in RunStatus)
# The link: filters, sort, page size, and ``compare=3,7`` (a comparison to open).
PARAMS = {
    "kind": Items((), Choice(KINDS[0], KINDS), max_items=len(KINDS), allow_empty=True),
    "status": Items((), Choice(STATUSES[0], STATUSES), max_items=len(STATUSES), allow_empty=True),
    "tag": Text("", 200),
    "q": Text("", 200),
    "sort": Choice("created_at", tuple(SORTS)),
    "order": Choice("desc", ("desc", "asc")),
    "size": Choice(50, PAGE_SIZES),
    "compare": Items((), Int(1, 1, 2**63 - 1), max_items=50, allow_empty=True),
}

st.title("Saved runs")
st.caption(
    "Every experiment the app or a command line saved. Select runs in the table to manage "
    f"them; select 2–{MAX_COMPARE} to compare configs, metrics and curves side by side."
)

for key, default in (("runs_page", 0), ("runs_confirm_delete", False), ("runs_flash", None)):
    st.session_state.setdefault(key, default)
url, url_problems = read_url(PARAMS)
if "runs_pinned" not in st.session_state:
    # A shared link ``?compare=3,7`` opens that comparison (read once per session).
    st.session_state.runs_pinned = list(url["compare"])
    warn(url_problems)

Session = session_factory()
if Session is None:
    st.stop()

if st.session_state.runs_flash:
    st.success(st.session_state.runs_flash)
    st.session_state.runs_flash = None

params = st.query_params

# --- filters (kept in the URL so a filtered view can be shared) -------------------------
with guard("read the run list") as read, reading(Session) as s:
    tags = all_tags(s)
if not read.ok:
    st.stop()

f1, f2, f3, f4 = st.columns([2, 2, 2, 3])
kinds = f1.multiselect("Kind", KINDS, default=url["kind"], placeholder="all kinds")
statuses = f2.multiselect("Status", STATUSES, default=url["status"], placeholder="any status")
tag_options = ["(any tag)", *tags]
tag_param = url["tag"]
tag = f3.selectbox(
    "Tag", tag_options, index=tag_options.index(tag_param) if tag_param in tag_options else 0
)
text = f4.text_input("Search name and notes", value=url["q"], max_chars=200)

s1 = s2 = s3 = st.container(horizontal=True, vertical_alignment="bottom")
sort = s1.selectbox(
    "Sort by",
    list(SORTS),
    index=list(SORTS).index(url["sort"]),
    format_func=SORTS.get,
    width=220,
)
descending = s2.toggle("Descending", value=url["order"] == "desc")
page_size = s3.selectbox(
    "Rows per page", PAGE_SIZES, index=PAGE_SIZES.index(url["size"]), width=160
)

view = {
    "kind": tuple(kinds),
    "status": tuple(statuses),
    "tag": "" if tag == "(any tag)" else tag,
    "q": text,
    "sort": sort,
    "order": "desc" if descending else "asc",
    "size": page_size,
}
signature = repr(sorted((k, str(v)) for k, v in view.items()))
if st.session_state.get("runs_view") != signature:
    st.session_state.runs_view = signature
    st.session_state.runs_page = 0
write_url(PARAMS, view, omit_defaults=True)

query = RunQuery(
    kinds=tuple(kinds),
    statuses=tuple(statuses),
    tag=view["tag"] or None,
    text=text or None,
    sort=sort,
    descending=descending,
    offset=st.session_state.runs_page * page_size,
    limit=page_size,
)
with guard("read the run list") as read, reading(Session) as s:
    page = list_runs(s, query)
    rows = [
        {
            "id": r.id,
            "kind": r.kind,
            "name": r.name,
            "status": r.status,
            "created": r.created_at.replace(tzinfo=r.created_at.tzinfo or UTC),
            "tags": ", ".join(r.tag_names),
            "key metrics": key_metrics(r.summary),
            # A damaged row is listed with what is wrong, so it can be found and deleted.
            "problems": "; ".join(run_problems(r.kind, r.config, r.summary)),
        }
        for r in page.runs
    ]
if not read.ok:
    st.stop()

# --- import (always available, also on an empty store) ----------------------------------
with st.expander("Import runs from a JSON export", icon=":material/upload:"):
    upload = st.file_uploader("Glassbox export (.json)", type=["json"], key="runs_import")
    if upload is not None and st.button("Import", type="primary"):
        with guard("import the file") as outcome, Session.begin() as s:
            result = import_json(s, upload.getvalue())
        if outcome.ok:
            skipped = f", {len(result.skipped)} already present" if result.skipped else ""
            st.session_state.runs_flash = f"Imported {len(result.created)} run(s){skipped}."
            st.session_state.runs_import_warnings = result.warnings
            refresh_store_lists()
            st.rerun()
    if st.session_state.get("runs_import_warnings"):
        st.warning("Some artifact paths of the last import were not kept:")
        st.text("\n".join(st.session_state.runs_import_warnings))  # plain text: names are data

if page.total == 0:
    if any(view[k] != PARAMS[k].default for k in view):
        st.info("No run matches these filters.")
    else:
        st.info(
            "No saved runs yet. Runs appear here when you save a tokenizer, a sampling "
            "trajectory or a pool simulation, or train a model on the Training page."
        )
    st.stop()

pages_total = max(1, math.ceil(page.total / page_size))
first = query.offset + 1
st.markdown(
    f"**{page.total:,}** run(s) · showing {first:,}–{query.offset + len(rows):,} · "
    f"page {st.session_state.runs_page + 1} of {pages_total:,}"
)
table = st.dataframe(
    pd.DataFrame(rows),
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="multi-row",
    key=f"runs_table_{signature}_{st.session_state.runs_page}",
    column_config={
        "id": st.column_config.NumberColumn("id", width="small", format="%d"),
        "created": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "name": st.column_config.TextColumn("name", width="medium"),
        "key metrics": st.column_config.TextColumn("key metrics", width="medium"),
        "problems": st.column_config.TextColumn("problems", width="medium"),
    },
)
p1, p2, _ = st.columns([2, 2, 5])
if p1.button("← Previous", disabled=st.session_state.runs_page == 0):
    st.session_state.runs_page -= 1
    st.rerun()
if p2.button("Next →", disabled=st.session_state.runs_page >= pages_total - 1):
    st.session_state.runs_page += 1
    st.rerun()

selected_ids = [rows[i]["id"] for i in table.selection.rows]
if selected_ids:
    st.session_state.runs_pinned = []
    params["compare"] = ",".join(map(str, selected_ids))
elif st.session_state.runs_pinned:
    selected_ids = list(st.session_state.runs_pinned)
    st.caption(f"Showing runs {', '.join(map(str, selected_ids))} from the link.")
    if st.button("Clear this selection"):
        st.session_state.runs_pinned = []
        del params["compare"]
        st.rerun()
else:
    if "compare" in params:
        del params["compare"]
    st.caption("Select rows (tick the boxes at the left of the table) to manage or compare runs.")
    st.stop()

with guard("load the selected runs") as read, reading(Session) as s:
    selected = get_runs(s, selected_ids)
    labels = [f"#{r.id} {r.name}" for r in selected]
    configs = [r.config for r in selected]
    summaries = [r.summary for r in selected]
    single = selected[0] if len(selected) == 1 else None
    single_tags = single.tag_names if single else []
    single_broken = bool(single and run_problems(single.kind, single.config, single.summary))
    kinds_selected = {r.kind for r in selected}
    series_available = series_names(s, selected_ids) if len(selected) <= MAX_COMPARE else []
if not read.ok:
    st.stop()
if not selected:
    st.info("The selected runs no longer exist (deleted in another tab?).")
    st.session_state.runs_pinned = []
    st.stop()
gone = [i for i in selected_ids if i not in {r.id for r in selected}]
if gone:  # ids are never reused, so a link names these runs or none
    st.info(f"Run(s) {', '.join(map(str, gone))} no longer exist (deleted); showing the others.")
selected_ids = [r.id for r in selected]

# --- actions on the selection -----------------------------------------------------------
st.subheader(f"{len(selected)} selected")
a1, a2, a3 = st.columns(3)
with guard("export the runs") as outcome, reading(Session) as s:
    json_export = export_json(s, selected_ids)
    csv_export = export_csv(s, selected_ids)
if outcome.ok:
    a1.download_button(
        "Export JSON",
        json_export,
        "glassbox-runs.json",
        "application/json",
        icon=":material/download:",
    )
    a2.download_button(
        "Export CSV", csv_export, "glassbox-runs.csv", "text/csv", icon=":material/table:"
    )
if a3.button("Delete…", icon=":material/delete:"):
    st.session_state.runs_confirm_delete = True
if st.session_state.runs_confirm_delete:
    with st.container(border=True):
        st.warning(
            f"Delete {len(selected)} run(s) — {', '.join(md(x, 80) for x in labels[:5])}"
            f"{' …' if len(labels) > 5 else ''} — with their time series and artifact "
            "records? Files on disk (checkpoints) are kept. This cannot be undone."
        )
        c1, c2, _ = st.columns([1, 1, 4])
        if c1.button("Yes, delete", type="primary"):
            with guard("delete the runs") as outcome, Session.begin() as s:
                n = delete_runs(s, selected_ids)
            st.session_state.runs_confirm_delete = False
            if outcome.ok:
                st.session_state.runs_flash = f"Deleted {n} run(s)."
                refresh_store_lists()  # the sidebar menus must not offer deleted runs
                st.rerun()
        if c2.button("Cancel"):
            st.session_state.runs_confirm_delete = False
            st.rerun()

if single is not None:
    if single_broken:
        st.warning(
            "This run's stored data is damaged (see the problems column): the other pages "
            "skip or label it. Delete it, or export it, fix the file and import it again.",
            icon=":material/report:",
        )
    if single.status == RunStatus.RUNNING.value and st.button(
        "Mark interrupted",
        icon=":material/stop_circle:",
        help="For a run whose process was killed: it will never finish by itself.",
    ):
        with guard("mark the run interrupted") as outcome, Session.begin() as s:
            mark_interrupted(s, single.id)
        if outcome.ok:
            st.session_state.runs_flash = f"Marked run #{single.id} interrupted."
            st.rerun()
    with st.form(f"edit_{single.id}"):
        st.markdown(f"**Run #{single.id}** · {md(single.kind)} · {md(single.status)}")
        name = st.text_input("Name", value=single.name, max_chars=200)
        tag_text = st.text_input(
            "Tags (comma-separated)", value=", ".join(single_tags), max_chars=500
        )
        notes = st.text_area("Notes", value=single.notes, max_chars=20_000)
        if st.form_submit_button("Save changes", type="primary"):
            with guard("save the changes") as outcome, Session.begin() as s:
                update_run(s, single.id, name=name, notes=notes, tags=tag_text.split(","))
            if outcome.ok:
                st.session_state.runs_flash = f"Saved run #{single.id}."
                st.rerun()
    with st.expander("Config and metrics", expanded=False):
        st.json({"config": configs[0], "summary": summaries[0]})
    st.caption("Select a second run to compare.")
    st.stop()

if len(selected) > MAX_COMPARE:
    st.warning(
        f"{len(selected)} runs are selected; comparison shows at most {MAX_COMPARE}. "
        "Export and delete still apply to all of them."
    )
    st.stop()

# --- comparison ------------------------------------------------------------------------
st.subheader("Comparison")
# One above the other at full width: side by side, a wide table hid every run but the first.
tab_metrics, tab_config = st.container(), st.container()
tab_curves = st.container()
with tab_config:
    st.markdown("**Config**")
    show_all = st.toggle("Show all keys (not only those that differ)", value=False)
    diff = config_diff(configs, only_different=not show_all)
    if not diff:
        st.info("The configs are identical.")
    else:
        frame = pd.DataFrame(
            [[row.key, *[("—" if v is None else str(v)) for v in row.values]] for row in diff],
            columns=["key", *labels],
        )
        differs = [row.differs for row in diff]
        st.dataframe(
            frame.style.apply(
                lambda col: [
                    "background-color: rgba(230,159,0,0.25)" if d and col.name != "key" else ""
                    for d in differs
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        st.caption(f"{sum(differs)} of {len(diff)} keys shown differ (highlighted).")
with tab_metrics:
    st.markdown("**Metrics**")
    table_rows = metrics_table(summaries, [r.kind for r in selected])
    if not table_rows:
        st.info("None of these runs has numeric summary metrics.")
    else:
        cells = []
        for row in table_rows:
            arrow = {"min": " ↓", "max": " ↑"}.get(row.direction or "", "")
            cells.append(
                [
                    row.name + arrow,
                    *[
                        "—" if v is None else (f"★ {v:.6g}" if i in row.best else f"{v:.6g}")
                        for i, v in enumerate(row.values)
                    ],
                ]
            )
        st.dataframe(
            pd.DataFrame(cells, columns=["metric", *labels]),
            hide_index=True,
            width="stretch",
        )
        st.caption("★ marks the best value: ↓ lower is better, ↑ higher is better.")
with tab_curves:
    st.markdown("**Curves**")
    if not series_available:
        st.info("These runs recorded no time series.")
    else:
        chosen = st.multiselect(
            "Series", series_available, default=series_available[: min(3, len(series_available))]
        )
        with guard("read the time series") as outcome, reading(Session) as s:
            points = [
                (label, get_points(s, rid, chosen))
                for label, rid in zip(labels, selected_ids, strict=True)
            ]
        if outcome.ok and chosen:
            st.plotly_chart(series_overlay(points, chosen), width="stretch")

if kinds_selected == {"sampling"} and len(selected_ids) == 2:
    st.markdown("**Trajectories, aligned token by token**")
    try:
        with guard("read the trajectories") as outcome, reading(Session) as s:
            trajectories = [load_trajectory(s, rid) for rid in selected_ids]
    except SamplingError as exc:
        st.error(md(exc, 1000))
    else:
        if outcome.ok:
            rows = align_tokens(trajectories[0].records, trajectories[1].records)
            diverge = first_divergence(rows)
            st.caption(
                f"Same token at {agreement(rows):.0%} of positions; "
                + (
                    "identical continuations."
                    if diverge is None
                    else f"first difference at step {diverge + 1}."
                )
            )
            st.dataframe(
                pd.DataFrame(aligned_table(rows, (labels[0], labels[1]))),
                hide_index=True,
                width="stretch",
                column_config={
                    "p (a)": st.column_config.NumberColumn(format="%.3f"),
                    "p (b)": st.column_config.NumberColumn(format="%.3f"),
                },
            )
