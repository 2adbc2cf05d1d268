"""Side-by-side comparison of runs: which config values differ, which metric is best.

``config_diff`` flattens nested configs to dotted keys and lists, per key, each run's
value; ``metrics_table`` lines up summary metrics and marks the best run per metric,
using the metric's direction guessed from its name (``val_loss`` lower is better,
``slo_attainment`` higher is better; unknown names get no "best") unless the runs' kind
declares its directions (`KIND_DIRECTIONS`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from core.store.exchange import flatten
from core.store.repository import finite

Direction = Literal["min", "max"]

# Checked in order; the first fragment found in the metric's name decides.
_DIRECTION_HINTS: tuple[tuple[str, Direction], ...] = (
    ("attainment", "max"),
    ("goodput", "max"),
    ("accuracy", "max"),
    ("throughput", "max"),
    ("per_s", "max"),
    ("tok_s", "max"),
    ("flops", "max"),
    ("compression", "max"),
    ("chars_per_token", "max"),
    ("loss", "min"),
    ("perplexity", "min"),
    ("latency", "min"),
    ("ttft", "min"),
    ("tbt", "min"),
    ("error", "min"),
    ("miss", "min"),
    ("switch", "min"),
    ("gpus_needed", "min"),
    ("wall", "min"),
    ("_time", "min"),
    ("seconds", "min"),
    ("_s", "min"),
    ("_ms", "min"),
)


# Kinds that declare which of their metrics have a better direction; any other metric of
# theirs gets no ★. A sampling run's perplexity or forced steps describe the run, they do not
# rank it (greedy decoding always has the lowest perplexity).
KIND_DIRECTIONS: dict[str, dict[str, Direction]] = {"sampling": {}}


def metric_direction(name: str) -> Direction | None:
    """``"min"`` if lower is better, ``"max"`` if higher is better, None if unknown."""
    lowered = name.lower()
    for fragment, direction in _DIRECTION_HINTS:
        if fragment in lowered:
            return direction
    return None


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@dataclass
class DiffRow:
    key: str  # dotted config key, e.g. "model.n_layer"
    values: list[Any]  # one per run; None where the run lacks the key
    differs: bool


def config_diff(configs: list[dict[str, Any]], *, only_different: bool = True) -> list[DiffRow]:
    """Rows of the flattened configs, sorted by key; by default only keys that differ."""
    flat = [flatten(c if isinstance(c, dict) else {}) for c in configs]
    keys = sorted({k for f in flat for k in f})
    rows = []
    for key in keys:
        values = [f.get(key) for f in flat]
        present = [key in f for f in flat]
        differs = not all(present) or any(not _same(values[0], v) for v in values[1:])
        if differs or not only_different:
            rows.append(DiffRow(key=key, values=values, differs=differs))
    return rows


@dataclass
class MetricRow:
    name: str
    values: list[float | None]  # one per run
    direction: Direction | None
    best: list[int]  # indexes of the best run(s); empty when unknown or not comparable


def _number(value: Any) -> float | None:
    # The store's one filter: a summary of "many", NaN or 10**400 is no number here.
    return finite(value)


def metrics_table(
    summaries: list[dict[str, Any]], kinds: list[str] | None = None
) -> list[MetricRow]:
    """Numeric summary metrics side by side, with the best value per metric marked.

    With ``kinds`` (one per run): runs of different kinds get no ★ at all, and a kind in
    `KIND_DIRECTIONS` gets one only for the metrics it declares there.
    """
    summaries = [s if isinstance(s, dict) else {} for s in summaries]
    kind_set = set(kinds or [])
    declared = KIND_DIRECTIONS.get(next(iter(kind_set))) if len(kind_set) == 1 else None
    names = sorted({k for s in summaries for k, v in s.items() if _number(v) is not None})
    rows = []
    for name in names:
        values = [_number(s.get(name)) for s in summaries]
        if len(kind_set) > 1:
            direction = None
        elif declared is not None:
            direction = declared.get(name)
        else:
            direction = metric_direction(name)
        known = [v for v in values if v is not None]
        best: list[int] = []
        if direction and len(known) >= 2 and len(set(known)) > 1:
            target = min(known) if direction == "min" else max(known)
            best = [i for i, v in enumerate(values) if v == target]
        rows.append(MetricRow(name=name, values=values, direction=direction, best=best))
    return rows


def key_metrics(summary: dict[str, Any], limit: int = 3) -> str:
    """A short text of a run's first few numeric metrics for the run table."""
    parts = []
    summary = summary if isinstance(summary, dict) else {}
    for name in sorted(summary, key=str):
        value = _number(summary[name])
        if value is None:
            continue
        parts.append(f"{name}={value:.4g}")
        if len(parts) == limit:
            break
    return " · ".join(parts)
