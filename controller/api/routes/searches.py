"""``/searches``: list, read, start (in the background) and stop searches."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from lts.controller.api import reads
from lts.controller.api.deps import SearchId, StateDep, StoreDep, WriteAuth
from lts.controller.api.errors import responses
from lts.controller.api.schemas import (
    SearchCreate,
    SearchDetailPublic,
    SearchesPublic,
    SearchPublic,
)
from lts.controller.store import MAX_ID

router = APIRouter(prefix="/searches", tags=["searches"])


@router.get("", response_model=SearchesPublic, responses=responses(401, 422))
def read_searches(
    store: StoreDep,
    state: StateDep,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="searches to skip")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="most searches to return")] = 100,
) -> SearchesPublic:
    """The stored searches by id, one page at a time; ``count`` is the total."""
    return reads.list_searches(store, offset, limit, state.runs.running())


@router.get("/{search_id}", response_model=SearchDetailPublic, responses=responses(401, 404))
def read_search(search_id: SearchId, store: StoreDep, state: StateDep) -> SearchDetailPublic:
    """Settings, status, devices with their progress, and the hypervolume history."""
    return reads.read_search(store, search_id, search_id in state.runs.running())


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SearchPublic,
    dependencies=[WriteAuth],
    responses=responses(401, 403, 404, 409, 413, 422),
)
def create_search(
    body: SearchCreate, store: StoreDep, state: StateDep, response: Response
) -> SearchPublic:
    """Start a search (or ``resume`` a stored one) in the background, with the options of
    ``controller search``; follow it with ``GET /searches/{id}`` and ``/candidates``."""
    search_id = state.runs.start(store, body)
    response.headers["Location"] = f"/searches/{search_id}"
    return reads.search_public(reads.require_search(store, search_id, here=True), background=True)


@router.post(
    "/{search_id}/stop",
    response_model=SearchPublic,
    dependencies=[WriteAuth],
    responses={
        **responses(401, 403, 404, 409, 413, 422),
        202: {"model": SearchPublic, "description": "Asked to stop; still winding down"},
    },
)
def stop_search(
    search_id: SearchId, store: StoreDep, state: StateDep, response: Response
) -> SearchPublic:
    """Stop a search this server runs. It ends ``interrupted`` and keeps everything measured;
    ``POST /searches {"resume": id}`` continues it. 202 if it is still winding down after
    the server's ``stop_wait_s``."""
    reads.require_search(store, search_id)
    if not state.runs.stop(search_id, state.settings.stop_wait_s):
        response.status_code = status.HTTP_202_ACCEPTED
    search = reads.require_search(store, search_id)
    return reads.search_public(search, search_id in state.runs.running())
