"""Wire schemas shared by the agent and the controller (pydantic v2; no torch).

The agent's REST contract (extend it, never rename fields):

* ``POST /jobs`` takes :class:`JobCreate` ``{"items": [{"arch": {...}, "settings": {...}}]}``
  (and an optional idempotency ``key``) and answers :class:`JobPublic` with status ``queued``.
* ``GET /jobs/{id}`` answers :class:`JobPublic`: ``id``, ``status`` (queued | running | done |
  cancelled) and ``items``, each a :class:`JobItemPublic` with ``status`` (pending | running |
  done | failed | rejected), ``error``, ``fault`` (model | infrastructure | cancelled: whose
  failure it is), ``started`` (whether its measurement began) and ``result``
  (:class:`MeasurementResult`). ``GET /jobs/{id}?since=V&samples=false`` answers only the
  items changed after the job's ``version`` V, their results without raw latency samples: what
  a client polling the job needs (an agent without these parameters answers the whole job).

Settings in a request are overrides (:class:`MeasureSettingsIn`, every field optional); the agent
fills the rest from its own defaults and returns the complete, resolved :class:`MeasureSettings`
with every result, so that a stored result says exactly how it was measured.

What an agent reports is bounded here, so that no answer can carry more than a device's facts
and its figures: descriptive strings (host name, OS, versions, an item's error) are cut to
their bound (:data:`Text`, :data:`ErrorText`, with a note that they were cut), while what
identifies something (a device's name and fingerprint, an arch id) and what is counted (raw
samples, GPUs, version entries, the size of the free-form ``memory`` and ``context`` notes)
is refused beyond its bound.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    create_model,
    model_serializer,
)

Runtime = Literal["torch", "onnxruntime"]
DeviceKind = Literal["cpu", "cuda"]
Metric = Literal["prefill", "decode"]
Output = Literal["last", "all"]
JobStatus = Literal["queued", "running", "done", "cancelled"]
ItemStatus = Literal["pending", "running", "done", "failed", "rejected"]
#: Whose fault an item that did not finish ``done`` is: ``model`` (this architecture under
#: these settings failed or was refused: crash, out of memory, time limit, over the memory
#: budget; the same again gives the same), ``infrastructure`` (the machine or the agent: a
#: helper killed from outside, out of files or disk, the agent shutting down; measuring again
#: may work) or ``cancelled`` (the client cancelled the job before it started).
Fault = Literal["model", "infrastructure", "cancelled"]


#: The most raw latency samples a result carries (the agent's most timed runs).
MAX_SAMPLES = 10_000
#: Characters kept of a descriptive string an agent reports, and of an item's error.
MAX_TEXT = 256
MAX_ERROR = 4096
#: The most bytes (as JSON) of a result's free-form ``memory`` and ``context`` notes.
MAX_NOTES_BYTES = 8192
_CUT = " [cut]"


def clip(limit: int) -> Any:
    """A before-validator that cuts a string to ``limit`` characters (ending in ``[cut]``)."""

    def cut(value: object) -> object:
        if isinstance(value, str) and len(value) > limit:
            return value[: limit - len(_CUT)] + _CUT
        return value

    return BeforeValidator(cut)


def _small_notes(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, default=str))
    if size > MAX_NOTES_BYTES:
        raise ValueError(f"{size} bytes as JSON; at most {MAX_NOTES_BYTES}")
    return value


#: A descriptive string an agent reports (cut to :data:`MAX_TEXT` characters).
Text = Annotated[str, clip(MAX_TEXT), Field(max_length=MAX_TEXT)]
#: An item's error message (cut to :data:`MAX_ERROR` characters).
ErrorText = Annotated[str, clip(MAX_ERROR), Field(max_length=MAX_ERROR)]
#: A free-form note (``memory``, ``context``): at most :data:`MAX_NOTES_BYTES` as JSON.
Notes = Annotated[dict[str, Any], AfterValidator(_small_notes)]
#: An architecture's content id (a hex digest; see :mod:`lts.shared.config`).
ArchId = Annotated[str, Field(max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MeasureSettings(_Strict):
    """How one measurement is taken (every field resolved; stored with each result).

    ``metric``: ``prefill`` times one forward pass over ``seq_len`` tokens (the paper's measure);
    ``decode`` times generating token number ``seq_len`` after a cached context of
    ``seq_len - 1`` tokens (``seq_len`` is the total sequence length for both metrics).
    ``decode`` (with ``metric`` ``prefill``): also time one decode step on the same build,
    reported as ``decode_latency_ms`` (the time per generated token beside the time to the
    first token). ``output``: ``last`` computes the softmax for the last position only (what
    generating the next token needs), ``all`` for every position. Latency: at least
    ``warmup_runs`` runs and ``warmup_s`` seconds of warm-up, then at least ``min_runs`` runs
    and ``min_time_s`` seconds, stopping once the median is known to ``target_rel_ci``
    (relative half-width of its 95% confidence interval) or when ``time_budget_s`` is spent.
    """

    runtime: Runtime = "torch"
    device: DeviceKind = "cpu"
    metric: Metric = "prefill"
    batch_size: int = Field(1, ge=1, le=64)
    seq_len: int = Field(192, ge=1, le=4096)
    output: Output = "last"
    threads: int = Field(1, ge=1, le=256)
    time_budget_s: float = Field(10.0, gt=0, le=600)
    warmup_runs: int = Field(3, ge=0, le=1000)
    warmup_s: float = Field(0.5, ge=0, le=60)
    min_runs: int = Field(10, ge=1, le=10000)
    min_time_s: float = Field(1.0, ge=0, le=600)
    target_rel_ci: float = Field(0.02, gt=0, le=1)
    measure_memory: bool = True
    seed: int = Field(0, ge=0)
    decode: bool = False

    @model_serializer(mode="wrap")
    def _leave_out_unchanged_extensions(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Fields added since the first release are written only where they differ from
        their defaults: keys stored before them still match, and an older agent or
        controller (which refuses unknown fields) still reads settings that do not use them."""
        data = handler(self)
        for name, default in SETTINGS_EXTENSIONS.items():
            if isinstance(data, dict) and data.get(name, default) == default:
                data.pop(name, None)
        return data

    def cache_key(self) -> str:
        """Canonical JSON of the settings: equal settings give equal keys."""
        return self.model_dump_json()


#: Settings added after the first release, with their defaults (left out of the settings'
#: JSON while at them: see ``MeasureSettings._leave_out_unchanged_extensions``).
SETTINGS_EXTENSIONS: dict[str, Any] = {"decode": False}


class _Overrides(_Strict):
    """The base of :data:`MeasureSettingsIn`: what it does besides holding its fields."""

    def resolve(self, defaults: MeasureSettings) -> MeasureSettings:
        """The complete settings: these overrides applied on ``defaults``."""
        return defaults.model_copy(update=self.model_dump(exclude_none=True))


def _optional(model: type[BaseModel]) -> dict[str, Any]:
    """Every field of ``model`` as an optional one with the same type and bounds, default
    ``None`` (the field definitions ``create_model`` takes)."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation: Any = info.annotation
        fields[name] = (Annotated[annotation | None, Field(), *info.metadata], None)
    return fields


#: Derived from :class:`MeasureSettings` (every field optional, same bounds): a new setting
#: is declared once, there.
#: (Type checkers, which cannot see fields made at run time, see its base.)
if TYPE_CHECKING:
    MeasureSettingsIn = _Overrides
else:
    MeasureSettingsIn = create_model(
        "MeasureSettingsIn",
        __base__=_Overrides,
        __doc__="Optional overrides of :class:`MeasureSettings` in a request (omitted = agent "
        "default).",
        **_optional(MeasureSettings),
    )


class LatencyStats(_Strict):
    """Latency statistics in milliseconds; ``samples`` are the raw timed runs, in order."""

    median: float
    p10: float
    p90: float
    mean: float
    min: float
    cv: float = Field(description="coefficient of variation (std / mean)")
    n: int
    samples: list[float] = Field(max_length=MAX_SAMPLES)


class MeasurementResult(BaseModel):
    """One measurement of one architecture under :class:`MeasureSettings`."""

    arch_id: ArchId
    latency_ms: LatencyStats
    peak_memory_mb: float | None = Field(
        None, description="peak resident memory of build + run minus the worker's baseline (MB)"
    )
    memory: Notes = Field(default_factory=dict, description="how memory was measured")
    decode_latency_ms: LatencyStats | None = Field(
        None, description="one decode step's latency statistics (settings.decode)"
    )
    settings: MeasureSettings
    context: Notes = Field(default_factory=dict, description="run context")


class JobItemCreate(_Strict):
    """One measurement request: an architecture config (as in lts.shared.config) and overrides."""

    arch: dict[str, Any]
    settings: MeasureSettingsIn = Field(default_factory=MeasureSettingsIn)


#: What a job's idempotency ``key`` may be (a UUID's hex fits, so does ``search-3:dev-1:17``).
JOB_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


class JobCreate(_Strict):
    """A batch of measurement requests. ``key`` (optional, the client's choice) makes the
    submission idempotent: while the agent keeps a job submitted with that key, a second
    ``POST /jobs`` with the same key and the same items answers that job (200) instead of
    queuing them again, so a retry after a lost answer or a restarted client measures nothing
    twice. The same key with other items is refused (409)."""

    items: list[JobItemCreate] = Field(min_length=1)
    key: str | None = Field(None, pattern=JOB_KEY_PATTERN)


class JobItemPublic(BaseModel):
    """One item of a job. ``settings``: the complete settings it is (to be) measured with,
    also for an item that failed or was rejected (a result repeats them). ``fault`` (set on
    ``failed`` and ``rejected`` items): whether it says anything about the model (see
    :data:`Fault`); a client should keep only ``model`` faults as the model's result.
    ``started``: a slot began measuring it; an item that ends without having started was
    rejected at submission (over the memory budget: ``fault`` ``model``), cancelled
    (``cancelled``) or dropped by an agent shutting down (``infrastructure``). ``version``:
    the job's :attr:`JobPublic.version` at the item's last change."""

    index: int = Field(ge=0)
    status: ItemStatus
    error: ErrorText | None = None
    fault: Fault | None = None
    started: bool = False
    version: int = 0
    arch_id: ArchId | None = None
    settings: MeasureSettings | None = None
    result: MeasurementResult | None = None


class JobPublic(BaseModel):
    """A job. ``version`` counts its changes (an item taken, finished, dropped): a poll with
    ``?since=version`` answers only what changed after this answer."""

    id: str
    status: JobStatus
    version: int = 0
    key: str | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    items: list[JobItemPublic]


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int


class GpuInfo(BaseModel):
    name: Text
    memory_mb: float | None = None


class DeviceInfo(BaseModel):
    """What a device is (``GET /device``). ``fingerprint`` is stable across restarts for the
    same machine and the same measurement-relevant agent settings. Bounded (see the module
    doc): ``name`` and ``fingerprint`` at most 200 characters, descriptive strings cut to
    :data:`MAX_TEXT`, at most 64 GPUs and 64 version entries."""

    name: str = Field(min_length=1, max_length=200)
    fingerprint: str = Field(min_length=1, max_length=200)
    hostname: Text
    os: Text
    machine: Text
    cpu_model: Text
    cores_logical: int
    cores_physical: int | None = None
    memory_total_mb: float
    gpus: list[GpuInfo] = Field(default_factory=list, max_length=64)
    versions: dict[Text, Text | None] = Field(default_factory=dict, max_length=64)
    defaults: MeasureSettings
    slots: int = 1


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    name: str


class ErrorBody(BaseModel):
    """Error answer of every 4xx: ``detail`` is a human message; ``field`` names the input."""

    detail: str
    field: str | None = None
