"""What the store returns: frozen records, never ORM rows.

Records are immutable snapshots (their ``dict`` fields are copies owned by the record); they
are safe to keep after the session that read them is closed and to pass between threads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lts.shared.config import ArchConfig

#: How a candidate was measured (schema version 2; None in rows written before, which were
#: all measured in full): ``full`` (the search's protocol), ``quick`` (a short measurement,
#: where an objective it did not measure takes the cost model's prediction) or ``screened``
#: (not measured: the cost model predicted it dominated).
MEASURES: tuple[str, ...] = ("full", "quick", "screened")
@dataclass(frozen=True)
class DeviceRecord:
    """A device: one agent name with one fingerprint; ``info`` is its ``GET /device`` answer."""

    id: int
    name: str
    fingerprint: str
    url: str | None
    info: dict[str, Any]
    first_seen: datetime
    last_seen: datetime

    def summary(self) -> str:
        """One line: CPU model, cores, memory and GPUs as the agent reported them."""
        info = self.info
        parts = [str(info.get("cpu_model") or info.get("machine") or "?")]
        if info.get("cores_logical"):
            parts.append(f"{info['cores_logical']} cores")
        if info.get("memory_total_mb"):
            parts.append(f"{info['memory_total_mb'] / 1024:.0f} GB")
        parts.extend(g.get("name", "gpu") for g in info.get("gpus") or [])
        return ", ".join(parts)


@dataclass(frozen=True)
class ArchitectureRecord:
    """An architecture by content id, with its parameter counts (elements)."""

    arch_id: str
    backbone: str
    config: dict[str, Any]
    n_layer: int
    d_model: int
    decoder_params: int
    total_params: int
    params: dict[str, int]

    def to_config(self) -> ArchConfig:
        return ArchConfig.from_dict(self.config)


@dataclass(frozen=True)
class MeasurementRecord:
    """One stored measurement (the cache entry for architecture + device + settings).

    ``values``: each measured objective's value by name (a latency's median in ms, the peak
    memory in MiB; see :mod:`lts.shared.objectives`); ``stats``: each one's statistics
    (``median``, ``p10``, ``p90``, ``mean``, ``min``, ``cv``, ``n`` for a latency; with
    ``samples``, the raw timed runs in ms, where the read asked for them). ``settings`` are
    the complete settings the agent reported; ``settings_key`` the key the controller asked
    under.
    """

    id: int
    arch_id: str
    device_id: int
    settings_key: str
    settings: dict[str, Any]
    status: str
    error: str | None
    values: dict[str, float] = field(default_factory=dict)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None

    @property
    def ok(self) -> bool:
        """True when the measurement succeeded (it then holds at least one value)."""
        return self.status == "done" and bool(self.values)

    def covers(self, names: Iterable[str]) -> bool:
        """Whether it succeeded with a value for each objective of ``names``."""
        return self.ok and all(n in self.values for n in names)


@dataclass(frozen=True)
class SearchRecord:
    id: int
    name: str | None
    settings: dict[str, Any]
    seed: int
    status: str
    message: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class LeaseRecord:
    """The controller process that runs a search: a random ``owner`` id per run, its host
    name and process id, and its last heartbeat (UTC)."""

    search_id: int
    owner: str
    host: str
    pid: int
    acquired_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class SearchDeviceRecord:
    """One agent of a search: its position in ``--agents``, the agent as given (name or URL),
    the device it turned out to be (None until first reached) and the search's progress there.
    ``iteration_done`` is the last complete iteration (-1: none); ``state`` the algorithm's
    state after it."""

    id: int
    search_id: int
    position: int
    agent: str
    device_id: int | None
    status: str
    iteration_done: int
    state: dict[str, Any]
    message: str | None
    updated_at: datetime


@dataclass(frozen=True)
class CandidateRecord:
    """A candidate of a search on one device. Baselines have iteration -1. ``origin``: which
    operator of which algorithm proposed it (``random``, ``mutation``, ``crossover``,
    ``baseline``, ...). ``measure`` says how it was measured (see :data:`MEASURES`; None:
    written before there was a choice, i.e. in full, or not decided yet); ``predicted``: the
    cost model's prediction of each measured objective when it was proposed, by name (empty:
    no model was ready)."""

    search_id: int
    device_id: int
    iteration: int
    arch_id: str
    origin: str
    parents: tuple[str, ...]
    measurement_id: int | None
    cache_hit: bool | None
    measure: str | None = None
    predicted: dict[str, float] = field(default_factory=dict)

    @property
    def screened(self) -> bool:
        """True when the candidate was screened out: it has no measurement and never will."""
        return self.measure == "screened"


def stand_ins(
    measure: str | None,
    status: str | None,
    values: Mapping[str, float],
    predicted: Mapping[str, float],
    names: Iterable[str],
) -> dict[str, float]:
    """The predictions that stand in for objectives of ``names`` a candidate's measurement
    did not measure: only for a successful quick measurement (``measure``, the
    measurement's ``status``) with a prediction of the missing objective. The one place of
    this rule (the report, the API, exports, plots and the search read it from here)."""
    if measure != "quick" or status != "done":
        return {}
    return {n: predicted[n] for n in names if n not in values and n in predicted}


@dataclass(frozen=True)
class CandidateCounts:
    """What a search did with its candidates on one device (baselines excluded):
    ``proposed`` candidates, of which ``measured`` got a new measurement (not a cache hit),
    ``quick`` and ``full`` split those by protocol (a candidate measured before ``measure``
    existed counts as full), ``screened`` were not measured at all, ``cache_hits`` took a
    measurement the store already held, and ``failed`` have a measurement that failed (or
    was rejected)."""

    proposed: int = 0
    measured: int = 0
    quick: int = 0
    full: int = 0
    screened: int = 0
    cache_hits: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class CandidateFigures:
    """A candidate with the figures a frontier is computed from: its architecture's decoder
    parameters (and depth and width), its measurement's status and objective ``values``
    (empty when not measured), how it was measured and the cost model's ``predicted``
    values, as in :class:`CandidateRecord`; read without decoding statistics or samples."""

    arch_id: str
    iteration: int
    measurement_id: int | None
    cache_hit: bool | None
    decoder_params: int
    n_layer: int
    d_model: int
    status: str | None
    values: dict[str, float]
    measure: str | None = None
    predicted: dict[str, float] = field(default_factory=dict)
    #: Its sequence number (the candidate cursor's) and origin, as in :class:`CandidateRecord`.
    seq: int = 0
    origin: str = ""

    @property
    def ok(self) -> bool:
        """As :attr:`MeasurementRecord.ok`: measured, succeeded, with values."""
        return self.status == "done" and bool(self.values)

    def filled(self, names: Iterable[str]) -> tuple[dict[str, float], frozenset[str]]:
        """Its values for the objectives ``names`` with predictions standing in where the
        rule allows (:func:`stand_ins`), and the names whose value is a prediction."""
        names = list(names)
        extra = stand_ins(self.measure, self.status, self.values, self.predicted, names)
        values = {n: self.values[n] for n in names if n in self.values}
        return {**values, **extra}, frozenset(extra)


@dataclass(frozen=True)
class HypervolumeRecord:
    search_id: int
    device_id: int
    iteration: int
    hypervolume: float | None
    frontier_size: int
    n_measured: int
    created_at: datetime


@dataclass(frozen=True)
class ReportedRecord:
    """A frontier member (role ``frontier``) or baseline (role ``baseline``) of a finished
    search on one device, with its search-time and final (larger budget) measurements."""

    search_id: int
    device_id: int
    arch_id: str
    role: str
    search_measurement_id: int | None
    final_measurement_id: int | None
