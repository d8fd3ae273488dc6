"""What the controller's REST API answers and accepts (pydantic v2).

Per resource: ``XPublic`` (one item) and ``XsPublic`` (``{data, count}``); ``SearchCreate`` is
the body of ``POST /searches``. Every float that may be infinite or NaN is written as ``null``
(strict JSON). Times are UTC, ISO 8601.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lts.controller.report import CostModelSummary
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


class SearchesPublic(_Public):
    data: list[SearchPublic]
    count: int = Field(description="all searches in the store (not only this page)")


class SearchDevicePublic(_Public):
    """One agent of a search and its progress there."""

    position: int
    agent: str
    device: str | None = Field(description="the device's name once the agent was reached")
    device_id: int | None
    status: str
    message: str | None
    iterations_done: int
    iterations: int
    candidates: int = Field(description="candidates proposed so far (baselines excluded)")
    measured: int = Field(description="of those, measured anew (not found in the cache)")
    quick: int = Field(description="of those measured, with the quick measurement only")
    full: int = Field(description="of those measured, with the full protocol")
    screened: int = Field(description="of those proposed, screened out by the cost model: "
                                      "predicted dominated, never measured")  # fmt: skip
    cost_model: CostModelSummary | None = Field(
        description="the cost model's error as the search last recorded it (fractions: 0.06 "
        "is 6 %); null when the search has none"
    )
    hypervolume: float | None
    frontier_size: int
    updated_at: datetime


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
    devices: list[SearchDevicePublic]
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


# ------------------------------------------------------------------------- measurements
class MeasurementPublic(_Public):
    """One stored measurement. ``latency_ms`` is the median; ``latency`` holds p10, p90, mean,
    min, cv and n; ``samples`` (the timed runs, ms) only where asked for, a sample that is not
    a finite number (a store written before agents' figures were checked) as null."""

    id: int
    arch_id: str
    device_id: int
    device: str | None
    status: str
    error: str | None
    latency_ms: float | None
    peak_memory_mb: float | None
    latency: dict[str, Any]
    memory: dict[str, Any]
    settings: dict[str, Any]
    context: dict[str, Any]
    samples: list[float | None] | None = None
    created_at: datetime | None


class MeasurementBrief(_Public):
    """A measurement as a frontier member carries it: its settings are the device's
    ``search_settings`` or ``final_settings``; ``GET /architectures/{id}/measurements`` has
    the rest (settings, memory method, run context, samples)."""

    id: int
    status: str
    error: str | None
    latency_ms: float | None
    peak_memory_mb: float | None
    latency: dict[str, Any]
    created_at: datetime | None


class MeasurementsPublic(_Public):
    data: list[MeasurementPublic]
    count: int


# ----------------------------------------------------------------------------- frontier
class ModelPublic(_Public):
    """One model's figures on one device; ``figures`` says which measurement they come from
    (``final``: the re-measurement with the larger budget; ``search``: the search-time one);
    ``error`` is set when that measurement failed."""

    arch_id: str
    n_layer: int
    d_model: int
    decoder_params: int
    latency_ms: float | None
    p10_ms: float | None
    p90_ms: float | None
    peak_memory_mb: float | None
    figures: str
    error: str | None = None
    measure: str | None = Field(
        None, description="how the search measured it: full or quick (null: not recorded)"
    )
    predicted_latency_ms: float | None = Field(
        None, description="the cost model's prediction when it was proposed (null: none)"
    )
    predicted_memory_mb: float | None = None
    memory_predicted: bool = Field(
        False, description="peak_memory_mb is the prediction: the quick measurement took none"
    )


class FrontierMemberPublic(ModelPublic):
    backbone: str
    total_params: int
    params: dict[str, int] = Field(description="decoder, attention, feed_forward, ... (elements)")
    config: dict[str, Any]
    search_measurement: MeasurementBrief | None
    final_measurement: MeasurementBrief | None


class ComparisonPublic(_Public):
    """A layer-scaled baseline and the fastest frontier model with at least its decoder
    parameters: ``speedup`` = baseline latency / model latency, ``memory_ratio`` = baseline
    peak memory / model peak memory (above 1: less memory)."""

    baseline: ModelPublic
    match: ModelPublic | None
    speedup: float | None
    memory_ratio: float | None


class DeviceFrontierPublic(_Public):
    position: int
    agent: str
    device: str | None
    device_id: int | None
    status: str
    message: str | None
    iterations_done: int
    iterations: int
    candidates: int
    hypervolume: float | None
    search_settings: dict[str, Any] | None = Field(
        description="the settings of every search-time measurement on this device"
    )
    final_settings: dict[str, Any] | None = Field(
        description="the settings of the final re-measurement (None: not made)"
    )
    members: list[FrontierMemberPublic] = Field(description="by decoder parameters")
    baselines: list[ComparisonPublic]


class FrontierPublic(_Public):
    search_id: int
    status: str
    data: list[DeviceFrontierPublic]
    count: int = Field(description="devices in data")


# --------------------------------------------------------------------------- candidates
class CandidateMeasurement(_Public):
    """The candidate's measurement; a quick one may not have measured the peak memory: then
    ``peak_memory_mb`` is the cost model's prediction and ``memory_predicted`` is true."""

    id: int
    status: str
    latency_ms: float | None
    peak_memory_mb: float | None
    error: str | None
    memory_predicted: bool = False


class Prediction(_Public):
    """What the cost model predicted for a candidate when it was proposed."""

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
