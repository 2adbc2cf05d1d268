"""The Sampling page's two side panels: the KV cache measured, and two settings compared.

Both run on the shared worker pool (``ui.jobs.run_job``) with the page's model, prompt and
settings, and keep their result in the session (``smp_cache_cmp``, ``smp_compare``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from core.sampling import (
    MAX_TEMPERATURE,
    SamplingConfig,
    align_tokens,
    aligned_table,
    compare_cache,
    run_side_by_side,
)
from core.sampling import page as sp
from core.sampling.compare import agreement_line
from core.viz.sampling import entropy_overlay_figure, escape_markdown, latency_figure, token_label
from ui.jobs import run_job
from ui.text import md

RUN_N_MAX = sp.RUN_N_MAX


@dataclass(frozen=True)
class Run:
    """What both panels run with: the page's shared model and its current inputs."""

    model: Any  # shared, read-only
    tokenizer: Any
    prompt: str
    config: SamplingConfig
    errors: tuple[type[BaseException], ...]


def cache_panel(run: Run) -> None:
    """The same steps with and without the KV cache: latency, and that the tokens agree."""
    n_measure = st.number_input("Steps to measure", 4, 128, 32, key="smp_measure_n")
    if st.button("Measure with and without the cache", key="smp_measure"):
        try:
            st.session_state.smp_cache_cmp = run_job(  # on the shared worker pool
                "Measuring with and without the cache",
                lambda report: compare_cache(
                    run.model, run.tokenizer, run.prompt, run.config, int(n_measure)
                ),
            )
        except run.errors as exc:
            st.error(md(exc, 1000))
    cmp = st.session_state.smp_cache_cmp
    if cmp is not None:
        c = st.columns(3)
        c[0].metric("With cache (median)", f"{cmp.median_cached_ms:.2f} ms")
        c[1].metric("Without cache (median)", f"{cmp.median_uncached_ms:.2f} ms")
        c[2].metric("Speed-up", f"{cmp.speedup:.1f}×")
        st.plotly_chart(latency_figure(cmp.cached_ms, cmp.uncached_ms), key="smp_latency")
        st.caption("Identical tokens both ways: " + ("yes ✓" if cmp.tokens_equal else "NO"))


def compare_panel(run: Run) -> None:
    """Two temperatures / top-p on the same prompt and seed, aligned token by token."""
    st.caption("Both use this page's prompt, seed and other settings; only these differ.")
    d1, d2, d3, d4, d5 = st.columns(5)
    t_a = d1.number_input("Temperature A", 0.0, MAX_TEMPERATURE, 0.7, 0.1, key="smp_cmp_ta")
    p_a = d2.slider("Top-p A", 0.01, 1.0, 1.0, 0.01, key="smp_cmp_pa")
    t_b = d3.number_input("Temperature B", 0.0, MAX_TEMPERATURE, 1.5, 0.1, key="smp_cmp_tb")
    p_b = d4.slider("Top-p B", 0.01, 1.0, 1.0, 0.01, key="smp_cmp_pb")
    n_cmp = d5.number_input("Steps", 1, RUN_N_MAX, 30, key="smp_cmp_n")
    if st.button("Run comparison", key="smp_cmp_run"):
        variants = sp.compare_variants(t_a, p_a, t_b, p_b)
        try:
            st.session_state.smp_compare = run_job(  # on the shared worker pool
                "Running both settings",
                lambda report: run_side_by_side(
                    run.model, run.tokenizer, run.prompt, run.config, variants, int(n_cmp)
                ),
            )
        except run.errors as exc:
            st.error(md(exc, 1000))
    if st.session_state.smp_compare:
        (la, sa), (lb, sb) = st.session_state.smp_compare.items()
        rows = align_tokens(sa.records, sb.records)
        for col, label, s in zip(st.columns(2), (la, lb), (sa, sb), strict=True):
            col.markdown(f"**{escape_markdown(label)}**")
            col.markdown(" ".join(token_label(r.token_text, r.prob) for r in s.records))
        st.write(agreement_line(rows))
        st.plotly_chart(entropy_overlay_figure({la: sa.records, lb: sb.records}), key="smp_cmp_fig")
        table = aligned_table(rows, (la, lb), probabilities=False)
        st.dataframe(pd.DataFrame(table), hide_index=True)
