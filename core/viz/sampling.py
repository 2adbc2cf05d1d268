"""Plotly figures and token labels for the sampling page (pure functions: records in, figures out).

- `stage_bars_figure`: the step's top candidates before and after each processor, the
  chosen token highlighted (what temperature reshaped, what top-k / top-p cut);
- `trajectory_figure`: entropy and cumulative log-probability over the steps;
- `entropy_overlay_figure`: several trajectories' entropy curves on one chart (comparison,
  Runs page);
- `latency_figure`: per-step latency with and without the KV cache;
- `branch_tree_figure`: the main trajectory and its branches as a small tree;
- `token_label`: a token's text made visible (``core.tokenization.display.display_token``)
  and coloured by probability for ``st.pills`` (Streamlit's named colours read in both themes).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.tokenization.display import display_token

if TYPE_CHECKING:  # annotations only: drawing needs none of the sampler's code at run time
    from core.sampling.branches import TreeNode
    from core.sampling.records import StepRecord

# Sequential blues for the stages (raw = light, last processor = dark): readable on both themes.
STAGE_COLOURS = ["#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b", "#041c40"]
CHOSEN_COLOUR = "#e6550d"
# (upper bound of the probability, Streamlit colour name, legend text)
PROB_BUCKETS = [
    (0.05, "red", "< 5%"),
    (0.2, "orange", "5-20%"),
    (0.5, "yellow", "20-50%"),
    (0.8, "green", "50-80%"),
    (1.01, "blue", "≥ 80%"),
]
_MD_SPECIAL = set("\\`*_{}[]()#+-.!|~<>:$&")


def _plotly_text(text: str) -> str:
    """A token for plotly labels: whitespace visible, ``<``/``&`` escaped (plotly reads tags)."""
    return html.escape(display_token(text), quote=False)


def probability_colour(prob: float) -> str:
    """Streamlit colour name of the bucket ``prob`` falls in."""
    for upper, colour, _ in PROB_BUCKETS:
        if prob < upper:
            return colour
    return PROB_BUCKETS[-1][1]


def escape_markdown(text: str) -> str:
    """Backslash-escape every Markdown-special character (user and model text is data)."""
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in text)


def token_label(text: str, prob: float) -> str:
    """Markdown for a pill: the visible token on a background coloured by its probability."""
    return f":{probability_colour(prob)}-background[{escape_markdown(display_token(text))}]"


def probability_legend() -> str:
    return " ".join(f":{c}-background[{escape_markdown(t)}]" for _, c, t in PROB_BUCKETS)


def stage_summary(record: StepRecord) -> str:
    """How many candidates each stage left, e.g. ``model 4,096 → top-k 50 (−4,046)``."""
    parts = []
    for stage in record.stages:
        name = "model" if stage.name == "raw" else stage.label
        cut = f" (−{stage.removed_count:,})" if stage.removed_count else ""
        skipped = " (skipped)" if stage.skipped else ""
        parts.append(f"{name} {stage.kept_count:,}{cut}{skipped}")
    return " → ".join(parts)


def _axis_labels(record: StepRecord) -> list[str]:
    labels, seen = [], set()
    for c in record.candidates:
        label = _plotly_text(c.text)
        if label in seen:  # two byte-pieces can both decode to "�": keep x labels unique
            label = f"{label} #{c.token_id}"
        seen.add(label)
        labels.append(label)
    return labels


def stage_bars_figure(record: StepRecord, max_candidates: int = 12) -> go.Figure:
    """Grouped bars: probability of each candidate after every stage; chosen one marked."""
    n = min(max_candidates, len(record.candidates))
    keep = list(range(n))
    chosen = record.candidate_index(record.token_id)
    if chosen is not None and chosen >= n:
        keep[-1] = chosen
    labels = _axis_labels(record)
    x = [labels[i] for i in keep]
    top = max(max(stage.probs[i] for i in keep) for stage in record.stages) or 1.0
    fig = go.Figure()
    for s_index, stage in enumerate(record.stages):
        removed = set(stage.removed)
        hover = []
        for i in keep:
            c = record.candidates[i]
            note = f"<br>removed by {stage.label}" if c.token_id in removed else ""
            hover.append(
                f"{_plotly_text(c.text)} (id {c.token_id})<br>{stage.label}: "
                f"{stage.probs[i]:.4f}{note}"
            )
        fig.add_bar(
            name=stage.label + (" (skipped)" if stage.skipped else ""),
            x=x,
            y=[stage.probs[i] for i in keep],
            marker_color=STAGE_COLOURS[min(s_index, len(STAGE_COLOURS) - 1)],
            hovertext=hover,
            hoverinfo="text",
            text=["✕" if record.candidates[i].token_id in removed else "" for i in keep],
            textposition="outside",
        )
    if chosen is not None:
        fig.add_vrect(
            x0=keep.index(chosen) - 0.5,
            x1=keep.index(chosen) + 0.5,
            fillcolor=CHOSEN_COLOUR,
            opacity=0.15,
            line_width=2,
            line_color=CHOSEN_COLOUR,
            annotation_text="chosen" + (" (forced)" if record.forced else ""),
            annotation_position="top left",
        )
    fig.update_layout(
        barmode="group",
        title=f"Step {record.index + 1}: candidates before and after each processor",
        xaxis_title="candidate token (· = space, ↵ = newline, ✕ = removed)",
        yaxis_title="probability",
        yaxis_range=[0, min(1.0, top) * 1.15],
        legend_title="stage",
        margin={"t": 60, "b": 40},
        height=380,
    )
    return fig


def trajectory_figure(records: Sequence[StepRecord], selected: int | None = None) -> go.Figure:
    """Entropy (raw and sampled-from) and cumulative log-probability by step."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    steps = [r.index + 1 for r in records]
    texts = [_plotly_text(r.token_text) for r in records]
    fig.add_scatter(
        x=steps,
        y=[r.entropy for r in records],
        name="model entropy",
        mode="lines+markers",
        hovertext=texts,
        row=1,
        col=1,
    )
    fig.add_scatter(
        x=steps,
        y=[r.sampled_entropy for r in records],
        name="entropy after processors",
        mode="lines",
        line_dash="dash",
        hovertext=texts,
        row=1,
        col=1,
    )
    fig.add_scatter(
        x=steps,
        y=list(accumulate(r.logprob for r in records)),
        name="cumulative log-prob",
        mode="lines+markers",
        hovertext=texts,
        row=2,
        col=1,
    )
    if selected is not None and 0 <= selected < len(records):
        fig.add_vline(x=selected + 1, line_dash="dot", line_color=CHOSEN_COLOUR)
    fig.update_yaxes(title_text="entropy (nats)", row=1, col=1)
    fig.update_yaxes(title_text="Σ log p (nats)", row=2, col=1)
    fig.update_xaxes(title_text="step", row=2, col=1)
    fig.update_layout(height=420, margin={"t": 30, "b": 40}, hovermode="x unified")
    return fig


