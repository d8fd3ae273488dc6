"""What the controller's REST API answers and accepts (pydantic v2).

Per resource: ``XPublic`` (one item) and ``XsPublic`` (``{data, count}``); ``SearchCreate`` is
the body of ``POST /searches``. Every float that may be infinite or NaN is written as ``null``
(strict JSON). Times are UTC, ISO 8601.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lts.controller.report.views import DeviceFrontierPublic, DeviceHeaderPublic
from lts.controller.search import config as c
from lts.controller.search.options import SearchOptions
from lts.controller.store import MAX_ID
from lts.shared.schemas import DeviceInfo


class _Public(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="null")


# ------------------------------------------------------------------------------- health
class HealthPublic(_Public):
    status: Literal["ok"] = "ok"
    version: str
    running: int = Field(description="searches this server is running in the background")


# ----------------------------------------------------------------------------- searches
class SearchPublic(_Public):
    """A search as listed. ``background``: this server runs it now (``POST
    /searches/{id}/stop`` can stop it); a search run by a ``controller search`` elsewhere
    shows ``status`` running with ``background`` false."""

    id: int
    name: str | None
    status: str
    message: str | None
    seed: int
    agents: list[str]
    iterations: int | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    background: bool = False


class SearchListedPublic(SearchPublic):
    """A search as the list shows it: with each device's header (progress, counts,
    hypervolume), so that a page of searches needs no request per search."""

    devices: list[DeviceHeaderPublic] = Field(default_factory=list)


class SearchesPublic(_Public):
    data: list[SearchListedPublic]
    count: int = Field(description="all searches in the store (not only this page)")


class HypervolumePoint(_Public):
    device_id: int
    device: str | None
    iteration: int
    hypervolume: float | None
    frontier_size: int
    n_measured: int
    created_at: datetime


class SearchDetailPublic(SearchPublic):
    settings: dict[str, Any] = Field(description="the search's complete definition")
    progress: float = Field(description="iterations done / iterations, over all devices (0-1)")
    devices: list[DeviceHeaderPublic]
    hypervolume: list[HypervolumePoint] = Field(description="per device, per iteration")


class _SearchCaller(BaseModel):
    """What a ``POST /searches`` body says besides the search's options."""

    agents: c.Agents | None = None
    name: str | None = Field(None, max_length=200)
    resume: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None


class SearchCreate(SearchOptions, _SearchCaller):
    """``POST /searches``: the options of ``controller search`` (same names, ``-`` as ``_``).

    ``agents``: names from the server's agents file or URLs (a URL agent's token is the
    server's ``--agent-token-file``). ``space``: a search space as a JSON object (what a space
    file holds) instead of a file path. ``resume``: continue a stored search; it keeps its
    settings, so no other option but ``agents`` may be given with it.
    """

    model_config = ConfigDict(extra="forbid")

    def given(self) -> dict[str, Any]:
        """The search options this body gives (by name)."""
        return self.model_dump(exclude_none=True, include=set(SearchOptions.model_fields))


# --------------------------------------------------------------------------- objectives
class ObjectivePublic(_Public):
    """One objective (:mod:`lts.shared.objectives`): ``sense`` min or max, its ``unit``,
    ``source`` (computed from the configuration, or measured), ``timed`` (a latency),
    ``column`` (its name in flat tables and fields), ``bound`` (the search option capping it)."""

    name: str
    sense: Literal["min", "max"]
    unit: str
    label: str
    source: Literal["computed", "measured"]
    timed: bool
    column: str
    bound: str | None
    description: str


class ObjectivesPublic(_Public):
    data: list[ObjectivePublic]
    count: int
    default: list[str] = Field(description="the objectives of a search that names none")


