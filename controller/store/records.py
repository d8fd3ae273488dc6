"""What the store returns: frozen records, never ORM rows.

Records are immutable snapshots (their ``dict`` fields are copies owned by the record); they
are safe to keep after the session that read them is closed and to pass between threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lts.shared.config import ArchConfig

#: Candidate origins.
ORIGINS: tuple[str, ...] = ("random", "mutation", "crossover", "baseline")
#: How a candidate was measured (schema version 2; None in rows written before, which were
#: all measured in full): ``full`` (the search's protocol), ``quick`` (a short measurement,
#: whose peak memory may not have been measured: then the predicted one stands for it) or
#: ``screened`` (not measured: the cost model predicted it dominated).
MEASURES: tuple[str, ...] = ("full", "quick", "screened")
#: Measurement statuses: ``done`` has figures; ``failed`` and ``rejected`` carry an error.
MEASUREMENT_STATUSES: tuple[str, ...] = ("done", "failed", "rejected")
#: Search statuses.
SEARCH_STATUSES: tuple[str, ...] = ("running", "interrupted", "done", "failed")
#: Per-device statuses within a search.
DEVICE_STATUSES: tuple[str, ...] = (
    "pending",
    "running",
    "waiting",
    "done",
    "failed",
    "interrupted",
)


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

    ``latency_ms`` is the median; ``latency`` holds the other statistics (p10, p90, mean, min,
    cv, n); ``samples`` the raw timed runs in ms. ``settings`` are the complete settings the
    agent reported; ``settings_key`` the key the controller asked under.
    """

    id: int
    arch_id: str
    device_id: int
    settings_key: str
    settings: dict[str, Any]
    status: str
    error: str | None
    latency_ms: float | None
    peak_memory_mb: float | None
    latency: dict[str, Any] = field(default_factory=dict)
    samples: tuple[float, ...] = ()
    memory: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None

    @property
    def ok(self) -> bool:
        """True when the measurement succeeded and has a finite latency."""
        return (
            self.status == "done" and self.latency_ms is not None and math.isfinite(self.latency_ms)
        )


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
    """A candidate of a search on one device. Baselines have iteration -1. ``measure`` says
    how it was measured (see :data:`MEASURES`; None: written before there was a choice, i.e.
    in full, or not decided yet); ``predicted_latency_ms`` and ``predicted_memory_mb`` are the
    cost model's prediction when it was proposed (None: no model was ready)."""

    search_id: int
    device_id: int
    iteration: int
    arch_id: str
    origin: str
    parents: tuple[str, ...]
    measurement_id: int | None
    cache_hit: bool | None
    measure: str | None = None
    predicted_latency_ms: float | None = None
    predicted_memory_mb: float | None = None

    @property
    def screened(self) -> bool:
        """True when the candidate was screened out: it has no measurement and never will."""
        return self.measure == "screened"


def memory_predicted(
    measure: str | None,
    status: str | None,
    peak_memory_mb: float | None,
    predicted_memory_mb: float | None,
) -> bool:
    """Whether a candidate's peak memory is the cost model's prediction rather than a
    measurement: a successful quick measurement (``measure``, the measurement's ``status``)
    that did not measure memory, with a prediction to stand in for it."""
    return (
        measure == "quick"
        and status == "done"
        and peak_memory_mb is None
        and predicted_memory_mb is not None
    )


@dataclass(frozen=True)
class CandidateCounts:
    """What a search did with its candidates on one device (baselines excluded):
    ``proposed`` candidates, of which ``measured`` got a new measurement (not a cache hit),
    ``quick`` and ``full`` split those by protocol (a candidate measured before ``measure``
    existed counts as full), and ``screened`` were not measured at all."""

    proposed: int = 0
    measured: int = 0
    quick: int = 0
    full: int = 0
    screened: int = 0


@dataclass(frozen=True, slots=True)
class CandidateFigures:
    """A candidate with the scalar figures a frontier is computed from (its architecture's
    decoder parameters, its measurement's status, median latency and peak memory: None when
    not measured; how it was measured and the cost model's prediction, as in
    :class:`CandidateRecord`), read without decoding any JSON column."""

    arch_id: str
    iteration: int
    measurement_id: int | None
    cache_hit: bool | None
    decoder_params: int
    status: str | None
    latency_ms: float | None
    peak_memory_mb: float | None
    measure: str | None = None
    predicted_latency_ms: float | None = None
    predicted_memory_mb: float | None = None

    @property
    def ok(self) -> bool:
        """As :attr:`MeasurementRecord.ok`: measured, succeeded, finite latency."""
        return (
            self.status == "done" and self.latency_ms is not None and math.isfinite(self.latency_ms)
        )

    @property
    def memory_predicted(self) -> bool:
        """True when the peak memory was predicted, not measured (:func:`memory_predicted`)."""
        return memory_predicted(
            self.measure, self.status, self.peak_memory_mb, self.predicted_memory_mb
        )

    @property
    def memory_mb(self) -> float | None:
        """The peak memory to rank it by: the measured one, else the predicted one
        (:attr:`memory_predicted`), else None."""
        return self.predicted_memory_mb if self.memory_predicted else self.peak_memory_mb


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
