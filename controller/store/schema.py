"""Schema versioning of the store: the version recorded in the database, the check a store
makes when it opens one, and the ordered migration steps ``controller db upgrade`` applies.

``lts_schema`` holds one row, the schema version the database was written at. Opening a store
(:func:`check_schema`) creates every table in a database that has none (a new one) and
records :data:`SCHEMA_VERSION`; an existing database must be at exactly that version and hold
every table and column of it, else it is refused with a message that says what to do: a newer
version needs a newer lts, an older one needs ``controller db upgrade`` (a store never changes
an existing schema on its own: an upgrade is a step the user takes, after a backup).

:func:`upgrade_schema` applies :data:`MIGRATIONS` in order: ``MIGRATIONS[v]`` takes the
connection inside the upgrade's one transaction and brings the schema from version ``v`` to
``v + 1``. A release that changes the schema adds its step and bumps :data:`SCHEMA_VERSION`
(the two are checked against each other by :func:`upgrade_schema` and by a test); a change
to an existing table is always a step, never left to ``CREATE TABLE``, which skips a table
that exists whatever its columns. Version 1 is the schema since the store's first release;
version 2 adds to each candidate how it was measured (``measure``) and the cost model's
prediction made when it was proposed (``predicted_latency_ms``, ``predicted_memory_mb``);
version 3 makes the objectives data: a measurement's figures become rows of
``measurement_values`` (one per measured objective: value, statistics, samples) and a
candidate's predictions one JSON object by objective (``predicted``).
Alembic is not used: one linear history of a few steps needs no revision graph, and the
version check at open is needed either way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    insert,
    inspect,
    select,
    text,
    update,
)

from lts.controller.store._types import ExactFloat, ExactJSON, utcnow
from lts.controller.store.models import Base, SchemaVersionRow
from lts.shared.errors import StoreError

logger = logging.getLogger(__name__)

#: The schema version this release reads and writes.
SCHEMA_VERSION = 3

#: The PostgreSQL advisory lock that serialises schema checks, creation and upgrades (an
#: arbitrary constant: "LTS" in ASCII).
_SCHEMA_LOCK_KEY = 0x4C5453

Migration = Callable[[Connection], None]


def _v1_to_v2(conn: Connection) -> None:
    """Candidates gain ``measure`` (``full``, ``quick`` or ``screened``; NULL in the rows
    written before, which were all measured in full) and the cost model's predictions
    (NULL: no model was ready). The column types are written out, as ``CREATE TABLE`` makes
    them on both engines (``BoundedString(8)``, ``ExactFloat``), so that this step stays what
    it was whatever the models become later."""
    for column, kind in (
        ("measure", "VARCHAR(8)"),
        ("predicted_latency_ms", "FLOAT"),
        ("predicted_memory_mb", "FLOAT"),
    ):
        conn.execute(text(f"ALTER TABLE candidates ADD COLUMN {column} {kind}"))


def _v2_to_v3(conn: Connection) -> None:
    """Objectives as data. Each successful measurement's median latency (objective
    ``latency``, or ``decode_latency`` where its settings timed ``decode``), with its
    statistics and samples, and its peak memory (``memory``) become rows of the new
    ``measurement_values``; each candidate's two predictions become its ``predicted`` object;
    the old columns are dropped. The tables are written out here as version 3 made them, so
    that this step stays what it was whatever the models become later."""
    meta = MetaData()
    values = Table(
        "measurement_values", meta,
        Column("id", Integer, primary_key=True),
        Column("measurement_id", Integer, ForeignKey("measurements.id")),
        Column("objective", String(32)),
        Column("value", ExactFloat),
        Column("stats", ExactJSON),
        Column("samples", ExactJSON),
        UniqueConstraint("measurement_id", "objective", name="uq_measurement_value"),
        Index("ix_measurement_value_measurement", "measurement_id"),
    )  # fmt: skip
    Table("measurements", meta, Column("id", Integer, primary_key=True))
    values.create(conn)
    old = Table(
        "measurements", MetaData(),
        Column("id", Integer), Column("status", String), Column("settings", JSON),
        Column("latency_ms", Float), Column("peak_memory_mb", Float),
        Column("latency", ExactJSON), Column("samples", ExactJSON),
    )  # fmt: skip
    q = select(old).where(old.c.status == "done").order_by(old.c.id)
    rows: list[dict[str, Any]] = []
    for m in conn.execute(q).mappings():
        settings = _json(m["settings"])
        metric = settings.get("metric") if isinstance(settings, dict) else None
        if m["latency_ms"] is not None:
            rows.append({
                "measurement_id": m["id"],
                "objective": "decode_latency" if metric == "decode" else "latency",
                "value": m["latency_ms"],
                "stats": {"median": m["latency_ms"], **(_json(m["latency"]) or {})},
                "samples": list(_json(m["samples"]) or []),
            })  # fmt: skip
        if m["peak_memory_mb"] is not None:
            rows.append({"measurement_id": m["id"], "objective": "memory",
                         "value": m["peak_memory_mb"], "stats": {}, "samples": []})  # fmt: skip
        if len(rows) >= 1000:
            conn.execute(insert(values), rows)
            rows = []
    if rows:
        conn.execute(insert(values), rows)
    conn.execute(text("ALTER TABLE candidates ADD COLUMN predicted JSON"))
    cands = Table(
        "candidates", MetaData(),
        Column("id", Integer), Column("predicted_latency_ms", Float),
        Column("predicted_memory_mb", Float), Column("predicted", ExactJSON),
    )  # fmt: skip
    q2 = select(cands.c.id, cands.c.predicted_latency_ms, cands.c.predicted_memory_mb)
    for cid, latency, memory in list(conn.execute(q2)):
        predicted = {k: v for k, v in (("latency", latency), ("memory", memory)) if v is not None}
        conn.execute(update(cands).where(cands.c.id == cid).values(predicted=predicted))
    for table, column in (("candidates", "predicted_latency_ms"),
                          ("candidates", "predicted_memory_mb"),
                          ("measurements", "latency_ms"), ("measurements", "peak_memory_mb"),
                          ("measurements", "latency"), ("measurements", "samples")):  # fmt: skip
        conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))


def _json(value: Any) -> Any:
    """A JSON column's value as read without its type (text on SQLite)."""
    return json.loads(value) if isinstance(value, str) else value


