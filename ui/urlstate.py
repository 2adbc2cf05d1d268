"""URL ⇄ page state: every query parameter typed and bounded, in one place for all pages.

A page declares its parameters once, as a dict of specs (the same bounds feed its widgets):

    PARAMS = {"n": Int(20, 1, 200), "order": Items(("top_k",), options=ORDER, max_items=8),
              "prompt": Text("The quick brown fox", max_chars=2000), "cache": Flag(True)}
    values, problems = read_url(PARAMS)   # bad entries fall back to their default …
    warn(problems)                        # … and are named in one escaped st.warning
    write_url(PARAMS, values)             # the state back into the link

Parsing is strict and cheap: ASCII digits only (``²`` and ``١٢`` are not numbers here),
finite numbers inside [lo, hi], known choices, lists cut to ``max_items``, texts cut at
``max_chars``, and every raw value longer than ``MAX_RAW`` characters refused before it is
looked at. :func:`parse_query` and :func:`query_of` are pure (tested without Streamlit);
only :func:`read_url`, :func:`warn` and :func:`write_url` touch ``st``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import streamlit as st

from ui.text import md

APP_FLAGS = ("present",)  # app-wide link flags (ui.presenter) that every page's link keeps
MAX_RAW = 10_000  # characters of one raw URL value looked at (a Text has its own cap)
_INT = re.compile(r"[+-]?[0-9]{1,19}")
_FLOAT = re.compile(r"[+-]?([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})([eE][+-]?[0-9]{1,3})?")


class BadValue(ValueError):
    """A raw URL value that does not fit its spec; the message says what would."""


class Param(Protocol):
    default: Any

    def parse(self, raw: str) -> Any: ...  # raises BadValue

    def dump(self, value: Any) -> str: ...


@dataclass(frozen=True)
class Int:
    """A whole number in [lo, hi]."""

    default: int
    lo: int
    hi: int

    def parse(self, raw: str) -> int:
        raw = raw.strip()
        if not _INT.fullmatch(raw) or not self.lo <= int(raw) <= self.hi:
            raise BadValue(f"a whole number from {self.lo:,} to {self.hi:,}")
        return int(raw)

    def dump(self, value: int) -> str:
        return str(int(value))


@dataclass(frozen=True)
class Float:
    """A finite number in [lo, hi]."""

    default: float
    lo: float
    hi: float

    def parse(self, raw: str) -> float:
        raw = raw.strip()
        value = float(raw) if _FLOAT.fullmatch(raw) else math.nan
        if not (math.isfinite(value) and self.lo <= value <= self.hi):
            raise BadValue(f"a number from {self.lo:g} to {self.hi:g}")
        return value

    def dump(self, value: float) -> str:
        return f"{float(value):g}" if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of options (names, or numbers such as speeds), matched as text."""

    default: Any
    options: tuple[Any, ...]

    def parse(self, raw: str) -> Any:
        for option in self.options:
            if str(option) == raw:
                return option
        shown = ", ".join(map(str, self.options[:8])) + (", …" if len(self.options) > 8 else "")
        raise BadValue(f"one of {shown}")

    def dump(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True)
class Flag:
    """On or off: ``1`` or ``0``."""

    default: bool

    def parse(self, raw: str) -> bool:
        if raw not in ("0", "1"):
            raise BadValue("1 (on) or 0 (off)")
        return raw == "1"

    def dump(self, value: bool) -> str:
        return "1" if value else "0"


@dataclass(frozen=True)
class Text:
    """Free text of at most ``max_chars`` characters (longer: refused, not cut)."""

    default: str
    max_chars: int

    def parse(self, raw: str) -> str:
        if len(raw) > self.max_chars:
            raise BadValue(f"text of at most {self.max_chars:,} characters (got {len(raw):,})")
        return raw

    def dump(self, value: str) -> str:
        return str(value)


