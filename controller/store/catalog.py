"""The content-addressed part of the store: devices, architectures and the measurement cache.

A measurement is stored once per (architecture, device, settings key) and shared by every
search that needs it; :func:`settings_hash` makes the fixed-width part of that key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lts.controller.store._base import (
    StoreBase,
    _chunks,
    _ensure_arch_rows,
    _insert_new,
    _measurement_records,
)
from lts.controller.store._types import utcnow
from lts.controller.store.convert import arch_record, device_record
from lts.controller.store.models import (
    ArchitectureRow,
    DeviceRow,
    MeasurementRow,
    MeasurementValueRow,
)
from lts.controller.store.records import ArchitectureRecord, DeviceRecord, MeasurementRecord
from lts.shared.config import ArchConfig
from lts.shared.errors import StoreError
from lts.shared.objectives import read_stats, read_values
from lts.shared.schemas import DeviceInfo, MeasurementResult


def settings_hash(settings_key: str) -> str:
    """SHA-256 (hex) of a settings key: the fixed-width part of the cache's unique key."""
    return hashlib.sha256(settings_key.encode()).hexdigest()


class CatalogMixin(StoreBase):
    """Devices, architectures and cached measurements (methods of :class:`Store`)."""

    # ------------------------------------------------------------------------------ devices
    def upsert_device(self, name: str, info: DeviceInfo, url: str | None = None) -> DeviceRecord:
        """The device (name, ``info.fingerprint``), created or refreshed with ``info``.
        Two processes meeting a new device at once both get its one row (the insert skips a
        row that appeared meanwhile, as :func:`_ensure_arch_rows` does)."""
        with self._session() as s:
            where = (DeviceRow.name == name, DeviceRow.fingerprint == info.fingerprint)
            row = s.scalar(select(DeviceRow).where(*where))
            now = utcnow()
            if row is None:
                new = {"name": name, "fingerprint": info.fingerprint, "first_seen": now,
                       "last_seen": now, "info": {}}  # fmt: skip
                s.execute(_insert_new(s, DeviceRow), [new])
                row = s.scalars(select(DeviceRow).where(*where)).one()
            row.url = url
            row.info = info.model_dump(mode="json")
            row.last_seen = now
            s.flush()
            return device_record(row)

    def get_device(self, device_id: int) -> DeviceRecord:
        with self._session() as s:
            row = s.get(DeviceRow, device_id)
            if row is None:
                raise StoreError(f"no device with id {device_id}")
            return device_record(row)

    def list_devices(self) -> list[DeviceRecord]:
        with self._session() as s:
            return [device_record(r) for r in s.scalars(select(DeviceRow).order_by(DeviceRow.id))]

    # ------------------------------------------------------------------------ architectures
    def add_architectures(self, cfgs: Iterable[ArchConfig]) -> list[ArchitectureRecord]:
        """Store each config once (by content id); return the records in input order."""
        cfgs = list(cfgs)
        with self._session() as s:
            rows = _ensure_arch_rows(s, cfgs)
            return [arch_record(rows[c.arch_id]) for c in cfgs]

    def get_architecture(self, arch_id: str) -> ArchitectureRecord:
        with self._session() as s:
            row = s.scalar(select(ArchitectureRow).where(ArchitectureRow.arch_id == arch_id))
            if row is None:
                raise StoreError(f"no architecture with id {arch_id}")
            return arch_record(row)

    def architectures(self, arch_ids: Iterable[str]) -> dict[str, ArchitectureRecord]:
        ids = list(set(arch_ids))
        with self._session() as s:
            out: dict[str, ArchitectureRecord] = {}
            for chunk in _chunks(ids):
                q = select(ArchitectureRow).where(ArchitectureRow.arch_id.in_(chunk))
                out.update((r.arch_id, arch_record(r)) for r in s.scalars(q))
            return out

    # ------------------------------------------------------------------------- measurements
    def find_measurements(
        self, arch_ids: Iterable[str], device_id: int, settings_key: str
    ) -> dict[str, MeasurementRecord]:
        """Cached measurements of ``arch_ids`` on the device under ``settings_key``."""
        ids = list(set(arch_ids))
        key_hash = settings_hash(settings_key)
        with self._session() as s:
            out: dict[str, MeasurementRecord] = {}
            for chunk in _chunks(ids):
                q = (
                    select(MeasurementRow, ArchitectureRow.arch_id)
                    .join(ArchitectureRow, MeasurementRow.architecture_id == ArchitectureRow.id)
                    .where(
                        ArchitectureRow.arch_id.in_(chunk),
                        MeasurementRow.device_id == device_id,
                        MeasurementRow.settings_hash == key_hash,
                    )
                )
                found = [(m, a) for m, a in s.execute(q)]
                out.update((r.arch_id, r) for r in _measurement_records(s, found))
            return out

    def add_measurement(
        self,
        cfg: ArchConfig,
        device_id: int,
        settings_key: str,
        *,
        result: MeasurementResult | None = None,
        status: str = "done",
        error: str | None = None,
        settings: dict[str, Any] | None = None,
        replace_failed: bool = False,
    ) -> tuple[MeasurementRecord, bool]:
        """Store one measurement; return it and whether it was new.

        ``status`` ``done`` needs ``result``; ``failed``/``rejected`` need ``error``. If the
        cache already holds (architecture, device, settings_key), nothing is written and the
        stored record is returned with False: a measurement is never stored twice. With
        ``replace_failed``, a stored ``failed`` one is overwritten in place instead (same id,
        so what points at it sees the new figures; returned with True): measuring a failed
        item again on demand.
        """
        if status == "done" and result is None:
            raise ValueError("a done measurement needs its result")
        if status != "done" and not error:
            raise ValueError(f"a {status} measurement needs its error")
        key_hash = settings_hash(settings_key)
        with self._session() as s:
            arch = _ensure_arch_rows(s, [cfg])[cfg.arch_id]
            existing = _find_measurement(s, arch.id, device_id, key_hash)
            if existing is not None and not (replace_failed and existing.status == "failed"):
                return _one(s, existing, cfg.arch_id), False
            if existing is not None:  # a failure measured again: replaced in place
                row = existing
                s.execute(delete(MeasurementValueRow).where(
                    MeasurementValueRow.measurement_id == row.id))  # fmt: skip
                row.status, row.error, row.created_at = status, error, utcnow()
                row.memory, row.context = {}, {}
            else:
                row = _measurement_row(arch.id, device_id, settings_key, key_hash, status, error)
            if result is not None:
                _fill_result(row, result)
            elif settings is not None:
                row.settings = settings
            if existing is None:
                try:
                    with s.begin_nested():
                        s.add(row)
                except IntegrityError:  # another writer stored it first
                    found = _find_measurement(s, arch.id, device_id, key_hash)
                    if found is None:
                        raise
                    return _one(s, found, cfg.arch_id), False
            s.flush()
            if result is not None:
                s.add_all(_value_row(row.id, result))
                s.flush()
            return _one(s, row, cfg.arch_id), True

    def get_measurements(
        self, ids: Iterable[int], *, samples: bool = False
    ) -> dict[int, MeasurementRecord]:
        """The measurements of ``ids`` (``samples``: their statistics with the raw samples)."""
        wanted = list(set(ids))
        with self._session() as s:
            out: dict[int, MeasurementRecord] = {}
            for chunk in _chunks(wanted):
                q = (
                    select(MeasurementRow, ArchitectureRow.arch_id)
                    .join(ArchitectureRow, MeasurementRow.architecture_id == ArchitectureRow.id)
                    .where(MeasurementRow.id.in_(chunk))
                )
                found = [(m, a) for m, a in s.execute(q)]
                out.update((r.id, r) for r in _measurement_records(s, found, samples=samples))
            return out

    def measurements_of(self, arch_id: str, *, samples: bool = False) -> list[MeasurementRecord]:
        """Every stored measurement of the architecture (any device and settings), by id."""
        with self._session() as s:
            q = (
                select(MeasurementRow)
                .join(ArchitectureRow, MeasurementRow.architecture_id == ArchitectureRow.id)
                .where(ArchitectureRow.arch_id == arch_id)
                .order_by(MeasurementRow.id)
            )
            found = [(m, arch_id) for m in s.scalars(q)]
            return _measurement_records(s, found, samples=samples)

    def count_measurements(self, device_id: int | None = None) -> int:
        with self._session() as s:
            q = select(func.count(MeasurementRow.id))
            if device_id is not None:
                q = q.where(MeasurementRow.device_id == device_id)
            return int(s.scalar(q) or 0)