# ------------------------------------------------------------------------- measurements
class MeasurementPublic(_Public):
    """One stored measurement: ``values`` by measured objective (a latency's median in ms,
    the peak memory in MiB) and ``stats`` (median, p10, p90, mean, min, cv, n of a latency;
    its ``samples``, the timed runs in ms, only where asked for). ``latency_ms``,
    ``peak_memory_mb`` and ``latency`` are the prefill latency's and peak memory's, as the
    first releases wrote them; ``samples`` the prefill latency's samples where asked for. A
    sample that is not a finite number (a store written before agents' figures were checked)
    is null."""

    id: int
    arch_id: str
    device_id: int
    device: str | None
    status: str
    error: str | None
    values: dict[str, float]
    stats: dict[str, dict[str, Any]]
    latency_ms: float | None
    peak_memory_mb: float | None
    latency: dict[str, Any]
    memory: dict[str, Any]
    settings: dict[str, Any]
    context: dict[str, Any]
    samples: list[float | None] | None = None
    created_at: datetime | None


class MeasurementsPublic(_Public):
    data: list[MeasurementPublic]
    count: int


# ----------------------------------------------------------------------------- frontier
class FrontierPublic(_Public):
    search_id: int
    status: str
    data: list[DeviceFrontierPublic]
    count: int = Field(description="devices in data")


# --------------------------------------------------------------------------- candidates
class CandidateMeasurement(_Public):
    """The candidate's measurement: ``values`` by measured objective; a quick one that did
    not measure an objective takes the cost model's prediction for it (named in
    ``stand_ins``). ``latency_ms``, ``peak_memory_mb`` and ``memory_predicted``: the prefill
    latency's, the peak memory's and whether it is a prediction, as the first releases
    wrote them."""

    id: int
    status: str
    error: str | None
    values: dict[str, float]
    stand_ins: list[str] = Field(default_factory=list)
    latency_ms: float | None
    peak_memory_mb: float | None
    memory_predicted: bool = False


class Prediction(_Public):
    """What the cost model predicted for a candidate when it was proposed: ``values`` by
    objective (``latency_ms`` and ``memory_mb`` as the first releases wrote them)."""

    values: dict[str, float]
    latency_ms: float | None
    memory_mb: float | None


class CandidatePublic(_Public):
    """A candidate of a search on one device (``iteration`` -1: a layer-scaled baseline).
    ``measure``: ``full``, ``quick`` or ``screened`` (predicted dominated by the frontier,
    never measured: ``measurement`` stays null); null for a candidate of a search that did not
    record it (measured in full) or not sent yet."""

    seq: int = Field(description="sequence number: the cursor for ?after=")
    device_id: int
    device: str | None
    iteration: int
    arch_id: str
    origin: str
    parents: list[str]
    decoder_params: int
    cache_hit: bool | None
    measure: str | None = None
    predicted: Prediction | None = Field(None, description="null when no model was ready")
    measurement: CandidateMeasurement | None


class CandidatesPublic(_Public):
    """A page of candidates after the cursor. While a device is still searching, the page
    stops before its first candidate not measured yet (a screened one counts as settled: it
    will never be), so that a client polling with ``after=next_after`` sees every candidate
    once, with its measurement."""

    data: list[CandidatePublic]
    count: int = Field(description="candidates of the search (on the device), baselines included")
    next_after: int = Field(description="pass as ?after= to get what follows")
    search_status: str
    complete: bool = Field(description="the search has ended and nothing follows the cursor")


# ------------------------------------------------------------------------ architectures
class ArchitecturePublic(_Public):
    arch_id: str
    backbone: str
    config: dict[str, Any]
    n_layer: int
    d_model: int
    decoder_params: int
    total_params: int
    params: dict[str, int] = Field(description="decoder, attention, feed_forward, ... (elements)")
    measurements: int = Field(description="stored measurements (any device, any settings)")


# ----------------------------------------------------------------------- devices, agents
class DevicePublic(_Public):
    """A device: one agent name with one fingerprint; ``info`` is its ``GET /device``."""

    id: int
    name: str
    fingerprint: str
    url: str | None
    info: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    measurements: int


class DevicesPublic(_Public):
    data: list[DevicePublic]
    count: int


class AgentPublic(_Public):
    """A named agent of the agents file and whether it answered just now."""

    name: str
    url: str
    auth: Literal["token_file", "token", "none"]
    reachable: bool
    error: str | None = None
    device: DeviceInfo | None = None


class AgentsPublic(_Public):
    data: list[AgentPublic]
    count: int
    file: str
