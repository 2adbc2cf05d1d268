"""The run store: every experiment saved with SQLAlchemy (SQLite default, PostgreSQL shared).

Public API (the caller owns the session; see repository.py for an example)::

    Session = open_database()          # connect + migrate; sessionmaker
    with Session.begin() as s:
        run = record_run(s, kind=RunKind.POOL, name="40 models", config=cfg, summary=metrics)
"""

from core.store.compare import config_diff, key_metrics, metric_direction, metrics_table
from core.store.db import (
    DatabaseUnavailable,
    database_url,
    glassbox_home,
    make_engine,
    open_database,
    reading,
    redact,
    upgrade_database,
)
from core.store.exchange import (
    ImportFormatError,
    ImportResult,
    export_csv,
    export_json,
    flatten,
    import_json,
    parse_export,
)
from core.store.models import Artifact, Base, Run, RunKind, RunPoint, RunStatus, RunTag
from core.store.owner import (
    claim_run,
    current_owner,
    mark_interrupted,
    owner_alive,
    sweep_interrupted,
)
from core.store.record import ArtifactSpec, record_run
from core.store.repository import (
    InvalidRunData,
    RunNotFound,
    RunPage,
    RunQuery,
    add_artifact,
    add_points,
    all_tags,
    create_run,
    delete_runs,
    finish_run,
    finite,
    get_artifacts,
    get_points,
    get_run,
    get_runs,
    kind_counts,
    list_runs,
    replace_artifact,
    require_run,
    series_names,
    stored_content,
    to_jsonable,
    update_run,
)
from core.store.schema import run_problems

__all__ = [
    "Artifact",
    "ArtifactSpec",
    "Base",
    "DatabaseUnavailable",
    "ImportFormatError",
    "ImportResult",
    "InvalidRunData",
    "Run",
    "RunKind",
    "RunNotFound",
    "RunPage",
    "RunPoint",
    "RunQuery",
    "RunStatus",
    "RunTag",
    "add_artifact",
    "add_points",
    "claim_run",
    "all_tags",
    "config_diff",
    "create_run",
    "current_owner",
    "database_url",
    "delete_runs",
    "export_csv",
    "export_json",
    "finish_run",
    "finite",
    "flatten",
    "get_artifacts",
    "get_points",
    "get_run",
    "get_runs",
    "glassbox_home",
    "import_json",
    "key_metrics",
    "kind_counts",
    "list_runs",
    "mark_interrupted",
    "make_engine",
    "metric_direction",
    "metrics_table",
    "open_database",
    "owner_alive",
    "parse_export",
    "reading",
    "record_run",
    "redact",
    "run_problems",
    "replace_artifact",
    "require_run",
    "series_names",
    "stored_content",
    "sweep_interrupted",
    "to_jsonable",
    "update_run",
    "upgrade_database",
]
