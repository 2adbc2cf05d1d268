"""What a stored run of each kind must look like, and safe readers for rows that do not.

Two uses of one description:

* ``check_run`` validates a run before it is imported (``exchange.parse_export``): every
  string is valid Unicode, every number finite and in range, nesting at most
  ``MAX_DEPTH`` levels, and the fields each kind's readers rely on have the right type
  (``summary.n_vocab`` of a tokenizer is a whole number, ``summary.val_loss`` of a training
  run a number, ``summary.tokens`` of a sampling run a whole number, ...).
* ``run_problems`` runs the same field checks on a row already in the store (written by an
  older version, or by hand), so the Saved runs page can list it as broken, say why, and
  let the user delete it, while the menus skip or label it.

Readers never trust a stored value: ``whole`` and ``finite`` turn anything into a number
or None, ``as_dict`` anything into a dict.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from core.store.repository import finite

MAX_DEPTH = 32  # nested config levels (real configs use 3)
MAX_INT = 2**63 - 1  # what PostgreSQL's bigint and most JSON readers hold
MAX_TEXT = 1_000_000  # characters in one config string (a sampling prompt)
MAX_NOTES = 20_000  # the notes box of the Saved runs page


@dataclass(frozen=True)
class Field:
    """The type (and range) a reader expects of one config or summary value."""

    type: str  # "whole" (int), "number" (int or float), "text", "flag" (bool), "object"
    low: float | None = None  # smallest accepted value (numbers)
    high: float | None = None  # largest accepted value (numbers), or longest text
    nullable: bool = False  # None allowed (e.g. a val_loss that was NaN)


_COUNT = Field("whole", 0, MAX_INT)
_LOSS = Field("number", 0, 1e6, nullable=True)
_SECONDS = Field("number", 0, 1e9)

# Per kind: dotted key -> Field, for "config" and "summary". Keys not listed may hold any
# JSON value (still finite, valid Unicode and not too deep).
SCHEMAS: dict[str, dict[str, dict[str, Field]]] = {
    "tokenizer": {
        "config": {
            "pattern": Field("text", high=200),
            "vocab_size": Field("whole", 1, 10_000_000),
        },
        "summary": {
            "n_vocab": Field("whole", 1, 10_000_000),
            "chars_per_token": Field("number", 0, 1e6),
            "train_time_s": _SECONDS,
        },
    },
    "training": {
        "config": {
            "model": Field("object"),
            "model.n_layer": Field("whole", 1, 10_000),
            "model.n_embd": Field("whole", 1, 1_000_000),
            "model.n_head": Field("whole", 1, 10_000),
            "model.vocab_size": Field("whole", 1, 10_000_000),
            "model.context_length": Field("whole", 1, 10_000_000),
        },
        "summary": {
            "val_loss": _LOSS,
            "final_val_loss": _LOSS,
            "train_loss": _LOSS,
            "steps": _COUNT,
            "tokens_seen": _COUNT,
            "tokens_per_s": Field("number", 0, 1e15),
            "wall_time_s": _SECONDS,
            "message": Field("text", high=10_000),
        },
    },
    "sampling": {
        "config": {
            "model_id": Field("text", high=300, nullable=True),
            "prompt": Field("text", high=MAX_TEXT),
            "use_cache": Field("flag"),
            "top_n": Field("whole", 0, 100_000),
            "sampling": Field("object"),
        },
        "summary": {
            "tokens": Field("whole", 0, 10_000_000),
            "mean_entropy_nats": Field("number", 0, 1e3),
            "log_likelihood": Field("number", -1e12, 0),
            "perplexity": Field("number", 0, None),
            "median_step_latency_ms": Field("number", 0, 1e9),
            "forced_steps": _COUNT,
            "ended_with_eos": Field("whole", 0, 1),
        },
    },
}


def whole(value: Any) -> int | None:
    """``value`` if it is a whole number a reader can use (not bool), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) <= MAX_INT else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict, else an empty one (a damaged config or summary)."""
    return value if isinstance(value, dict) else {}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_field(where: str, value: Any, spec: Field) -> str | None:
    if value is None:
        return None if spec.nullable else f"{where} is missing (null)"
    if spec.type == "whole":
        number = whole(value)
        if number is None:
            return f"{where} is {_short(value)}, not a whole number"
    elif spec.type == "number":
        number = finite(value) if not isinstance(value, bool) else None
        if number is None:
            return f"{where} is {_short(value)}, not a finite number"
    elif spec.type == "text":
        if not isinstance(value, str):
            return f"{where} is {_short(value)}, not text"
        if spec.high is not None and len(value) > spec.high:
            return f"{where} is {len(value):,} characters long (at most {int(spec.high):,})"
        return None
    elif spec.type == "flag":
        return None if isinstance(value, bool) else f"{where} is {_short(value)}, not true/false"
    elif spec.type == "object":
        return None if isinstance(value, dict) else f"{where} is {_short(value)}, not an object"
    if spec.low is not None and number < spec.low:
        return f"{where} is {number:g}, below the smallest allowed ({spec.low:g})"
    if spec.high is not None and number > spec.high:
        return f"{where} is {number:g}, above the largest allowed ({spec.high:g})"
    return None


def _lookup(data: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def field_problems(kind: str, config: Any, summary: Any) -> list[str]:
    """What is wrong with a run's config and summary for its kind's readers (empty: fine)."""
    problems = []
    for part, data in (("config", config), ("summary", summary)):
        if not isinstance(data, dict):
            problems.append(f"{part} is {_short(data)}, not an object")
            continue
        for key, spec in SCHEMAS.get(kind, {}).get(part, {}).items():
            present, value = _lookup(data, key)
            if present:
                problem = _check_field(f"{part}.{key}", value, spec)
                if problem:
                    problems.append(problem)
    return problems


def _walk(value: Any, path: str, depth: int = 0) -> Iterator[str]:
    """Problems of any JSON value: depth, non-finite or huge numbers, invalid Unicode."""
    if depth > MAX_DEPTH:
        shown = path if len(path) <= 60 else path[:40] + "…"
        yield f"{shown} is nested more than {MAX_DEPTH} levels deep"
        return
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            yield f"{path} contains a lone surrogate (\\u{ord(value[_bad(value)]):04x}), not valid Unicode"
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if abs(value) > MAX_INT:
            yield f"{path} holds a {len(str(abs(value)))}-digit integer (at most {MAX_INT:,})"
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield f"{path} is {value!r}; numbers must be finite (use null for a missing value)"
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            yield from _walk(key, f"a key in {path or 'the run'}", depth + 1)
            yield from _walk(item, name if _valid(key) else f"{path}.?", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]", depth + 1)
    else:
        yield f"{path} is a {type(value).__name__}, not JSON data"


def _bad(text: str) -> int:
    return next(i for i, ch in enumerate(text) if 0xD800 <= ord(ch) <= 0xDFFF)


def _valid(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def value_problems(value: Any, path: str, *, levels_above: int = 0) -> list[str]:
    """Depth, number and Unicode problems anywhere in ``value`` (first five).

    ``levels_above``: how many levels of ``value`` wrap a config and do not count towards
    ``MAX_DEPTH`` (a whole run is 1: the run object around its config).
    """
    out = []
    for problem in _walk(value, path, -levels_above):
        out.append(problem)
        if len(out) == 5:
            break
    return out


def run_problems(kind: str, config: Any, summary: Any) -> list[str]:
    """Everything wrong with a stored run's data (empty when readers can use it)."""
    problems = value_problems(config, "config") + value_problems(summary, "summary")
    return problems + field_problems(kind, config, summary)
