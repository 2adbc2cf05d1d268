"""Import and export request traces as CSV, including the Aegaeon artifact's trace format.

Glassbox format (``write_trace_csv``):  arrival_s,model,model_type,input_tokens,output_tokens
Artifact format (read only):           Request Time,Model Name,Input Length,Output Length
with times as ``hh:mm:ss.mmm``. Market models are numbered in order of first appearance; when
the file does not say which catalogue model serves each, they are assigned in the
``model_mix`` ratio in that order, in blocks or (``cycle=True``) cyclically as the artifact
maps 6:2:2 onto Qwen2.5-7B, Yi-9B, Llama-2-13B (model n gets entry n mod 10).
Rows are taken as they are (the artifact instead redraws lengths at random; see README of the
data). Every problem raises ``TraceError`` naming the line.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from core.pool.catalogue import model_spec
from core.pool.config import TraceError
from core.pool.workload import Trace, assign_types, clip_to_context

GLASSBOX_COLUMNS = ["arrival_s", "model", "model_type", "input_tokens", "output_tokens"]
ARTIFACT_COLUMNS = ["Request Time", "Model Name", "Input Length", "Output Length"]
DEFAULT_MIX = (("qwen2.5-7b", 6.0), ("yi-9b", 2.0), ("llama2-13b", 2.0))
MAX_TOKENS = 10_000_000  # per prompt or response: far above any context (they are clipped)
MAX_ARRIVAL_S = 10_000_000.0  # about 116 days of simulated time


def parse_clock(text: str) -> float:
    """``"01:02:03.500"`` -> 3723.5 seconds (also accepts plain seconds)."""
    parts = text.strip().split(":")
    if len(parts) == 1:
        return float(parts[0])
    if len(parts) != 3:
        raise ValueError(f"expected hh:mm:ss.mmm, got {text!r}")
    h, m, s = parts
    return int(h) * 3600 + int(m) * 60 + float(s)


def write_trace_csv(trace: Trace, path: str | Path | None = None) -> str:
    """Write the trace in Glassbox format; returns the CSV text (also saved when ``path``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(GLASSBOX_COLUMNS)
    for t, m, i, o in zip(
        trace.arrival_s.tolist(), trace.model.tolist(), trace.input_tokens.tolist(),
        trace.output_tokens.tolist(), strict=True,
    ):  # fmt: skip
        w.writerow([repr(t), trace.model_names[m], trace.model_types[m], i, o])
    text = buf.getvalue()
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def read_trace_csv(
    source: str | Path,
    model_mix: tuple[tuple[str, float], ...] = DEFAULT_MIX,
    until_s: float | None = None,
    text: str | None = None,
    cycle: bool = False,
) -> Trace:
    """Read a trace from a file path (or from ``text``), either format, sorted by arrival.
    ``cycle``: map untyped market models onto ``model_mix`` cyclically, as the artifact does
    (``workload.assign_types``), instead of in contiguous blocks."""
    if text is None:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TraceError(f"cannot read trace {source}: {exc}") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise TraceError(f"trace {source} is empty")
    header = [h.strip() for h in rows[0]]
    if header == ARTIFACT_COLUMNS:
        cols, has_type, clock = (0, 1, None, 2, 3), False, True
    elif header == GLASSBOX_COLUMNS:
        cols, has_type, clock = (0, 1, 2, 3, 4), True, False
    else:
        raise TraceError(
            f"trace {source}: unrecognised header {header}; expected {GLASSBOX_COLUMNS}"
            f" or the artifact's {ARTIFACT_COLUMNS}"
        )
    arrival, names, types, inputs, outputs = [], [], [], [], []
    index: dict[str, int] = {}
    type_of: dict[str, str] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise TraceError(
                f"trace {source} line {lineno}: {len(row)} fields, expected {len(header)}"
            )
        try:
            t = parse_clock(row[cols[0]]) if clock else float(row[cols[0]])
            i, o = int(row[cols[3]]), int(row[cols[4]])
        except ValueError as exc:
            raise TraceError(f"trace {source} line {lineno}: {exc}") from None
        if not np.isfinite(t) or t < 0 or i < 1 or o < 1:
            raise TraceError(
                f"trace {source} line {lineno}: need time ≥ 0 and lengths ≥ 1, got {row}"
            )
        if t > MAX_ARRIVAL_S or i > MAX_TOKENS or o > MAX_TOKENS:
            raise TraceError(
                f"trace {source} line {lineno}: arrival times above {MAX_ARRIVAL_S:,.0f} s "
                f"and lengths above {MAX_TOKENS:,} tokens are not simulated, got {row}"
            )
        if until_s is not None and t >= until_s:
            continue
        name = row[cols[1]].strip()
        if name not in index:
            index[name] = len(index)
            if has_type:
                type_of[name] = model_spec(row[cols[2]].strip()).name
        arrival.append(t)
        names.append(index[name])
        inputs.append(i)
        outputs.append(o)
    if not arrival:
        raise TraceError(
            f"trace {source} has no requests" + (f" before {until_s} s" if until_s else "")
        )
    market = tuple(index)
    types = (
        tuple(type_of[n] for n in market)
        if has_type
        else assign_types(len(market), model_mix, cycle)
    )
    a = np.asarray(arrival, dtype=float)
    order = np.argsort(a, kind="stable")
    model = np.asarray(names, dtype=np.int64)[order]
    limits = np.array([model_spec(t).max_context for t in types], dtype=np.int64)[model]
    inp, out = clip_to_context(
        np.asarray(inputs, dtype=np.int64)[order],
        np.asarray(outputs, dtype=np.int64)[order],
        limits,
    )
    trace = Trace(a[order], model, inp, out, market, types)
    trace.check()
    return trace
