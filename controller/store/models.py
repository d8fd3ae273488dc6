"""ORM models of the result store (SQLAlchemy 2.x typed declarative mapping).

These rows never leave :mod:`lts.controller.store`: reads return the frozen records of
:mod:`lts.controller.store.records`. Unique constraints carry the invariants:

* one device per (agent name, fingerprint);
* one architecture per content id;
* one measurement per (architecture, device, settings): the measurement cache;
* one value per (measurement, objective): a measurement's figures are rows, one per measured
  objective (:mod:`lts.shared.objectives`), so a new objective needs no new column;
* one candidate per (search, device, iteration, architecture);
* one hypervolume per (search, device, iteration);
* one reported (final) figure per (search, device, architecture, role).

The column types are the portable ones of :mod:`lts.controller.store._types`: time stamps in UTC,
floats and JSON that keep ``NaN`` and infinities, string limits enforced on SQLite too; the
same schema is created on SQLite and PostgreSQL (integer ids are ``SERIAL`` there).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lts.controller.store._types import (
    BoundedString,
    ClippedText,
    ExactFloat,
    ExactJSON,
    UTCDateTime,
    utcnow,
)

#: The most characters of an error or a status message a row keeps (they may come from a
#: remote agent; the wire schemas bound them already).
MAX_MESSAGE = 4096


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class SchemaVersionRow(Base):
    """One row: the schema version of this database (see :mod:`lts.controller.store.schema`)."""

    __tablename__ = "lts_schema"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeviceRow(Base):
    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("name", "fingerprint", name="uq_device_name_fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(BoundedString(200))
    fingerprint: Mapped[str] = mapped_column(BoundedString(200))
    url: Mapped[str | None] = mapped_column(BoundedString(500), nullable=True)
    info: Mapped[dict[str, Any]] = mapped_column(ExactJSON)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class ArchitectureRow(Base):
    __tablename__ = "architectures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    arch_id: Mapped[str] = mapped_column(BoundedString(64), unique=True)
    backbone: Mapped[str] = mapped_column(BoundedString(32))
    config: Mapped[dict[str, Any]] = mapped_column(ExactJSON)
    n_layer: Mapped[int] = mapped_column(Integer)
    d_model: Mapped[int] = mapped_column(Integer)
    decoder_params: Mapped[int] = mapped_column(BigInteger)
    total_params: Mapped[int] = mapped_column(BigInteger)
    params: Mapped[dict[str, Any]] = mapped_column(ExactJSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MeasurementRow(Base):
    __tablename__ = "measurements"
    __table_args__ = (
        UniqueConstraint(
            "architecture_id", "device_id", "settings_hash", name="uq_measurement_cache"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    architecture_id: Mapped[int] = mapped_column(ForeignKey("architectures.id"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    settings_hash: Mapped[str] = mapped_column(BoundedString(64))
    settings_key: Mapped[str] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(ExactJSON)
    status: Mapped[str] = mapped_column(BoundedString(16))
    error: Mapped[str | None] = mapped_column(ClippedText(MAX_MESSAGE), nullable=True)
    memory: Mapped[dict[str, Any]] = mapped_column(ExactJSON, default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(ExactJSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MeasurementValueRow(Base):
    """One measured objective's value of a measurement (schema version 3): the median of a
    latency, a peak memory; ``stats`` its other statistics (p10, p90, mean, min, cv, n) and
    ``samples`` the raw timed runs (empty for a quantity measured once)."""

    __tablename__ = "measurement_values"
    __table_args__ = (
        UniqueConstraint("measurement_id", "objective", name="uq_measurement_value"),
        Index("ix_measurement_value_measurement", "measurement_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    measurement_id: Mapped[int] = mapped_column(ForeignKey("measurements.id"))
    objective: Mapped[str] = mapped_column(BoundedString(32))
    value: Mapped[float] = mapped_column(ExactFloat)
    stats: Mapped[dict[str, Any]] = mapped_column(ExactJSON, default=dict)
    samples: Mapped[list[Any]] = mapped_column(ExactJSON, default=list)


class SearchRow(Base):
    __tablename__ = "searches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(BoundedString(200), nullable=True)
    settings: Mapped[dict[str, Any]] = mapped_column(ExactJSON)
    seed: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(BoundedString(16))
    message: Mapped[str | None] = mapped_column(ClippedText(MAX_MESSAGE), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class SearchDeviceRow(Base):
    """One agent of a search (by its position in ``--agents``) and the device it measures on."""

    __tablename__ = "search_devices"
    __table_args__ = (UniqueConstraint("search_id", "position", name="uq_search_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("searches.id"))
    position: Mapped[int] = mapped_column(Integer)
    agent: Mapped[str] = mapped_column(BoundedString(500))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), nullable=True)
    status: Mapped[str] = mapped_column(BoundedString(16))
    iteration_done: Mapped[int] = mapped_column(Integer, default=-1)
    state: Mapped[dict[str, Any]] = mapped_column(ExactJSON, default=dict)
    message: Mapped[str | None] = mapped_column(ClippedText(MAX_MESSAGE), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SearchLeaseRow(Base):
    """Which controller process runs a search now: at most one row per search, renewed by
    the runner's heartbeat and deleted when it ends."""

    __tablename__ = "search_leases"

    search_id: Mapped[int] = mapped_column(ForeignKey("searches.id"), primary_key=True)
    owner: Mapped[str] = mapped_column(BoundedString(64))
    host: Mapped[str] = mapped_column(BoundedString(255))
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)


