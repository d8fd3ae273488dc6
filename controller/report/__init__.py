"""What a search reports, read back from the store: per device, the frontier and the
comparison with each layer-scaled baseline. :func:`device_frontier` builds it for one device;
``controller results``, the search command's final table, the API's frontier
(:mod:`lts.controller.api.reads`), plots and exports all show what it builds.

Every row carries one :class:`Figure` per measured objective of the search (its
:class:`~lts.shared.objectives.ObjectiveSet`): the value (a latency's median, the peak
memory), its p10 and p90 where measured, the cost model's prediction and whether the value
is that prediction standing in for a quick measurement that lacked it
(:func:`~lts.controller.store.records.stand_ins`, the one place of that rule).

A finished device reports the frontier its final phase stored, each member with its final
figures where it was measured again, else its search-time ones (``figures``). A device that
has not finished (running elsewhere, interrupted, failed) reports its current frontier from
the search-time measurements. A candidate screened out by the cost model has no
measurement, so it is never a frontier member.

The baseline comparison is the paper's claim made on the user's device: for each baseline,
the fastest (first measured objective) frontier model with at least the baseline's proxy, and
per measured objective the ratio baseline / model (``speedup`` for the first timed one,
``memory_ratio`` for peak memory: above 1 means faster, less memory).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from lts.controller.report.rows import (
    Comparison,
    DeviceFrontier,
    Figure,
    Loaded,
    ModelRow,
    _fraction,
    device_frontier,
    joint_live_members,
)
from lts.controller.report.trust import Reliability, hypervolume_ratio, reliability
from lts.controller.search.config import SearchConfig, load_config
from lts.controller.search.lease import live_devices, live_search
from lts.controller.store import (
    CandidateCounts,
    SearchDeviceRecord,
    SearchRecord,
    Store,
)
from lts.shared.errors import ConfigError

__all__ = [
    "Comparison",
    "CostModelSummary",
    "DeviceFrontier",
    "DeviceHeader",
    "DeviceReport",
    "Figure",
    "ModelRow",
    "PredictionErrors",
    "Reliability",
    "SearchReport",
    "build_report",
    "cost_model_summary",
    "device_frontier",
    "device_headers",
    "select_devices",
]


@dataclass(frozen=True)
class PredictionErrors:
    """How far one of the cost model's predictions is from the measurements: ``n``
    measurements it was fitted on, ``n_scored`` predictions scored on measurements it was not
    fitted on, their median and 90th percentile absolute percentage error (``mdape``,
    ``p90ape``: fractions, 0.06 is 6 %). Any of them may be None (not recorded)."""

    n: int | None = None
    n_scored: int | None = None
    mdape: float | None = None
    p90ape: float | None = None


@dataclass(frozen=True)
class CostModelSummary:
    """The cost model of a device as the search last recorded it (its state's
    ``cost_model``): the error of its prediction of each measured objective (``errors``, by
    name), that of the ``quick`` measurements against full ones, and the ``margin`` (per
    objective, a fraction) by which a candidate must be predicted dominated to be screened
    out (``quick``: the uncertainty of a quick measurement), where recorded."""

    errors: dict[str, PredictionErrors] = field(default_factory=dict)
    quick: PredictionErrors | None = None
    margin: dict[str, float] = field(default_factory=dict)


def cost_model_summary(state: Mapping[str, Any]) -> CostModelSummary | None:
    """The cost model summary of a search device's stored state, None when there is none (a
    search before the cost model, or before its first iteration). Every key is optional: one
    missing, or not of its type, reads as None."""
    raw = state.get("cost_model")  # (the same shape in every version of the state)
    if not isinstance(raw, dict):
        return None

    def error(part: Any) -> PredictionErrors | None:
        if not isinstance(part, dict):
            return None
        return PredictionErrors(
            n=_count(part.get("n")),
            n_scored=_count(part.get("n_scored")),
            mdape=_fraction(part.get("mdape")),
            p90ape=_fraction(part.get("p90ape")),
        )

    errors = {k: e for k, v in raw.items() if k not in ("quick", "margin")
              and (e := error(v)) is not None}  # fmt: skip
    # The margins: a top-level {name: m}, else (per key) the "margin" a quantity's own
    # figures carry.
    given = raw.get("margin")
    margin: dict[str, float] = {}
    for key in [*errors, "quick"]:
        own = raw.get(key)
        value = _fraction(given.get(key)) if isinstance(given, dict) else None
        if value is None and isinstance(own, dict):
            value = _fraction(own.get("margin"))
        if value is not None:
            margin[key] = value
    return CostModelSummary(errors, error(raw.get("quick")), margin)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class DeviceHeader:
    """One device of a search as every view heads it (the CLI, the API's search and frontier,
    the dashboard): its progress, what it did with its candidates (``counts``, the one count
    of them), its last hypervolume and frontier size, its cost model and the search's
    objectives."""

    position: int
    agent: str
    device: str | None
    device_id: int | None
    fingerprint: str | None
    status: str
    message: str | None
    iterations_done: int
    iterations: int
    hypervolume: float | None
    frontier_size: int
    counts: CandidateCounts
    cost_model: CostModelSummary | None
    objectives: tuple[str, ...]
    updated_at: datetime | None = None
    #: The box the hypervolume is measured in: per objective (a joint search's qualified
    #: ones), the ``ideal`` (0) and ``reference`` (1) values in its unit, fixed by the
    #: search's first iteration; None before it.
    hypervolume_box: dict[str, dict[str, float]] | None = None


@dataclass(frozen=True)
class DeviceReport(DeviceHeader):
    """A device's header with its frontier (by decoder parameters) and the comparison with
    each baseline (by depth)."""

    frontier: list[ModelRow] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    #: Models of the other devices' frontiers measured here at the end of the search.
    cross: list[ModelRow] = field(default_factory=list)
    #: How far the figures shown can be trusted (busy device, wide spans).
    reliability: Reliability = field(default_factory=Reliability)
    #: The frontier's hypervolume over the baselines' (on one box; None without both).
    hypervolume_ratio: float | None = None
    #: What the rows were made of: the records read, the measurement ids of each model.
    loaded: Loaded | None = field(default=None, repr=False, compare=False)
    measurement_ids: dict[str, tuple[int | None, int | None]] = field(
        default_factory=dict, repr=False, compare=False
    )


@dataclass(frozen=True)
class SearchReport:
    search: SearchRecord
    config: SearchConfig
    devices: list[DeviceReport]

    def to_json(self) -> dict[str, Any]:
        """The search and, per device, its frontier as the API's ``GET
        /searches/{id}/frontier`` answers it (:mod:`lts.controller.report.views`)."""
        from lts.controller.report.views import device_json

        s = self.search
        return {
            "search": {
                "id": s.id,
                "name": s.name,
                "status": s.status,
                "message": s.message,
                "seed": s.seed,
                "created_at": s.created_at.isoformat(),
                "finished_at": s.finished_at.isoformat() if s.finished_at else None,
                "settings": s.settings,
            },
            "devices": [device_json(d) for d in self.devices],
        }


def build_report(store: Store, search_id: int, device: str | None = None) -> SearchReport:
    """The report of search ``search_id`` (only the device named ``device`` if given)."""
    search = live_search(store, store.get_search(search_id))
    config = load_config(store, search_id)
    headers = device_headers(store, search, config, device)
    members = _joint_members(store, search, config)
    reports = []
    objectives = config.objective_set()
    for h in headers:
        front = None
        if h.device_id is not None:  # None: no device has answered for it, nothing measured
            front = device_frontier(store, config, search_id, h.device_id, members=members)
        ms = list(front.loaded.measurements.values()) if front else []
        ratio = None
        if front:
            ratio = hypervolume_ratio(front.frontier, [c.baseline for c in front.comparisons],
                                      objectives)  # fmt: skip
        reports.append(DeviceReport(
            **{f.name: getattr(h, f.name) for f in fields(DeviceHeader)},
            frontier=front.frontier if front else [],
            comparisons=front.comparisons if front else [],
            cross=front.cross if front else [],
            reliability=reliability(h.device or h.agent, ms, objectives),
            hypervolume_ratio=ratio,
            loaded=front.loaded if front else None,
            measurement_ids=front.measurement_ids if front else {},
        ))  # fmt: skip
    return SearchReport(search, config, reports)


def _joint_members(store: Store, search: SearchRecord, config: SearchConfig) -> set[str] | None:
    """A joint search's current frontier (None for any other search): what each device that
    has not reported yet shows, with its own figures."""
    if not config.joint:
        return None
    sds = store.search_devices(search.id)
    if all(sd.status == "done" for sd in sds):  # each reports the stored joint frontier
        return None
    devices = {sd.agent: sd.device_id for sd in sds if sd.device_id is not None}
    if len(devices) < len(config.agents):
        return set()
    return joint_live_members(store, config, search.id, devices)


def device_headers(
    store: Store, search: SearchRecord, config: SearchConfig, device: str | None = None
) -> list[DeviceHeader]:
    """The header of each device of ``search`` (only ``device``, an agent or device name,
    if given): a few queries for all of them, no frontier built."""
    known = {d.id: d for d in store.list_devices()}
    names = {i: d.name for i, d in known.items()}
    counts = store.candidate_counts(search.id)
    last = {h.device_id: h for h in store.hypervolumes(search.id)}
    out = []
    for sd in select_devices(store, search, device, names):
        record = known.get(sd.device_id) if sd.device_id is not None else None
        hv = last.get(sd.device_id) if sd.device_id is not None else None
        out.append(DeviceHeader(
            position=sd.position,
            agent=sd.agent,
            device=record.name if record else None,
            device_id=sd.device_id,
            fingerprint=record.fingerprint if record else None,
            status=sd.status,
            message=sd.message,
            iterations_done=sd.iteration_done + 1,
            iterations=config.iterations,
            hypervolume=hv.hypervolume if hv else None,
            frontier_size=hv.frontier_size if hv else 0,
            counts=counts.get(sd.device_id or -1, CandidateCounts()),
            cost_model=cost_model_summary(sd.state),
            objectives=tuple(config.objectives),
            updated_at=sd.updated_at,
            hypervolume_box=_box(sd.state, config),
        ))  # fmt: skip
    return out


def _box(state: Mapping[str, Any], config: SearchConfig) -> dict[str, dict[str, float]] | None:
    """The hypervolume's box of a device's stored state, in the objectives' units."""
    algorithm = state.get("algorithm")
    ref = algorithm.get("reference") if isinstance(algorithm, dict) else None
    if not isinstance(ref, dict):
        return None
    objectives = config.joint_objectives() if config.joint else config.objective_set()

    def named(values: Any) -> dict[str, float]:
        pairs = zip(objectives.names, objectives.signs, values, strict=True)
        return {n: sign * float(v) for n, sign, v in pairs}

    try:
        return {"ideal": named(ref["ideal"]), "reference": named(ref["ref"])}
    except (KeyError, TypeError, ValueError):
        return None


def select_devices(
    store: Store, search: SearchRecord, device: str | None, names: dict[int, str]
) -> list[SearchDeviceRecord]:
    """The search's devices (as :func:`live_devices` shows them); with ``device``, the one of
    that agent or device name (``names``: device names by id). Raises ConfigError (field
    ``device``) when the search ran on no such device."""
    devices = live_devices(store, search)
    if device is None:
        return devices
    chosen = [d for d in devices if device in (d.agent, names.get(d.device_id or -1))]
    if not chosen:
        raise ConfigError("device", f"search {search.id} has no device named {device!r}")
    return chosen
