"""A device search's resumable state (``search_devices.state``), typed and versioned.

:class:`DeviceState` is what a device's search stores after every iteration and before every
job it sends: the algorithm's JSON state, the jobs in flight (so that a restart collects
them), and the cost model's summary and held-out scores. Its ``version`` says which shape it
has; :func:`load_state` reads any stored shape through the upgrade steps in :data:`STEPS`
(``STEPS[v]`` turns a version ``v`` dict into a version ``v + 1`` one), so the code that uses
the state only ever sees the current shape. A release that changes the shape adds a step and
bumps :data:`STATE_VERSION`.

The versions: 0 (no ``version`` key) held ``inflight`` as one dict or a list
and the cost model's held-out scores as ``latency_scores``/``memory_scores``; 1 holds
``inflight`` as a list and the scores by objective name (``cost_scores.scores``), and the
algorithm's state names its algorithm.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lts.shared.errors import ConfigError

#: The shape this release reads and writes.
STATE_VERSION = 1


class StoredJob(BaseModel):
    """A job sent to the agent and not yet collected: the client's idempotency ``job_key``,
    the agent's job id (None until it answered) and the settings key its items are
    measured under."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_key: str = ""
    job: str | None = None
    key: str


class DeviceState(BaseModel):
    """A device search's state (see the module doc). ``algorithm``: the algorithm's
    :meth:`~lts.controller.search.algorithms.SearchAlgorithm.state_dict` after the last
    complete iteration (None before the first); ``inflight``: the jobs sent and not collected;
    ``cost_model``: the cost model's summary (what the report shows); ``cost_scores``: its
    held-out scores (what a resumed search's model needs besides the measurements)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = STATE_VERSION
    algorithm: dict[str, Any] | None = None
    inflight: list[StoredJob] = Field(default_factory=list)
    cost_model: dict[str, Any] | None = None
    cost_scores: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _v0_to_v1(raw: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in raw.items() if k in DeviceState.model_fields}
    inflight = raw.get("inflight")
    if isinstance(inflight, dict):  # one job in flight, as the first releases stored it
        inflight = [inflight]
    out["inflight"] = [
        {"job_key": e.get("job_key", ""), "job": e.get("job"), "key": e["key"]}
        for e in inflight or []
    ]
    scores = raw.get("cost_scores") or {}
    out["cost_scores"] = {
        "scores": {
            name: list(scores.get(f"{name}_scores", [])) for name in ("latency", "memory")
        },
        "quick": list(scores.get("quick", [])),
    }
    algorithm = raw.get("algorithm")
    if isinstance(algorithm, dict):
        out["algorithm"] = {"algorithm": "lts", **algorithm}
    return out


#: ``STEPS[v]`` upgrades a version-``v`` state dict to version ``v + 1``.
STEPS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _v0_to_v1}


def load_state(raw: dict[str, Any] | None) -> DeviceState:
    """The state of a stored ``search_devices.state`` of any version (empty: a new one).
    Raises ConfigError (field ``state``) for a shape no step reads, or a newer version."""
    if not raw:
        return DeviceState()
    data = dict(raw)
    version = int(data.get("version", 0))
    if version > STATE_VERSION:
        raise ConfigError("state", f"the device state has version {version}, newer than this "
                                   f"release's ({STATE_VERSION}): upgrade lts")  # fmt: skip
    while version < STATE_VERSION:
        data = {**STEPS[version](data), "version": version + 1}
        version += 1
    try:
        return DeviceState.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("state", f"the device state cannot be read: {exc}") from None
