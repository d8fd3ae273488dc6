"""``/jobs``: batches of measurement requests, queued and measured in order."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from lts.agent.api.deps import AgentDep, QueueDep, TokenDep
from lts.agent.api.errors import ERROR_RESPONSES
from lts.agent.validation import prepare_items
from lts.shared.schemas import JOB_KEY_PATTERN, ErrorBody, JobCreate, JobPublic, JobsPublic

router = APIRouter(prefix="/jobs", tags=["jobs"], dependencies=[TokenDep])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    401: ERROR_RESPONSES[401],
    404: {"model": ErrorBody, "description": "No such job"},
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    responses={
        200: {"model": JobPublic, "description": "A job with this `key` exists: that job"},
        **{code: ERROR_RESPONSES[code] for code in (401, 409, 413, 422, 429)},
    },
)
async def create_job(
    body: JobCreate, agent: AgentDep, queue: QueueDep, response: Response
) -> JobPublic:
    """Queue a batch. Every item is validated first (one invalid item refuses the batch with
    422 naming ``items[i].arch.<field>``); items over the memory budget are ``rejected``.
    With a ``key`` that a kept job was submitted with, the answer is that job (200) and
    nothing is queued again; the same key with other items is refused (409)."""
    requests = prepare_items(
        body.items, agent.defaults, agent.caps, agent.settings.max_items_per_job
    )
    job, created = queue.submit_once(requests, body.key)
    if not created:
        response.status_code = status.HTTP_200_OK
    return job


@router.get("", response_model=JobsPublic, responses={401: ERROR_RESPONSES[401]})
async def read_jobs(
    queue: QueueDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    key: Annotated[str | None, Query(pattern=JOB_KEY_PATTERN)] = None,
) -> JobsPublic:
    """Kept jobs, most recent first; ``count`` is the number kept. With ``key``: the job
    submitted with that key, if the agent still keeps it (else ``data`` is empty)."""
    return queue.list_jobs(limit, key=key)


@router.get("/{job_id}", response_model=JobPublic, responses=_NOT_FOUND)
async def read_job(
    job_id: str,
    queue: QueueDep,
    since: Annotated[int, Query(ge=0)] = 0,
    samples: bool = True,
) -> JobPublic:
    """The job and its items' status, errors and results so far. ``since``: only the items
    changed after this ``version`` of the job (a poll passes the version of its last answer);
    ``samples=false`` leaves the results' raw latency samples out (an empty list)."""
    return queue.get(job_id, since=since, samples=samples)


@router.delete("/{job_id}", response_model=JobPublic, responses=_NOT_FOUND)
async def delete_job(job_id: str, queue: QueueDep) -> JobPublic:
    """Cancel the items that have not started (a running item finishes)."""
    return queue.cancel(job_id)
