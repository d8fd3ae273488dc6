"""Schema versioning of the store: a one-row version table, a check and a migration hook.

A new database gets every table and version :data:`SCHEMA_VERSION`. An existing one must carry
a version: an older version is migrated step by step through :data:`MIGRATIONS` (each entry
takes a connection inside the open transaction and brings the schema from ``v`` to ``v + 1``),
a newer one is refused (this release cannot know its layout). A later release that changes the
schema bumps :data:`SCHEMA_VERSION` and adds the step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Connection, Engine, inspect, select, text

from controller.store._types import utcnow
from controller.store.models import Base, SchemaVersionRow
from shared.errors import StoreError

logger = logging.getLogger(__name__)

#: The schema version this release writes.
SCHEMA_VERSION = 1

#: The PostgreSQL advisory lock that serialises schema checks and creation (an arbitrary
#: constant: "LTS" in ASCII).
_SCHEMA_LOCK_KEY = 0x4C5453

Migration = Callable[[Connection], None]
#: ``MIGRATIONS[v]`` upgrades a database from version ``v`` to ``v + 1``.
MIGRATIONS: dict[int, Migration] = {}


def ensure_schema(engine: Engine, migrations: dict[int, Migration] | None = None) -> int:
    """Create, check or migrate the schema of ``engine``'s database; return its version.

    Raises :class:`StoreError` for a database of another program, one written by a newer
    release, or one whose migration path is missing.
    """
    steps = MIGRATIONS if migrations is None else migrations
    with engine.begin() as conn:
        _serialise(conn)
        tables = set(inspect(conn).get_table_names())
        if SchemaVersionRow.__tablename__ not in tables:
            ours = {t.name for t in Base.metadata.sorted_tables}
            if tables & ours:
                raise StoreError(
                    "the database has LTS tables but no schema version; it was not written by "
                    "this program"
                )
            Base.metadata.create_all(conn)
            conn.execute(
                SchemaVersionRow.__table__.insert().values(
                    id=1, version=SCHEMA_VERSION, updated_at=utcnow()
                )
            )
            return SCHEMA_VERSION
        version = conn.execute(select(SchemaVersionRow.version)).scalar_one_or_none()
        if version is None:
            raise StoreError("the schema version table is empty; the database is damaged")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database has schema version {version}, newer than this release's "
                f"({SCHEMA_VERSION}); upgrade lts to read it"
            )
        while version < SCHEMA_VERSION:
            step = steps.get(version)
            if step is None:
                raise StoreError(f"no migration from schema version {version}")
            logger.info("migrating the store from schema version %d", version)
            step(conn)
            version += 1
            conn.execute(
                SchemaVersionRow.__table__.update().values(version=version, updated_at=utcnow())
            )
        Base.metadata.create_all(conn)  # tables added without a data migration
        return version


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