def _find_measurement(
    s: Session, architecture_id: int, device_id: int, key_hash: str
) -> MeasurementRow | None:
    return s.scalar(
        select(MeasurementRow).where(
            MeasurementRow.architecture_id == architecture_id,
            MeasurementRow.device_id == device_id,
            MeasurementRow.settings_hash == key_hash,
        )
    )


def _measurement_row(
    architecture_id: int, device_id: int, key: str, key_hash: str, status: str, error: str | None
) -> MeasurementRow:
    return MeasurementRow(
        architecture_id=architecture_id,
        device_id=device_id,
        settings_hash=key_hash,
        settings_key=key,
        settings={},
        status=status,
        error=error,
        memory={},
        context={},
        created_at=utcnow(),
    )


def _one(s: Session, row: MeasurementRow, arch_id: str) -> MeasurementRecord:
    return _measurement_records(s, [(row, arch_id)])[0]


def _fill_result(row: MeasurementRow, result: MeasurementResult) -> None:
    row.memory = dict(result.memory)
    row.context = dict(result.context)
    row.settings = result.settings.model_dump(mode="json")


def _value_row(measurement_id: int, result: MeasurementResult) -> list[MeasurementValueRow]:
    """The objective rows of ``result`` (:func:`lts.shared.objectives.read_values`): the
    storage adapter of every measured objective."""
    stats = read_stats(result)
    rows = []
    for objective, value in read_values(result).items():
        extra = dict(stats.get(objective) or {})
        samples = extra.pop("samples", [])
        rows.append(MeasurementValueRow(
            measurement_id=measurement_id, objective=objective, value=value, stats=extra,
            samples=list(samples),
        ))  # fmt: skip
    return rows
