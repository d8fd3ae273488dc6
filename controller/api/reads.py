"""What the results API reads: plain functions over a :class:`Store` that return the API's
schemas (:mod:`controller.api.schemas`). No HTTP here: the routes call these, and so do tests.

The frontier and the baseline comparison come from :mod:`controller.report` (the
figures ``controller results`` prints); this module adds what a client needs around them
(parameter counts, the measurements behind each figure) and reads only what a request needs:
a finished device's frontier is read from the stored report, without loading its candidates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields, replace
from typing import Any

from lts.controller.api.schemas import (
    ArchitecturePublic,
    CandidateMeasurement,
    CandidatePublic,
    CandidatesPublic,
    ComparisonPublic,
    DeviceFrontierPublic,
    DevicePublic,
    DevicesPublic,
    FrontierMemberPublic,
    FrontierPublic,
    HypervolumePoint,
    MeasurementBrief,
    MeasurementPublic,
    MeasurementsPublic,
    ModelPublic,
    Prediction,
    SearchDetailPublic,
    SearchDevicePublic,
    SearchesPublic,
    SearchPublic,
)
from lts.controller.report import (
    Comparison,
    ModelRow,
    cost_model_summary,
    device_frontier,
    select_devices,
)
from lts.controller.search.config import SearchConfig
from lts.controller.search.lease import LIVE_STATUSES, live_devices, live_search, shown_status
from lts.controller.search.runner import load_config
from lts.controller.store import (
    ArchitectureRecord,
    CandidateCounts,
    CandidateJoin,
    HypervolumeRecord,
    MeasurementRecord,
    SearchDeviceRecord,
    SearchRecord,
    Store,
)
from lts.controller.store.records import memory_predicted
from lts.shared.errors import NotFoundError

#: Device statuses of a search that is still measuring there.
ACTIVE_STATUSES = frozenset({"pending", "running", "waiting"})


# ----------------------------------------------------------------------------- searches
def require_search(store: Store, search_id: int, *, here: bool = False) -> SearchRecord:
    """The search with the status to show (:func:`live_search`). Raises NotFoundError."""
    search = store.find_search(search_id)
    if search is None:
        raise NotFoundError(f"no search with id {search_id}")
    return live_search(store, search, here=here)


def list_searches(
    store: Store, offset: int = 0, limit: int = 100, background: Iterable[int] = ()
) -> SearchesPublic:
    """One page of the searches (by id); ``background``: ids this server runs now."""
    running = set(background)
    page = store.list_searches(offset=offset, limit=limit)
    leases = store.leases(s.id for s in page if s.status in LIVE_STATUSES)
    shown = [
        replace(s, status=shown_status(s.status, leases.get(s.id), here=s.id in running))
        for s in page
    ]
    data = [search_public(s, s.id in running) for s in shown]
    return SearchesPublic(data=data, count=store.count_searches())


def search_public(search: SearchRecord, background: bool = False) -> SearchPublic:
    """The search as listed; ``background``: this server runs it now, so it is ``running``
    (a search just resumed shows so, before its runner has written the status)."""
    settings = search.settings
    return SearchPublic(
        id=search.id,
        name=search.name,
        status="running" if background else search.status,
        message=search.message,
        seed=search.seed,
        agents=list(settings.get("agents") or []),
        iterations=settings.get("iterations"),
        created_at=search.created_at,
        updated_at=search.updated_at,
        finished_at=search.finished_at,
        background=background,
    )


def read_search(store: Store, search_id: int, background: bool = False) -> SearchDetailPublic:
    """A search with its settings, per-device progress and hypervolume history."""
    search = require_search(store, search_id, here=background)
    iterations = int(search.settings.get("iterations") or 0)
    names = _device_names(store)
    hvs = store.hypervolumes(search_id)
    last = {h.device_id: h for h in hvs}
    counts = store.candidate_counts(search_id)
    devices = [_progress(sd, iterations, names, last, counts) for sd in live_devices(store, search)]
    done = sum(d.iterations_done for d in devices)
    total = iterations * len(devices)
    return SearchDetailPublic(
        **search_public(search, background).model_dump(),
        settings=search.settings,
        progress=done / total if total else 0.0,
        devices=devices,
        hypervolume=[
            HypervolumePoint(device=names.get(h.device_id), **_fields(h, HypervolumePoint))
            for h in hvs
        ],
    )


def _progress(
    sd: SearchDeviceRecord,
    iterations: int,
    names: dict[int, str],
    last: dict[int, HypervolumeRecord],
    counts: dict[int, CandidateCounts],
) -> SearchDevicePublic:
    did = sd.device_id
    hv = last.get(did) if did is not None else None
    n = counts.get(did or -1, CandidateCounts())
    return SearchDevicePublic(
        position=sd.position,
        agent=sd.agent,
        device=names.get(did) if did is not None else None,
        device_id=did,
        status=sd.status,
        message=sd.message,
        iterations_done=sd.iteration_done + 1,
        iterations=iterations,
        candidates=n.proposed,
        measured=n.measured,
        quick=n.quick,
        full=n.full,
        screened=n.screened,
        cost_model=cost_model_summary(sd.state),
        hypervolume=hv.hypervolume if hv else None,
        frontier_size=hv.frontier_size if hv else 0,
        updated_at=sd.updated_at,
    )


def search_version(store: Store, search_id: int) -> tuple[object, ...]:
    """What changes whenever the runner records progress on the search (its status, and each
    device's status, iteration and last update): equal versions, same frontier."""
    search = require_search(store, search_id)
    devices = store.search_devices(search_id)
    per_device = tuple((d.id, d.status, d.iteration_done, d.updated_at) for d in devices)
    return (search.status, search.updated_at, per_device)


# ----------------------------------------------------------------------------- frontier
def read_frontier(store: Store, search_id: int, device: str | None = None) -> FrontierPublic:
    """Per device (only ``device``, an agent or device name, if given): the frontier with
    each member's parameter counts and measurements, and the baseline comparison. A device
    that finished reports its final re-measured figures; one still searching (or stopped)
    its current frontier from the search-time figures."""
    search = require_search(store, search_id)
    config = load_config(store, search_id)
    names = _device_names(store)
    data = []
    for sd in select_devices(store, search, device, names):
        base = {
            "position": sd.position,
            "agent": sd.agent,
            "device": names.get(sd.device_id) if sd.device_id is not None else None,
            "device_id": sd.device_id,
            "status": sd.status,
            "message": sd.message,
            "iterations_done": sd.iteration_done + 1,
            "iterations": config.iterations,
        }
        if sd.device_id is None:
            data.append(DeviceFrontierPublic(**base, candidates=0, hypervolume=None,
                                             search_settings=None, final_settings=None,
                                             members=[], baselines=[]))  # fmt: skip
            continue
        data.append(_device_frontier(store, config, sd, base))
    return FrontierPublic(search_id=search.id, status=search.status, data=data, count=len(data))


def _device_frontier(
    store: Store, config: SearchConfig, sd: SearchDeviceRecord, base: dict[str, Any]
) -> DeviceFrontierPublic:
    """One device's frontier (:func:`device_frontier`) with the records behind each figure."""
    sid, did = sd.search_id, sd.device_id
    assert did is not None
    front = device_frontier(store, config, sid, did)
    ids = front.measurement_ids
    archs, ms = front.loaded.archs, front.loaded.measurements  # the rows' records
    members = []
    for row in front.frontier:
        during, final = ids.get(row.arch_id, (None, None))
        members.append(_member(row, archs[row.arch_id], ms.get(during or -1), ms.get(final or -1)))
    hvs = store.hypervolumes(sid, did)
    # One settings key per kind (the cache key of the search, of the final re-measurement).
    during_ms = [ms[i] for i, _ in ids.values() if i in ms]
    final_ms = [ms[i] for _, i in ids.values() if i in ms]
    return DeviceFrontierPublic(
        **base,
        candidates=store.count_candidates(sid, did),
        hypervolume=hvs[-1].hypervolume if hvs else None,
        search_settings=during_ms[0].settings if during_ms else None,
        final_settings=final_ms[0].settings if final_ms else None,
        members=members,
        baselines=[_comparison(c) for c in front.comparisons],
    )


def _member(
    row: ModelRow,
    arch: ArchitectureRecord,
    during: MeasurementRecord | None,
    final: MeasurementRecord | None,
) -> FrontierMemberPublic:
    return FrontierMemberPublic(
        **_shallow(row),
        backbone=arch.backbone,
        total_params=arch.total_params,
        params=arch.params,
        config=arch.config,
        search_measurement=_brief(during),
        final_measurement=_brief(final),
    )


def _brief(m: MeasurementRecord | None) -> MeasurementBrief | None:
    return None if m is None else MeasurementBrief(**_fields(m, MeasurementBrief))


def _comparison(c: Comparison) -> ComparisonPublic:
    return ComparisonPublic(
        baseline=ModelPublic(**_shallow(c.baseline)),
        match=ModelPublic(**_shallow(c.match)) if c.match is not None else None,
        speedup=c.speedup,
        memory_ratio=c.memory_ratio,
    )


# --------------------------------------------------------------------------- candidates
def read_candidates(
    store: Store,
    search_id: int,
    *,
    device: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> CandidatesPublic:
    """Candidates with a sequence number above ``after`` (see :class:`CandidatesPublic` for
    why a page may stop early while a device is still searching)."""
    search = require_search(store, search_id)
    names = _device_names(store)
    devices = select_devices(store, search, device, names)
    active = {d.device_id for d in devices if d.status in ACTIVE_STATUSES}
    ids = [d.device_id for d in devices if d.device_id is not None]
    device_id = ids[0] if device is not None and ids else None
    if device is not None and not ids:  # the agent was not reached yet: nothing to show
        return CandidatesPublic(data=[], count=0, next_after=after, search_status=search.status,
                                complete=search.status not in LIVE_STATUSES)  # fmt: skip
    rows = store.candidate_joins(search_id, device_id, after=after, limit=limit + 1)
    more = len(rows) > limit
    ready = []
    for row in rows[:limit]:
        c = row.candidate
        if c.measurement_id is None and not c.screened and c.device_id in active:
            more = True
            break
        ready.append(row)
    data = [_candidate(row, names) for row in ready]
    return CandidatesPublic(
        data=data,
        count=store.count_candidates(search_id, device_id, baselines=True),
        next_after=data[-1].seq if data else after,
        search_status=search.status,
        complete=search.status not in LIVE_STATUSES and not more,
    )


def _candidate(row: CandidateJoin, names: dict[int, str]) -> CandidatePublic:
    c, m = row.candidate, row.measurement
    figures = None
    if m is not None:
        guessed = memory_predicted(c.measure, m.status, m.peak_memory_mb, c.predicted_memory_mb)
        memory = c.predicted_memory_mb if guessed else m.peak_memory_mb
        figures = CandidateMeasurement(id=m.id, status=m.status, latency_ms=m.latency_ms,
                                       peak_memory_mb=memory, error=m.error,
                                       memory_predicted=guessed)  # fmt: skip
    predicted = None
    if c.predicted_latency_ms is not None or c.predicted_memory_mb is not None:
        predicted = Prediction(latency_ms=c.predicted_latency_ms, memory_mb=c.predicted_memory_mb)
    return CandidatePublic(
        seq=row.seq,
        device_id=c.device_id,
        device=names.get(c.device_id),
        iteration=c.iteration,
        arch_id=c.arch_id,
        origin=c.origin,
        parents=list(c.parents),
        decoder_params=row.arch.decoder_params,
        cache_hit=c.cache_hit,
        measure=c.measure,
        predicted=predicted,
        measurement=figures,
    )


# ------------------------------------------------------------ architectures and devices
def read_architecture(store: Store, arch_id: str) -> ArchitecturePublic:
    arch = store.architectures([arch_id]).get(arch_id)
    if arch is None:
        raise NotFoundError(f"no architecture with id {arch_id}")
    n = len(store.measurements_of(arch_id))
    return ArchitecturePublic(**_shallow(arch), measurements=n)


def read_measurements(store: Store, arch_id: str, samples: bool = False) -> MeasurementsPublic:
    """Every measurement of the architecture, on any device and under any settings."""
    if not store.architectures([arch_id]):
        raise NotFoundError(f"no architecture with id {arch_id}")
    names = _device_names(store)
    data = [measurement_public(m, names, samples) for m in store.measurements_of(arch_id)]
    return MeasurementsPublic(data=data, count=len(data))


def list_devices(store: Store) -> DevicesPublic:
    data = [
        DevicePublic(**_shallow(d), measurements=store.count_measurements(d.id))
        for d in store.list_devices()
    ]
    return DevicesPublic(data=data, count=len(data))


def measurement_public(
    m: MeasurementRecord, names: dict[int, str], samples: bool = False
) -> MeasurementPublic:
    values = _shallow(m)
    values["samples"] = list(m.samples) if samples else None
    del values["settings_key"]
    return MeasurementPublic(**values, device=names.get(m.device_id))


# ------------------------------------------------------------------------------ helpers
def _device_names(store: Store) -> dict[int, str]:
    return {d.id: d.name for d in store.list_devices()}


def _shallow(record: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, values as they are (``asdict`` deep-copies every
    value: ten times slower, and records own their values already)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _fields(record: Any, model: type) -> dict[str, Any]:
    """The dataclass ``record``'s fields that ``model`` declares."""
    return {k: v for k, v in _shallow(record).items() if k in model.model_fields}
