"""Export runs as JSON or CSV, and import a JSON export back (round trip exact).

The JSON format is self-describing::

    {"format": "glassbox-runs", "version": 1,
     "runs": [{"uid": ..., "kind": ..., "name": ..., "status": ..., "config": {...},
               "summary": {...}, "notes": ..., "tags": [...],
               "created_at": "2026-11-26T05:30:00.123456+00:00", "updated_at": ...,
               "points": {"train_loss": [[0.0, 8.31], ...]},
               "artifacts": [{"name", "kind", "path", "sha256", "meta", "content_b64"}]}]}

Importing validates the whole file before writing anything; a run whose ``uid`` is already
in the database is skipped (importing the same file twice changes nothing).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.store.db import glassbox_home
from core.store.models import Artifact, Run, RunKind, RunStatus, RunTag
from core.store.repository import (
    InvalidRunData,
    add_points,
    clean_name,
    clean_tags,
    finite,
    get_artifacts,
    get_points,
    get_runs,
    to_jsonable,
)
from core.store.schema import MAX_DEPTH, MAX_NOTES, field_problems, value_problems

FORMAT = "glassbox-runs"
VERSION = 1
MAX_IMPORT_BYTES = 200 * 1024 * 1024
MAX_TAGS = 100
UID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
SHA256_PATTERN = re.compile(r"[0-9a-fA-F]{64}")


class ImportFormatError(ValueError):
    """The file is not a Glassbox run export; nothing was written."""


def _iso(moment: datetime) -> str:
    # SQLite hands back naive datetimes: every time the store writes is UTC.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def run_to_dict(session: Session, run: Run) -> dict[str, Any]:
    """One run with its points and artifacts as plain JSON data."""
    points = get_points(session, run.id)
    return {
        "uid": run.uid,
        "kind": run.kind,
        "name": run.name,
        "status": run.status,
        "config": run.config,
        "summary": run.summary,
        "notes": run.notes,
        "tags": run.tag_names,
        "created_at": _iso(run.created_at),
        "updated_at": _iso(run.updated_at),
        "points": {name: [[x, y] for x, y in pts] for name, pts in points.items()},
        "artifacts": [
            {
                "name": a.name,
                "kind": a.kind,
                "path": a.path,
                "sha256": a.sha256,
                "meta": a.meta,
                "content_b64": None
                if a.content is None
                else base64.b64encode(a.content).decode("ascii"),
            }
            for a in get_artifacts(session, run.id)
        ],
    }


def export_json(session: Session, run_ids: list[int]) -> str:
    """A JSON export of the given runs (in the given order)."""
    runs = [run_to_dict(session, r) for r in get_runs(session, run_ids)]
    return json.dumps({"format": FORMAT, "version": VERSION, "runs": runs}, indent=1)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys: ``{"a": {"b": 1}} -> {"a.b": 1}``; lists stay values."""
    if not isinstance(data, dict):
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: a string starting like a formula gets a ``'``.

    ``=HYPERLINK("http://x")`` -> ``'=HYPERLINK("http://x")``; numbers stay numbers
    (OWASP "CSV injection").
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_csv(session: Session, run_ids: list[int]) -> str:
    """One row per run: identity columns, then ``config.*`` and ``summary.*`` columns."""
    runs = get_runs(session, run_ids)
    rows = []
    for run in runs:
        row = {
            "id": run.id,
            "uid": run.uid,
            "kind": run.kind,
            "name": run.name,
            "status": run.status,
            "created_at": _iso(run.created_at),
            "tags": " ".join(run.tag_names),
            "notes": run.notes,
        }
        for prefix, data in (("config", run.config), ("summary", run.summary)):
            for key, value in flatten(data).items():
                row[f"{prefix}.{key}"] = (
                    json.dumps(value) if isinstance(value, list | dict) else value
                )
        rows.append(row)
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writerow({c: csv_cell(c) for c in columns})
    writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
    return buffer.getvalue()


@dataclass
class ImportResult:
    created: list[int]  # new run ids
    skipped: list[str]  # uids already present
    warnings: list[str] = field(default_factory=list)  # what was imported differently


