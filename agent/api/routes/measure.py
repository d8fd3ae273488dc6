"""``POST /measure``: one synchronous measurement, through the same queue as the jobs."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, status

from lts.agent.api.deps import AgentDep, QueueDep, TokenDep
from lts.agent.api.errors import ERROR_RESPONSES
from lts.agent.validation import prepare_item
from lts.shared.errors import ConfigError
from lts.shared.schemas import ErrorBody, JobItemCreate, MeasurementResult

router = APIRouter(tags=["measure"], dependencies=[TokenDep])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{code: ERROR_RESPONSES[code] for code in (401, 413, 422, 429)},
    409: {"model": ErrorBody, "description": "Cancelled (DELETE /jobs/{id}) before it started"},
    502: {"model": ErrorBody, "description": "The measurement failed (worker crash, timeout)"},
    503: {"model": ErrorBody, "description": "The agent shut down before measuring"},
}


@router.post("/measure", response_model=MeasurementResult, responses=_RESPONSES)
async def create_measurement(
    body: JobItemCreate, agent: AgentDep, queue: QueueDep
) -> MeasurementResult:
    """Measure one architecture and wait for the result. It is queued as a one-item job (so
    it never overlaps another measurement) that ``GET /jobs`` lists like any other."""
    job = queue.submit([prepare_item(body, agent.defaults, agent.caps)])
    try:
        await asyncio.wrap_future(queue.wait(job.id))
    except asyncio.CancelledError:  # the server is stopping: do not leave the item queued
        queue.cancel(job.id)
        raise
    item = queue.get(job.id).items[0]
    if item.status == "done" and item.result is not None:
        return item.result
    if item.status == "failed":
        code = status.HTTP_502_BAD_GATEWAY
    elif item.fault == "cancelled":
        code = status.HTTP_409_CONFLICT
    elif item.fault == "infrastructure":  # never started: the agent shut down first
        code = status.HTTP_503_SERVICE_UNAVAILABLE
    else:  # rejected at submission: over the memory budget
        raise ConfigError("arch", item.error or "rejected")
    raise HTTPException(code, detail=f"measurement {item.status}: {item.error}")