@dataclass(frozen=True)
class Items:
    """A comma-separated list of at most ``max_items`` distinct items, each an ``item``.

    Bad items are dropped (and named), the rest kept; a list with no good item falls back
    to the default unless ``allow_empty``.
    """

    default: tuple[Any, ...]
    item: Int | Choice
    max_items: int
    allow_empty: bool = False

    def parse(self, raw: str) -> tuple[Any, ...]:
        values, _ = self.parse_items(raw)
        return values

    def parse_items(self, raw: str) -> tuple[tuple[Any, ...], list[str]]:
        """(good items, bad raw items); BadValue when nothing usable is left."""
        out: list[Any] = []
        bad: list[str] = []
        for part in (p for p in raw.split(",") if p.strip()):
            try:
                value = self.item.parse(part.strip())
            except BadValue:
                bad.append(part)
                continue
            if value not in out:
                out.append(value)
        if len(out) > self.max_items:
            bad.append(f"{len(out) - self.max_items} item(s) beyond the first {self.max_items}")
            out = out[: self.max_items]
        if not out and not (self.allow_empty and not bad):
            raise BadValue(f"a comma-separated list of up to {self.max_items} items")
        return tuple(out), bad

    def dump(self, value: Iterable[Any]) -> str:
        return ",".join(self.item.dump(v) for v in value)


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:40] + "…")


def parse_query(
    specs: Mapping[str, Param], query: Mapping[str, str | Sequence[str]]
) -> tuple[dict[str, Any], list[str]]:
    """(a value for every spec, plain-text problems) from raw URL entries.

    A missing entry takes its default silently; a bad one takes it with a problem such as
    ``n='²' is not a whole number from 1 to 200 (kept 20)``. A repeated key counts as a
    comma-separated list for :class:`Items` and as its last value otherwise.
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, spec in specs.items():
        values[key] = spec.default
        if key not in query:
            continue
        got = query[key]
        if isinstance(got, str):
            raw = got
        elif isinstance(spec, Items):
            raw = ",".join(got)
        else:
            raw = got[-1] if got else ""
        cap = spec.max_chars if isinstance(spec, Text) else MAX_RAW
        try:
            if len(raw) > cap:
                raise BadValue(f"a value of at most {cap:,} characters (got {len(raw):,})")
            if isinstance(spec, Items):
                values[key], bad = spec.parse_items(raw)
                if bad:
                    problems.append(f"{key}: ignored {', '.join(map(_shown, bad[:5]))}")
            else:
                values[key] = spec.parse(raw)
        except BadValue as exc:
            problems.append(f"{key}={_shown(raw)} is not {exc} (kept the default)")
    return values, problems


def query_of(specs: Mapping[str, Param], values: Mapping[str, Any]) -> dict[str, str]:
    """The URL entries of ``values`` (keys of ``specs`` present in ``values``)."""
    return {k: spec.dump(values[k]) for k, spec in specs.items() if k in values}


# ---------------------------------------------------------------- Streamlit side
def _raw_query(keys: Iterable[str]) -> dict[str, list[str]]:
    qp = st.query_params
    return {k: qp.get_all(k) for k in keys if k in qp}


def read_url(specs: Mapping[str, Param]) -> tuple[dict[str, Any], list[str]]:
    """:func:`parse_query` of the current URL."""
    return parse_query(specs, _raw_query(specs))


def warn(problems: Sequence[str], where: str = "the link") -> None:
    """One ``st.warning`` naming every bad entry (escaped: the values come from a URL)."""
    if problems:
        listed = "; ".join(md(p, 400) for p in problems[:12])
        more = f" (and {len(problems) - 12} more)" if len(problems) > 12 else ""
        st.warning(f"Ignored from {where}: {listed}{more}.", icon=":material/link_off:")


def write_url(
    specs: Mapping[str, Param],
    values: Mapping[str, Any],
    drop: Iterable[str] = (),
    omit_defaults: bool = False,
) -> None:
    """Put ``values`` into the URL, changing only entries that differ; remove ``drop`` keys
    (and, with ``omit_defaults``, the keys whose value is the default: shorter links)."""
    qp = st.query_params
    drop = set(drop)
    if omit_defaults:
        drop |= {k for k, v in values.items() if k in specs and v == specs[k].default}
    for key, text in query_of(specs, values).items():
        if key not in drop and qp.get_all(key) != [text]:
            qp[key] = text
    for key in drop:
        if key in qp:
            del qp[key]


def replace_url(entries: Mapping[str, str]) -> None:
    """Make the URL exactly ``entries`` (for pages whose set of keys changes with the state),
    keeping the app-wide flags of :data:`APP_FLAGS` that are there."""
    qp = st.query_params
    entries = dict(entries) | {k: qp[k] for k in APP_FLAGS if k in qp and k not in entries}
    if qp.to_dict() != entries:
        qp.from_dict(entries)
