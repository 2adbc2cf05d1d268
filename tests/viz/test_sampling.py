"""Figure builders and token labels of the sampling page."""

from __future__ import annotations

from core.sampling import BranchTree, Sampler, SamplingConfig
from core.viz.sampling import (
    _plotly_text,
    branch_tree_figure,
    entropy_overlay_figure,
    escape_markdown,
    latency_figure,
    probability_colour,
    stage_bars_figure,
    stage_summary,
    token_label,
    trajectory_figure,
)


def test_token_labels_show_whitespace_and_escape_markdown():
    assert escape_markdown("a*b]:[c$") == "a\\*b\\]\\:\\[c\\$"
    assert token_label(" **", 0.9) == ":blue-background[·\\*\\*]"
    assert _plotly_text("<br> &") == "&lt;br&gt;·&amp;"
    assert [probability_colour(p) for p in (0.01, 0.1, 0.3, 0.6, 0.95)] == [
        "red",
        "orange",
        "yellow",
        "green",
        "blue",
    ]


def test_stage_bars_have_one_trace_per_stage_and_mark_the_chosen_token(model, enc):
    s = Sampler(model, enc, "Bars", SamplingConfig(temperature=0.5, top_k=3, seed=1), top_n=6)
    rec = s.step()
    fig = stage_bars_figure(rec, max_candidates=6)
    assert [t.name for t in fig.data] == ["model (raw)", "temperature", "top-k"]
    assert len(fig.data[0].x) == 6
    assert fig.data[2].text.count("✕") == 3  # top-k 3 removed 3 of the 6 shown candidates
    assert stage_summary(rec) == "model 257 → temperature 257 → top-k 3 (−254)"
    chosen_x = rec.candidate_index(rec.token_id)
    rect = fig.layout.shapes[0]
    assert rect.x0 == chosen_x - 0.5 and rect.x1 == chosen_x + 0.5


def test_trajectory_and_overlay_figures(model, enc):
    a = Sampler(model, enc, "Lines", SamplingConfig(seed=1))
    b = Sampler(model, enc, "Lines", SamplingConfig(temperature=1.5, seed=1))
    a.run(4)
    b.run(3)
    fig = trajectory_figure(a.records, selected=2)
    assert [t.name for t in fig.data] == [
        "model entropy",
        "entropy after processors",
        "cumulative log-prob",
    ]
    assert list(fig.data[0].x) == [1, 2, 3, 4]
    overlay = entropy_overlay_figure({"T=1": a.records, "T=1.5": [r.to_dict() for r in b.records]})
    assert [len(t.y) for t in overlay.data] == [4, 3]
    assert list(overlay.data[0].y) == [r.entropy for r in a.records]


def test_latency_and_tree_figures(model, enc):
    fig = latency_figure([5.0, 1.0], [5.0, 4.0])
    assert [t.name for t in fig.data] == ["with KV cache", "without cache"]
    root = Sampler(model, enc, "T", SamplingConfig(seed=1))
    root.run(4)
    tree = BranchTree(root)
    tree.fork(0, 2, ord("x"))
    tree_fig = branch_tree_figure(tree.nodes())
    assert list(tree_fig.data[1].x) == [2, 2, 3] and list(tree_fig.data[1].y) == [0, -1, -1]
    assert tree_fig.data[1].line.width == 5  # the active branch is drawn thick