def _fail(where: str, what: str) -> ImportFormatError:
    return ImportFormatError(f"not a valid Glassbox export: {where}: {what}")


def _parse_time(value: Any, where: str) -> datetime:
    """An ISO date-time as the same instant in UTC (no offset: read as UTC already).

    The store keeps UTC on both databases (SQLite has no offsets), so ``10:00+05:00`` is
    stored and exported as ``05:00+00:00``: the same instant, and export → import → export
    gives the same text.
    """
    if not isinstance(value, str):
        raise _fail(where, f"{value!r:.40} is not an ISO date-time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _fail(where, f"{value!r:.40} is not an ISO date-time") from exc
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _inside_home(path: str) -> bool:
    """Whether ``path`` names a place under ``$GLASSBOX_HOME`` (after resolving links)."""
    try:
        candidate = Path(path)
        if not candidate.is_absolute():
            return False
        return candidate.resolve().is_relative_to(glassbox_home().resolve())
    except (OSError, ValueError, RuntimeError):
        return False


def _check_run(run: Any, where: str) -> None:
    """Every rule a run must pass before anything is written (raises ImportFormatError)."""
    if not isinstance(run, dict):
        raise _fail(where, "must be an object")
    problems = value_problems(run, "", levels_above=1)
    if problems:
        raise _fail(where, "; ".join(problems[:3]))
    uid = run.get("uid")
    if not isinstance(uid, str) or not UID_PATTERN.fullmatch(uid):
        raise _fail(where, f"'uid' must be 1 to 32 letters, digits, '-' or '_' (got {uid!r:.40})")
    for key, kind in (("name", str), ("config", dict), ("summary", dict)):
        if not isinstance(run.get(key), kind):
            raise _fail(where, f"{key!r} must be a {kind.__name__}")
    try:
        clean_name(run["name"])
        tags = run.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InvalidRunData("'tags' must be a list of texts")
        if len(tags) > MAX_TAGS:
            raise InvalidRunData(f"{len(tags)} tags (at most {MAX_TAGS})")
        clean_tags(tags)
    except InvalidRunData as exc:
        raise _fail(where, str(exc)) from exc
    notes = run.get("notes")
    if notes is not None and (not isinstance(notes, str) or len(notes) > MAX_NOTES):
        raise _fail(where, f"'notes' must be a text of at most {MAX_NOTES:,} characters")
    if run.get("kind") not in {k.value for k in RunKind}:
        raise _fail(where, f"unknown kind {run.get('kind')!r:.40}")
    if run.get("status") not in {s.value for s in RunStatus}:
        raise _fail(where, f"unknown status {run.get('status')!r:.40}")
    fields = field_problems(run["kind"], run["config"], run["summary"])
    if fields:
        raise _fail(where, "; ".join(fields[:3]))
    _parse_time(run.get("created_at"), where)
    _parse_time(run.get("updated_at"), where)
    points = run.get("points") or {}
    if not isinstance(points, dict):
        raise _fail(where, "'points' must be an object of series: {\"loss\": [[x, y], ...]}")
    for name, pts in points.items():
        if not 1 <= len(name) <= 64:
            raise _fail(where, f"series name {name[:20]!r} must have 1 to 64 characters")
        if not isinstance(pts, list):
            raise _fail(where, f"series {name!r} must be a list of [x, y] pairs")
        for p in pts:
            if (
                not isinstance(p, list)
                or len(p) != 2
                or finite(p[0]) is None
                or (p[1] is not None and finite(p[1]) is None)
            ):
                raise _fail(
                    where,
                    f"series {name!r}: {p!r:.40} is not an [x, y] pair of numbers "
                    "(x a finite number, y a finite number or null)",
                )
    artifacts = run.get("artifacts") or []
    if not isinstance(artifacts, list):
        raise _fail(where, "'artifacts' must be a list")
    for art in artifacts:
        _check_artifact(art, where)


def _check_artifact(art: Any, where: str) -> None:
    if not isinstance(art, dict) or not isinstance(art.get("name"), str):
        raise _fail(where, "each artifact needs a name")
    name = art["name"]
    if not 1 <= len(name) <= 200:
        raise _fail(where, "artifact names have 1 to 200 characters")
    for key, longest in (("kind", 32), ("path", 4096), ("sha256", 64)):
        value = art.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > longest):
            raise _fail(where, f"artifact {name!r:.40}: {key!r} must be a text (≤ {longest})")
    sha = art.get("sha256")
    if sha is not None and not SHA256_PATTERN.fullmatch(sha):
        raise _fail(where, f"artifact {name!r:.40}: 'sha256' must be 64 hexadecimal digits")
    if art.get("meta") is not None and not isinstance(art["meta"], dict):
        raise _fail(where, f"artifact {name!r:.40}: 'meta' must be an object")
    if art.get("content_b64") is not None:
        try:
            base64.b64decode(art["content_b64"], validate=True)
        except (ValueError, TypeError) as exc:
            raise _fail(where, f"artifact {name!r:.40} content is not base64") from exc