class CandidateRow(Base):
    __tablename__ = "candidates"
    __table_args__ = (
        UniqueConstraint(
            "search_id", "device_id", "iteration", "architecture_id", name="uq_candidate"
        ),
        Index("ix_candidate_search_device", "search_id", "device_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("searches.id"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    iteration: Mapped[int] = mapped_column(Integer)
    architecture_id: Mapped[int] = mapped_column(ForeignKey("architectures.id"))
    origin: Mapped[str] = mapped_column(BoundedString(16))
    parents: Mapped[list[Any]] = mapped_column(ExactJSON, default=list)
    measurement_id: Mapped[int | None] = mapped_column(ForeignKey("measurements.id"), nullable=True)
    cache_hit: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Schema version 2: how the candidate was measured; version 3: what the cost model
    # predicted when it was proposed, by objective name (empty: no model was ready).
    measure: Mapped[str | None] = mapped_column(BoundedString(8), nullable=True)
    predicted: Mapped[dict[str, Any]] = mapped_column(ExactJSON, default=dict)


class HypervolumeRow(Base):
    __tablename__ = "hypervolumes"
    __table_args__ = (
        UniqueConstraint("search_id", "device_id", "iteration", name="uq_hypervolume"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("searches.id"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    iteration: Mapped[int] = mapped_column(Integer)
    hypervolume: Mapped[float | None] = mapped_column(ExactFloat, nullable=True)
    frontier_size: Mapped[int] = mapped_column(Integer)
    n_measured: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportedRow(Base):
    """The figures a finished search reports: each frontier member and baseline of a device,
    with the measurement taken again at the end with the larger budget."""

    __tablename__ = "reported"
    __table_args__ = (
        UniqueConstraint("search_id", "device_id", "architecture_id", "role", name="uq_reported"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("searches.id"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    architecture_id: Mapped[int] = mapped_column(ForeignKey("architectures.id"))
    role: Mapped[str] = mapped_column(BoundedString(16))
    search_measurement_id: Mapped[int | None] = mapped_column(
        ForeignKey("measurements.id"), nullable=True
    )
    final_measurement_id: Mapped[int | None] = mapped_column(
        ForeignKey("measurements.id"), nullable=True
    )
