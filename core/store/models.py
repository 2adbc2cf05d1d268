"""The run store's tables: every experiment the app saves is a ``Run``.

A run has a kind (tokenizer, training, sampling, pool simulation, ...), a JSON config that
reproduces it, flat summary metrics, time-series points in a child table (indexed for fast
range reads by run and series), artifact references (a checkpoint path with its sha256, or a
small blob stored inline), tags and notes. SQLAlchemy 2.0 declarative style
(``Mapped[...]``/``mapped_column``), with a naming convention on the metadata so that
Alembic migrations name constraints the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSON on SQLite, JSONB on PostgreSQL (indexable, compact); both round-trip Python dicts.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class RunKind(enum.StrEnum):
    """What produced a run; pages filter and compare by kind."""

    TOKENIZER = "tokenizer"
    TRAINING = "training"
    SAMPLING = "sampling"
    ATTENTION = "attention"
    EMBEDDING = "embedding"
    POOL = "pool"
    POOL_SWEEP = "pool_sweep"
    BENCHMARK = "benchmark"


class RunStatus(enum.StrEnum):
    """Life cycle of a run: running until it finishes, fails or is interrupted."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware moment, stored as UTC on every database.

    SQLite keeps no offset: without this, ``10:00+05:00`` would be stored as ``10:00`` and
    read back as ``10:00+00:00`` (five hours off). Values are converted to UTC on the way
    in, and naive values read back (SQLite) are marked UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """Timezone-aware current time in UTC (stored as such on both databases)."""
    return datetime.now(UTC)


def new_uid() -> str:
    """A globally unique run id that survives export/import between databases."""
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True, default=RunStatus.RUNNING.value)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")
    # "host:pid:start" of the process that runs it while status is running (see owner.py).
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    tags: Mapped[list[RunTag]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )
    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        Index("ix_runs_created_at_id", "created_at", "id"),
        Index("ix_runs_kind_created_at", "kind", "created_at"),
        # Never reuse the id of a deleted run (SQLite's default does): ids key caches and links.
        {"sqlite_autoincrement": True},
    )

    @property
    def tag_names(self) -> list[str]:
        return sorted(t.name for t in self.tags)

    def __repr__(self) -> str:
        return f"Run(id={self.id}, kind={self.kind!r}, name={self.name!r}, status={self.status!r})"


class RunTag(Base):
    __tablename__ = "run_tags"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)

    run: Mapped[Run] = relationship(back_populates="tags")


class RunPoint(Base):
    """One (x, y) sample of a named series, e.g. ("train_loss", step 120, 2.31)."""

    __tablename__ = "run_points"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    series: Mapped[str] = mapped_column(String(64))
    x: Mapped[float] = mapped_column(Float)
    # NULL where the value was not finite (NaN loss): SQLite cannot store NaN.
    y: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (Index("ix_run_points_run_series_x", "run_id", "series", "x"),)


class Artifact(Base):
    """A file the run produced (path + sha256) or a small blob stored inline (content)."""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    path: Mapped[str | None] = mapped_column(Text, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    content: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    run: Mapped[Run] = relationship(back_populates="artifacts")