#: ``MIGRATIONS[v]`` upgrades a database from version ``v`` to ``v + 1``; one step for each
#: version from 1 to ``SCHEMA_VERSION - 1``.
MIGRATIONS: dict[int, Migration] = {1: _v1_to_v2, 2: _v2_to_v3}


def check_schema(engine: Engine) -> int:
    """Create the schema in a database without tables, or check an existing one's; return
    its version (:data:`SCHEMA_VERSION`). Raises :class:`StoreError` for a database of
    another program, one at another version, or one that lacks a table or column of its
    version."""
    with engine.begin() as conn:
        _serialise(conn)
        version = _stored_version(conn)
        if version is None:
            Base.metadata.create_all(conn)
            _record(conn, SCHEMA_VERSION, new=True)
            return SCHEMA_VERSION
        if version < SCHEMA_VERSION:
            raise StoreError(
                f"the database has schema version {version}, older than this release's "
                f"({SCHEMA_VERSION}); back it up, then run: controller db upgrade --db "
                f"{_shown(engine)}"
            )
        _check_current(conn, version)
        return version


def upgrade_schema(engine: Engine) -> tuple[int, int]:
    """Bring an existing database to :data:`SCHEMA_VERSION` through :data:`MIGRATIONS`, all
    in one transaction; return its versions before and after. A database at the current
    version is left as it is. Raises :class:`StoreError` for a database without the store
    (nothing to upgrade), a newer one, or a missing step."""
    with engine.begin() as conn:
        _serialise(conn)
        version = _stored_version(conn)
        if version is None:
            raise StoreError("the database holds no LTS store (no tables): nothing to upgrade")
        start = version
        while version < SCHEMA_VERSION:
            step = MIGRATIONS.get(version)
            if step is None:
                raise StoreError(f"this release has no migration from schema version {version}")
            logger.info("upgrading the store from schema version %d", version)
            step(conn)
            version += 1
            _record(conn, version)
        _check_current(conn, version)
        return start, version


def _stored_version(conn: Connection) -> int | None:
    """The recorded version; None for a database without tables (a new one)."""
    tables = set(inspect(conn).get_table_names())
    if SchemaVersionRow.__tablename__ not in tables:
        if tables & set(Base.metadata.tables):
            raise StoreError(
                "the database has LTS tables but no schema version; it was not written by "
                "this program"
            )
        return None
    version = conn.execute(select(SchemaVersionRow.version)).scalar_one_or_none()
    if version is None:
        raise StoreError("the schema version table is empty; the database is damaged")
    return version


def _check_current(conn: Connection, version: int) -> None:
    """Refuse a newer ``version``, or a database lacking a table or column of this one."""
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the database has schema version {version}, newer than this release's "
            f"({SCHEMA_VERSION}); upgrade lts to read it"
        )
    found = inspect(conn)
    tables = set(found.get_table_names())
    for table in Base.metadata.sorted_tables:
        if table.name not in tables:
            lacking = f"the table {table.name}"
        else:
            columns = set(table.columns.keys()) - {c["name"] for c in found.get_columns(table.name)}
            if not columns:
                continue
            lacking = f"the columns {', '.join(sorted(columns))} of the table {table.name}"
        raise StoreError(
            f"the database lacks {lacking} (schema version {version}); it was changed by hand "
            "or is damaged: restore it from a copy"
        )


def _record(conn: Connection, version: int, *, new: bool = False) -> None:
    values = {"version": version, "updated_at": utcnow()}
    conn.execute(
        insert(SchemaVersionRow).values(id=1, **values)
        if new
        else update(SchemaVersionRow).values(values)
    )


def _shown(engine: Engine) -> str:
    """The database's URL as ``--db`` takes it, without a password."""
    return engine.url.render_as_string(hide_password=True)


def _serialise(conn: Connection) -> None:
    """Make processes that open one new database at once check and create its schema one at a
    time (else the second one's ``CREATE TABLE`` fails: "table ... already exists").
    PostgreSQL: a transaction-scoped advisory lock. SQLite: the write lock taken now
    (``BEGIN IMMEDIATE``; its Python driver would otherwise run the DDL outside any
    transaction); the others wait for it within the busy timeout."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