def _field(record: Any, name: str) -> Any:
    return record[name] if isinstance(record, Mapping) else getattr(record, name)


def entropy_overlay_figure(series: Mapping[str, Sequence[StepRecord | Mapping]]) -> go.Figure:
    """One entropy curve per trajectory (records or their dicts), overlaid."""
    fig = go.Figure()
    for name, records in series.items():
        values = [float(_field(r, "entropy")) for r in records]
        tokens = [str(_field(r, "token_text")) for r in records]
        fig.add_scatter(
            x=list(range(1, len(values) + 1)),
            y=values,
            name=name,
            mode="lines+markers",
            hovertext=[_plotly_text(t) for t in tokens],
        )
    fig.update_layout(
        title="Model entropy per step",
        xaxis_title="step",
        yaxis_title="entropy (nats)",
        height=340,
        margin={"t": 50, "b": 40},
        hovermode="x unified",
    )
    return fig


def latency_figure(cached_ms: Sequence[float], uncached_ms: Sequence[float]) -> go.Figure:
    """Per-step latency with and without the KV cache (step 1 includes the prompt)."""
    fig = go.Figure()
    for name, values in (("with KV cache", cached_ms), ("without cache", uncached_ms)):
        fig.add_scatter(
            x=list(range(1, len(values) + 1)), y=list(values), name=name, mode="lines+markers"
        )
    fig.update_layout(
        title="Step latency",
        xaxis_title="step",
        yaxis_title="latency (ms)",
        height=320,
        margin={"t": 50, "b": 40},
        hovermode="x unified",
    )
    return fig


def branch_tree_figure(nodes: Sequence[TreeNode]) -> go.Figure:
    """Each branch a horizontal line from its fork step to its length, joined to its parent."""
    lane = {node.id: i for i, node in enumerate(nodes)}
    fig = go.Figure()
    for node in nodes:
        y = -lane[node.id]
        xs, ys = [node.fork_step, node.length], [y, y]
        if node.parent is not None and node.parent in lane:
            xs, ys = [node.fork_step, *xs], [-lane[node.parent], *ys]
        snippet = _plotly_text(node.text[-60:])
        fig.add_scatter(
            x=xs,
            y=ys,
            mode="lines+markers",
            name=node.label,
            line={
                "width": 5 if node.active else 2,
                "color": CHOSEN_COLOUR if node.active else None,
            },
            hovertext=f"{node.label}: {node.length} steps<br>…{snippet}",
            hoverinfo="text",
            showlegend=False,
        )
        fig.add_annotation(
            x=node.length, y=y, text=node.label, showarrow=False, xanchor="left", xshift=6
        )
    fig.update_yaxes(visible=False)
    fig.update_layout(
        title="Branches",
        xaxis_title="step",
        height=120 + 40 * len(nodes),
        margin={"t": 40, "b": 40, "r": 120},
    )
    return fig
