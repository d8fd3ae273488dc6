"""The result store (SQLAlchemy; SQLite by default): devices, architectures, the measurement
cache, searches, their candidates, hypervolumes and reported frontiers."""

from __future__ import annotations

from lts.controller.store._types import MAX_ID
from lts.controller.store.catalog import settings_hash
from lts.controller.store.joins import CandidateJoin
from lts.controller.store.records import (
    ArchitectureRecord,
    CandidateCounts,
    CandidateFigures,
    CandidateRecord,
    DeviceRecord,
    HypervolumeRecord,
    LeaseRecord,
    MeasurementRecord,
    ReportedRecord,
    SearchDeviceRecord,
    SearchRecord,
)
from lts.controller.store.schema import SCHEMA_VERSION
from lts.controller.store.store import DEFAULT_DB, Store, database_url

__all__ = [
    "DEFAULT_DB",
    "MAX_ID",
    "SCHEMA_VERSION",
    "ArchitectureRecord",
    "CandidateCounts",
    "CandidateFigures",
    "CandidateJoin",
    "CandidateRecord",
    "DeviceRecord",
    "HypervolumeRecord",
    "LeaseRecord",
    "MeasurementRecord",
    "ReportedRecord",
    "SearchDeviceRecord",
    "SearchRecord",
    "Store",
    "database_url",
    "settings_hash",
]
