"""Rows to records: each ORM row becomes its frozen record (reads never hand out ORM rows)."""

from __future__ import annotations

from controller.store.models import (
    ArchitectureRow,
    CandidateRow,
    DeviceRow,
    HypervolumeRow,
    MeasurementRow,
    SearchDeviceRow,
    SearchLeaseRow,
    SearchRow,
)
from controller.store.records import (
    ArchitectureRecord,
    CandidateRecord,
    DeviceRecord,
    HypervolumeRecord,
    LeaseRecord,
    MeasurementRecord,
    SearchDeviceRecord,
    SearchRecord,
)


def device_record(r: DeviceRow) -> DeviceRecord:
    return DeviceRecord(
        id=r.id,
        name=r.name,
        fingerprint=r.fingerprint,
        url=r.url,
        info=dict(r.info),
        first_seen=r.first_seen,
        last_seen=r.last_seen,
    )


def arch_record(r: ArchitectureRow) -> ArchitectureRecord:
    return ArchitectureRecord(
        arch_id=r.arch_id,
        backbone=r.backbone,
        config=dict(r.config),
        n_layer=r.n_layer,
        d_model=r.d_model,
        decoder_params=r.decoder_params,
        total_params=r.total_params,
        params=dict(r.params),
    )


def measurement_record(r: MeasurementRow, arch_id: str) -> MeasurementRecord:
    return MeasurementRecord(
        id=r.id,
        arch_id=arch_id,
        device_id=r.device_id,
        settings_key=r.settings_key,
        settings=dict(r.settings or {}),
        status=r.status,
        error=r.error,
        latency_ms=r.latency_ms,
        peak_memory_mb=r.peak_memory_mb,
        latency=dict(r.latency or {}),
        samples=tuple(float(x) for x in r.samples or ()),
        memory=dict(r.memory or {}),
        context=dict(r.context or {}),
        created_at=r.created_at,
    )


def search_record(r: SearchRow) -> SearchRecord:
    return SearchRecord(
        id=r.id,
        name=r.name,
        settings=dict(r.settings),
        seed=r.seed,
        status=r.status,
        message=r.message,
        created_at=r.created_at,
        updated_at=r.updated_at,
        finished_at=r.finished_at,
    )


def search_device_record(r: SearchDeviceRow) -> SearchDeviceRecord:
    return SearchDeviceRecord(
        id=r.id,
        search_id=r.search_id,
        position=r.position,
        agent=r.agent,
        device_id=r.device_id,
        status=r.status,
        iteration_done=r.iteration_done,
        state=dict(r.state or {}),
        message=r.message,
        updated_at=r.updated_at,
    )


def candidate_record(r: CandidateRow, arch_id: str) -> CandidateRecord:
    return CandidateRecord(
        search_id=r.search_id,
        device_id=r.device_id,
        iteration=r.iteration,
        arch_id=arch_id,
        origin=r.origin,
        parents=tuple(r.parents or ()),
        measurement_id=r.measurement_id,
        cache_hit=r.cache_hit,
    )


def hypervolume_record(r: HypervolumeRow) -> HypervolumeRecord:
    return HypervolumeRecord(
        search_id=r.search_id,
        device_id=r.device_id,
        iteration=r.iteration,
        hypervolume=r.hypervolume,
        frontier_size=r.frontier_size,
        n_measured=r.n_measured,
        created_at=r.created_at,
    )


def lease_record(r: SearchLeaseRow) -> LeaseRecord:
    return LeaseRecord(
        search_id=r.search_id,
        owner=r.owner,
        host=r.host,
        pid=r.pid,
        acquired_at=r.acquired_at,
        heartbeat_at=r.heartbeat_at,
    )
