"""Figures of the GPU-pool dashboard: the sweep's goodput marks and the live Gantt chart
(its states' colours on the light and dark themes)."""

from __future__ import annotations

import colorsys
import math

import numpy as np

from core.pool import PolicyName, PoolConfig, SimConfig, Simulation, WorkloadConfig
from core.pool.live import LiveHistory
from core.viz.pool import IDLE_COLOUR, PHASES, model_colour, sweep_figure
from core.viz.pool_live import LEGEND_MODEL, PHASE_LEGEND, gantt_figure


def test_sweep_figure_marks_each_goodput():
    fig = sweep_figure({"aegaeon": [(0.1, 1.0), (0.2, 0.8)]}, {"aegaeon": 0.15}, "rate")
    marks = [t for t in fig.data if t.name == "aegaeon goodput"]
    assert marks[0].x == (0.15,) and marks[0].y == (0.9,)
    assert not math.isnan(fig.layout.yaxis.range[1])


def test_gantt_draws_each_segment_of_the_window_once():
    cfg = SimConfig(
        workload=WorkloadConfig(num_models=8, rate_per_model=0.1, duration_s=60.0),
        pool=PoolConfig(num_gpus=4),
        policy=PolicyName.AEGAEON,
    )
    sim, hist = Simulation(cfg), LiveHistory()
    for t in np.arange(0.5, 20.5, 0.5):
        events, snap = sim.advance(until=float(t))
        hist.record(snap, events, [0.1] * 8)
    fig = gantt_figure(hist.segments, [f"GPU {i}" for i in range(4)], {}, snap.time)
    assert fig.layout.xaxis.title.text == "simulated time (s)"
    assert sum(len(t.x) for t in fig.data if t.x != (None,)) == len(
        [s for s in hist.segments if s[4] > max(0.0, snap.time - 60) and s[4] > s[3]]
    )


# Streamlit's light and dark theme backgrounds (the charts are transparent over them).
BACKGROUNDS = {"light": (255, 255, 255), "dark": (14, 17, 23)}


def _rgba(colour: str) -> tuple[float, float, float, float]:
    """'#8C8C8C', 'hsl(190, 65%, 48%)' or 'hsla(…, 0.2)' as 0-255 RGB and alpha (colorsys
    converts HSL, an independent reference for plotly's CSS colours)."""
    if colour.startswith("#"):
        return (*(int(colour[i : i + 2], 16) for i in (1, 3, 5)), 1.0)
    parts = [p.strip().rstrip("%") for p in colour[colour.index("(") + 1 : -1].split(",")]
    h, s, lum = float(parts[0]) / 360, float(parts[1]) / 100, float(parts[2]) / 100
    r, g, b = colorsys.hls_to_rgb(h, lum, s)
    return (r * 255, g * 255, b * 255, float(parts[3]) if len(parts) == 4 else 1.0)


def _over(colour: str, background: tuple[int, int, int]) -> tuple[float, ...]:
    *rgb, a = _rgba(colour)
    return tuple(a * c + (1 - a) * bg for c, bg in zip(rgb, background, strict=True))


def _contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """WCAG 2 contrast ratio of two opaque sRGB colours."""

    def lum(rgb):
        lin = [(c / 255) / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4
               for c in rgb]  # fmt: skip
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _style(marker) -> tuple:
    """(fill, outline width, outline colour) of the first bar of a trace's marker."""
    first = lambda v: v[0] if isinstance(v, tuple | list) else v  # noqa: E731
    line = marker.line
    width = first(line.width) or 0
    return (first(marker.color), width, first(line.color) if width else None)


def test_gantt_states_have_their_own_colours_on_light_and_dark_themes():
    # GPU 0..3 each in one phase, all for the same model (the legend's example colour).
    segments = [[i, "m", phase, 0.0, 10.0] for i, phase in enumerate(PHASES)]
    fig = gantt_figure(segments, [f"GPU {i}" for i in range(4)], {"m": LEGEND_MODEL}, 10.0)
    bars = {t.name: _style(t.marker) for t in fig.data if t.x != (None,)}
    legend = {t.legendgroup: (t.name, _style(t.marker)) for t in fig.data if t.x == (None,)}
    assert list(bars) == list(PHASES) and list(legend) == list(PHASES)
    assert len(set(bars.values())) == 4  # four states, four looks
    for phase in PHASES:  # each legend swatch is drawn as its bars are: no grey stand-ins
        assert legend[phase] == (PHASE_LEGEND[phase], bars[phase])
    assert bars["idle"] == (IDLE_COLOUR, 0, None)
    assert bars["decode"] == (model_colour(LEGEND_MODEL), 0, None)
    fill, width, outline = bars["switching"]
    assert width >= 2 and outline == model_colour(LEGEND_MODEL) and _rgba(fill)[3] <= 0.25
    for theme, bg in BACKGROUNDS.items():
        seen = {p: _over(outline or fill, bg) for p, (fill, _, outline) in bars.items()}
        for phase, colour in seen.items():  # every state stands out from the background
            assert _contrast(colour, bg) >= 2.0, (theme, phase, colour)
        # switching reads as the model's colour, idle as grey (they looked alike on dark)
        assert max(seen["switching"]) - min(seen["switching"]) > 100, theme
        assert max(seen["idle"]) - min(seen["idle"]) < 1, theme


def test_gantt_colours_each_bar_by_its_model_and_idle_grey():
    segments = [[0, "a", "decode", 0.0, 1.0], [0, "b", "decode", 1.0, 2.0]]
    segments += [[1, "b", "switching", 0.0, 2.0], [1, None, "idle", 2.0, 3.0]]
    fig = gantt_figure(segments, ["GPU 0", "GPU 1"], {"a": 0, "b": 1}, 3.0)
    by_phase = {t.name: t.marker for t in fig.data if t.x != (None,)}
    assert by_phase["decode"].color == (model_colour(0), model_colour(1))
    assert by_phase["switching"].color == (model_colour(1, alpha=0.2),)
    assert by_phase["switching"].line.color == (model_colour(1),)
    assert by_phase["idle"].color == (IDLE_COLOUR,)
