"""What the results API reads: plain functions over a :class:`Store` that return the API's
schemas (:mod:`lts.controller.api.schemas`). No HTTP here: the routes call these, and so do tests.

The frontier and the baseline comparison come from :mod:`lts.controller.report` (the
figures ``controller results`` prints); this module adds what a client needs around them
(parameter counts, the measurements behind each figure) and reads only what a request needs:
a finished device's frontier is read from the stored report, without loading its candidates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields, replace
from typing import Any

from pydantic import BaseModel

from lts.controller.api.schemas import (
    ArchitecturePublic,
    CandidateMeasurement,
    CandidatePublic,
    CandidatesPublic,
    DevicePublic,
    DevicesPublic,
    FrontierPublic,
    HypervolumePoint,
    MeasurementPublic,
    MeasurementsPublic,
    Prediction,
    SearchDetailPublic,
    SearchesPublic,
    SearchListedPublic,
    SearchPublic,
)
from lts.controller.report import DeviceHeader, build_report, device_headers, select_devices
from lts.controller.report.compact import search_view
from lts.controller.report.joint import joint_report
from lts.controller.report.pick import parse_budgets, pick
from lts.controller.report.views import device_public, header_public
from lts.controller.report.views_across import JointPublic, PickPublic, joint_public, pick_public
from lts.controller.search.config import load_config
from lts.controller.search.lease import LIVE_STATUSES, live_search, shown_status
from lts.controller.store import CandidateJoin, MeasurementRecord, SearchRecord, Store
from lts.controller.store.records import stand_ins
from lts.shared.errors import ConfigError, NotFoundError
from lts.shared.objectives import measured as measured_objectives

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
    data = [
        SearchListedPublic(**search_public(s, s.id in running).model_dump(),
                           devices=[header_public(h) for h in _headers(store, s)])
        for s in shown
    ]  # fmt: skip
    return SearchesPublic(data=data, count=store.count_searches())


def _headers(store: Store, search: SearchRecord) -> list[DeviceHeader]:
    """The device headers of a listed search (none when its settings cannot be read: the
    list still shows it)."""
    try:
        return device_headers(store, search, load_config(store, search.id))
    except ConfigError:
        return []


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
    """A search with its settings, per-device progress (the one device header,
    :func:`~lts.controller.report.device_headers`) and hypervolume history."""
    search = require_search(store, search_id, here=background)
    iterations = int(search.settings.get("iterations") or 0)
    names = _device_names(store)
    headers = device_headers(store, search, load_config(store, search_id))
    done = sum(h.iterations_done for h in headers)
    total = iterations * len(headers)
    return SearchDetailPublic(
        **search_public(search, background).model_dump(),
        settings=search.settings,
        progress=done / total if total else 0.0,
        devices=[header_public(h) for h in headers],
        hypervolume=[
            HypervolumePoint(device=names.get(h.device_id), **_fields(h, HypervolumePoint))
            for h in store.hypervolumes(search_id)
        ],
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
    """Per device (only ``device``, an agent or device name, if given): its header, the
    frontier with each member's parameter counts and measurement ids, and the baseline
    comparison (the report of :func:`~lts.controller.report.build_report`, as
    ``controller results --json`` prints it)."""
    require_search(store, search_id)
    report = build_report(store, search_id, device)
    data = [device_public(d) for d in report.devices]
    return FrontierPublic(search_id=report.search.id, status=report.search.status, data=data,
                          count=len(data))  # fmt: skip


def read_view(store: Store, search_id: int) -> dict[str, Any]:
    """The dashboard's compact view of a search (:mod:`lts.controller.report.compact`)."""
    require_search(store, search_id)
    return search_view(store, search_id)


# ------------------------------------------------------------------- across devices
def read_joint(store: Store, search_id: int, devices: list[str] | None = None) -> JointPublic:
    """The models with figures on every device named (all of the search's when None): the
    joint report of :mod:`lts.controller.report.joint`, as ``controller results`` shows it."""
    require_search(store, search_id)
    return joint_public(joint_report(build_report(store, search_id), devices))


def read_pick(
    store: Store, search_id: int, devices: list[str], caps: dict[str, list[str]], by: str
) -> PickPublic:
    """The model to ship within the budgets (:func:`lts.controller.report.pick.pick`)."""
    require_search(store, search_id)
    budgets = parse_budgets(devices, caps)
    return pick_public(pick(build_report(store, search_id), budgets, by))


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
        extra = stand_ins(c.measure, m.status, m.values, c.predicted,
                          [o.name for o in measured_objectives()])  # fmt: skip
        values = {**m.values, **extra}
        figures = CandidateMeasurement(
            id=m.id, status=m.status, error=m.error, values=values, stand_ins=sorted(extra),
            latency_ms=values.get("latency"), peak_memory_mb=values.get("memory"),
            memory_predicted="memory" in extra,
        )  # fmt: skip
    predicted = None
    if c.predicted:
        predicted = Prediction(values=dict(c.predicted), latency_ms=c.predicted.get("latency"),
                               memory_mb=c.predicted.get("memory"))  # fmt: skip
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
    data = [measurement_public(m, names, samples)
            for m in store.measurements_of(arch_id, samples=samples)]  # fmt: skip
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
    """``m`` as the API shows it (``samples``: each latency's timed runs, read with them)."""
    latency = dict(m.stats.get("latency", {}))
    prefill_samples = latency.pop("samples", None)
    stats = {k: v if samples else {n: x for n, x in v.items() if n != "samples"}
             for k, v in m.stats.items()}  # fmt: skip
    return MeasurementPublic(
        id=m.id, arch_id=m.arch_id, device_id=m.device_id, device=names.get(m.device_id),
        status=m.status, error=m.error, values=dict(m.values), stats=stats,
        latency_ms=m.values.get("latency"), peak_memory_mb=m.values.get("memory"),
        latency={k: v for k, v in latency.items() if k != "median"}, memory=m.memory,
        settings=m.settings, context=m.context,
        samples=[float(x) for x in prefill_samples or []] if samples else None,
        created_at=m.created_at,
    )  # fmt: skip


# ------------------------------------------------------------------------------ helpers
def _device_names(store: Store) -> dict[int, str]:
    return {d.id: d.name for d in store.list_devices()}


def _shallow(record: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, values as they are (``asdict`` deep-copies every
    value: ten times slower, and records own their values already)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _fields(record: Any, model: type[BaseModel]) -> dict[str, Any]:
    """The dataclass ``record``'s fields that ``model`` declares."""
    return {k: v for k, v in _shallow(record).items() if k in model.model_fields}
