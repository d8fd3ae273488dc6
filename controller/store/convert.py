"""Rows to records: each ORM row becomes its frozen record (reads never hand out ORM rows)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import Field, fields
from functools import cache
from typing import Any, ClassVar, Protocol, TypeVar

from lts.controller.store.models import (
    ArchitectureRow,
    CandidateRow,
    DeviceRow,
    HypervolumeRow,
    MeasurementRow,
    SearchDeviceRow,
    SearchLeaseRow,
    SearchRow,
)
from lts.controller.store.records import (
    ArchitectureRecord,
    CandidateRecord,
    DeviceRecord,
    HypervolumeRecord,
    LeaseRecord,
    MeasurementRecord,
    SearchDeviceRecord,
    SearchRecord,
)


class _Record(Protocol):
    """A record: a dataclass (what :func:`dataclasses.fields` takes)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]


R = TypeVar("R", bound=_Record)


@cache
def _names(cls: type[_Record]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _record(cls: type[R], r: object, **given: Any) -> R:
    """A ``cls`` from row ``r``: each field not ``given`` is the row's attribute of the same
    name, a JSON object copied (a record never shares the row's dict)."""
    values = {n: _detach(getattr(r, n)) for n in _names(cls) if n not in given}
    return cls(**values, **given)


def _detach(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value


def device_record(r: DeviceRow) -> DeviceRecord:
    return _record(DeviceRecord, r)


def arch_record(r: ArchitectureRow) -> ArchitectureRecord:
    return _record(ArchitectureRecord, r)


#: A measurement's objective rows as read: (objective, value, stats, samples or None when
#: not read).
ValueRow = tuple[str, float, dict[str, Any] | None, list[Any] | None]


def measurement_record(
    r: MeasurementRow, arch_id: str, values: Iterable[ValueRow] = ()
) -> MeasurementRecord:
    """The record of ``r`` with its objective rows ``values`` (statistics with ``samples``
    where they were read)."""
    figures: dict[str, float] = {}
    stats: dict[str, dict[str, Any]] = {}
    for objective, value, extra, samples in values:
        figures[objective] = value
        stats[objective] = dict(extra or {})
        if samples is not None:
            stats[objective]["samples"] = [float(x) for x in samples]
    return _record(
        MeasurementRecord,
        r,
        arch_id=arch_id,
        settings=dict(r.settings or {}),
        values=figures,
        stats=stats,
        memory=dict(r.memory or {}),
        context=dict(r.context or {}),
    )


def search_record(r: SearchRow) -> SearchRecord:
    return _record(SearchRecord, r)


def search_device_record(r: SearchDeviceRow) -> SearchDeviceRecord:
    return _record(SearchDeviceRecord, r, state=dict(r.state or {}))


def candidate_record(r: CandidateRow, arch_id: str) -> CandidateRecord:
    return _record(CandidateRecord, r, arch_id=arch_id, parents=tuple(r.parents or ()),
                   predicted=_floats(r.predicted))  # fmt: skip


def _floats(value: Any) -> dict[str, float]:
    """A JSON object of numbers as ``{name: float}`` (None for a row written before it)."""
    return {str(k): float(v) for k, v in (value or {}).items() if v is not None}


def hypervolume_record(r: HypervolumeRow) -> HypervolumeRecord:
    return _record(HypervolumeRecord, r)


def lease_record(r: SearchLeaseRow) -> LeaseRecord:
    return _record(LeaseRecord, r)
