"""Column types that keep what SQLite would otherwise lose: UTC time zones and NaN."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Float
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

_NAN = "NaN"

#: The largest id (and offset, or cursor) a store can hold: a SQL BIGINT / SQLite INTEGER.
#: Readers refuse larger ones up front (the database driver would overflow on them).
MAX_ID = 2**63 - 1


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC ``datetime``. Naive values are refused on write; reads come back in UTC
    (SQLite keeps no time zone, so the value is stored as naive UTC and tagged on read)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store aware UTC times only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class ExactFloat(TypeDecorator[float]):
    """A float column where ``inf``, ``-inf`` and ``NaN`` survive a round trip.

    SQLite stores infinities as REAL but turns NaN into NULL (which means *missing* here); NaN
    is therefore written as the text ``'NaN'``, which SQLite keeps as-is in a REAL column, and
    read back as ``float('nan')``. Other databases get the float unchanged (PostgreSQL stores
    all three natively).
    """

    impl = Float
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Any:
        # Bypass Float's own bind processor, which would turn the text form back into NaN.
        def process(value: float | None) -> Any:
            return self.process_bind_param(value, dialect)

        return process

    def process_bind_param(self, value: float | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = float(value)
        if math.isnan(value) and dialect.name == "sqlite":
            return _NAN
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> float | None:
        if value is None:
            return None
        return float(value)  # float("NaN") for the text form


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
