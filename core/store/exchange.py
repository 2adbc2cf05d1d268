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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.store.models import Artifact, Run, RunKind, RunStatus, RunTag
from core.store.repository import (
    add_points,
    clean_tags,
    get_artifacts,
    get_points,
    get_runs,
    to_jsonable,
)

FORMAT = "glassbox-runs"
VERSION = 1
MAX_IMPORT_BYTES = 200 * 1024 * 1024


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
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@dataclass
class ImportResult:
    created: list[int]  # new run ids
    skipped: list[str]  # uids already present


def _fail(where: str, what: str) -> ImportFormatError:
    return ImportFormatError(f"not a valid Glassbox export: {where}: {what}")


def _parse_time(value: Any, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise _fail(where, f"{value!r} is not an ISO date-time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
        where = f"run {i + 1}"
        if not isinstance(run, dict):
            raise _fail(where, "must be an object")
        for key, kind in (("uid", str), ("name", str), ("config", dict), ("summary", dict)):
            if not isinstance(run.get(key), kind):
                raise _fail(where, f"{key!r} must be a {kind.__name__}")
        if run.get("kind") not in {k.value for k in RunKind}:
            raise _fail(where, f"unknown kind {run.get('kind')!r}")
        if run.get("status") not in {s.value for s in RunStatus}:
            raise _fail(where, f"unknown status {run.get('status')!r}")
        _parse_time(run.get("created_at"), where)
        _parse_time(run.get("updated_at"), where)
        for name, pts in (run.get("points") or {}).items():
            if not isinstance(pts, list) or any(
                not isinstance(p, list) or len(p) != 2 or not isinstance(p[0], int | float)
                for p in pts
            ):
                raise _fail(where, f"series {name!r} must be a list of [x, y] pairs")
        for art in run.get("artifacts") or []:
            if not isinstance(art, dict) or not isinstance(art.get("name"), str):
                raise _fail(where, "each artifact needs a name")
            if art.get("content_b64") is not None:
                try:
                    base64.b64decode(art["content_b64"], validate=True)
                except ValueError as exc:
                    raise _fail(where, f"artifact {art['name']!r} content is not base64") from exc
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
            session.add(
                Artifact(
                    run_id=run.id,
                    name=art["name"],
                    kind=art.get("kind") or "file",
                    path=art.get("path"),
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