def parse_export(data: bytes | str) -> list[dict[str, Any]]:
    """Validate an export fully; return its runs. Raises ImportFormatError."""
    if isinstance(data, bytes):
        if len(data) > MAX_IMPORT_BYTES:
            raise ImportFormatError(f"the file is larger than {MAX_IMPORT_BYTES // 2**20} MiB")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFormatError("the file is not UTF-8 text (is it a JSON export?)") from exc
    try:
        doc = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(f"the file is not JSON ({exc.msg}, line {exc.lineno})") from exc
    except RecursionError as exc:
        raise ImportFormatError(
            f"the file nests lists or objects too deeply (a run allows {MAX_DEPTH} levels)"
        ) from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ImportFormatError(
            f'the file is JSON but not a Glassbox export (no "format": "{FORMAT}")'
        )
    if doc.get("version") != VERSION:
        raise ImportFormatError(f"export version {doc.get('version')!r} is not supported")
    runs = doc.get("runs")
    if not isinstance(runs, list):
        raise _fail("runs", "must be a list")
    for i, run in enumerate(runs):
        _check_run(run, f"run {i + 1}")
    return runs


def import_json(session: Session, data: bytes | str) -> ImportResult:
    """Import an export: validate everything first, then insert runs not yet present."""
    runs = parse_export(data)
    uids = [r["uid"] for r in runs]
    existing = set(session.scalars(select(Run.uid).where(Run.uid.in_(uids))))
    result = ImportResult(created=[], skipped=[])
    for item in runs:
        if item["uid"] in existing:
            result.skipped.append(item["uid"])
            continue
        existing.add(item["uid"])
        run = Run(
            uid=item["uid"],
            kind=item["kind"],
            name=item["name"],
            status=item["status"],
            config=to_jsonable(item["config"]),
            summary=to_jsonable(item["summary"]),
            notes=item.get("notes") or "",
            tags=[RunTag(name=t) for t in clean_tags(item.get("tags") or [])],
            created_at=_parse_time(item["created_at"], "created_at"),
            updated_at=_parse_time(item["updated_at"], "updated_at"),
        )
        session.add(run)
        session.flush()
        for name, pts in (item.get("points") or {}).items():
            add_points(session, run.id, name, [(p[0], p[1]) for p in pts])
        for art in item.get("artifacts") or []:
            content = art.get("content_b64")
            path = art.get("path")
            if path is not None and not _inside_home(path):
                result.warnings.append(
                    f"run {item['name']!r:.60}: artifact {art['name']!r:.60} points at a file "
                    f"outside $GLASSBOX_HOME ({glassbox_home()}); it was imported without its "
                    "path (copy the file under $GLASSBOX_HOME and re-import to use it)"
                )
                path = None
            session.add(
                Artifact(
                    run_id=run.id,
                    name=art["name"],
                    kind=art.get("kind") or "file",
                    path=path,
                    sha256=art.get("sha256"),
                    meta=to_jsonable(art.get("meta") or {}),
                    content=None if content is None else base64.b64decode(content),
                )
            )
        # updated_at has an onupdate hook: the flush above must not move it.
        run.updated_at = _parse_time(item["updated_at"], "updated_at")
        session.flush()
        result.created.append(run.id)
    return result
