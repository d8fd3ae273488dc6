"""``GET /searches/{id}/pick``: the model to ship within a budget on one or more devices."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from lts.controller.api import reads
from lts.controller.api.deps import SearchId, StoreDep
from lts.controller.api.errors import responses
from lts.controller.api.routes.joint import DeviceNames
from lts.controller.report.pick import MAX_DEVICES
from lts.controller.report.views_across import PickPublic

router = APIRouter(prefix="/searches", tags=["searches"])

Caps = Annotated[
    list[Annotated[str, Query(min_length=1, max_length=240)]] | None,
    Query(max_length=MAX_DEVICES, description="X (every device named) or DEVICE=X, repeatable"),
]


@router.get("/{search_id}/pick", response_model=PickPublic, responses=responses(401, 404, 422))
def read_pick(
    search_id: SearchId,
    store: StoreDep,
    device: DeviceNames = None,
    max_latency_ms: Caps = None,
    max_decode_latency_ms: Caps = None,
    max_memory_mb: Caps = None,
    by: Annotated[
        Literal["median", "p90"], Query(description="the figure read against a cap")
    ] = "median",
) -> PickPublic:
    """The frontier model with the best proxy within every cap on every device named (on
    several devices: among the models measured on all of them), with its figures there,
    its size (total parameters, float32 weights, ONNX estimate) and the command that exports
    it; ``choice`` null when none meets the budgets. Caps are in the objectives' units (ms,
    MiB), each ``X`` or ``DEVICE=X``; a cap naming a device names it."""
    given = {"max_latency_ms": max_latency_ms, "max_decode_latency_ms": max_decode_latency_ms,
             "max_memory_mb": max_memory_mb}  # fmt: skip
    caps = {k: v for k, v in given.items() if v}
    return reads.read_pick(store, search_id, device or [], caps, by)
