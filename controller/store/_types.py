"""Column types that behave the same on every engine: UTC time zones, NaN and infinities (in
float and JSON columns), and string length limits (which SQLite does not enforce)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

_NAN = "NaN"
#: How a JSON column writes a non-finite float on an engine whose JSON refuses it (see
#: :class:`ExactJSON`): a one-key object ``{"$float": "NaN" | "Infinity" | "-Infinity"}``.
FLOAT_TAG = "$float"

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


class ExactJSON(TypeDecorator[Any]):
    """A JSON column where ``inf``, ``-inf`` and ``NaN`` inside the value survive a round trip.

    Python's ``json`` writes them as the bare tokens ``NaN``/``Infinity``, which SQLite keeps
    as text and reads back; PostgreSQL's ``json`` type follows the JSON standard and refuses
    them. On every engine but SQLite, each non-finite float is therefore written as
    ``{"$float": "NaN"}`` (or ``"Infinity"``, ``"-Infinity"``) and turned back into the float
    on read; a stored object of exactly that one key is reserved for this.
    """

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return value if dialect.name == "sqlite" else _tag_floats(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return value if dialect.name == "sqlite" else _untag_floats(value)


def _tag_floats(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        text = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return {FLOAT_TAG: text}
    if isinstance(value, dict):
        return {k: _tag_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_tag_floats(v) for v in value]
    return value


def _untag_floats(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get(FLOAT_TAG), str):
            return float(value[FLOAT_TAG])
        return {k: _untag_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag_floats(v) for v in value]
    return value


class BoundedString(TypeDecorator[str]):
    """A ``VARCHAR(length)`` whose limit holds on every engine: PostgreSQL refuses a longer
    value and SQLite would keep it, so a longer value is refused here, before either sees it,
    with the same ``ValueError`` (a :class:`~lts.shared.errors.StoreError` from the Store)."""

    impl = String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        limit = self.length
        if value is not None and len(value) > limit:
            raise ValueError(
                f"text of {len(value)} characters is longer than the {limit} its column holds: "
                f"{value[:40]!r}..."
            )
        return value


class ClippedText(TypeDecorator[str]):
    """A ``TEXT`` column that keeps at most ``limit`` characters: a longer value (an error or
    a message that came from a remote agent) is cut to the limit, ending in ``[cut]``, so no
    row can hold more than its readers expect (the column itself is plain TEXT: no schema
    change)."""

    impl = Text
    cache_ok = True
    CUT = " [cut]"

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is not None and len(value) > self.limit:
            return value[: self.limit - len(self.CUT)] + self.CUT
        return value


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
