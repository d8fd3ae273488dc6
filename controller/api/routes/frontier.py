"""``GET /searches/{id}/frontier``: each device's Pareto frontier and baseline comparison."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from lts.controller.api.deps import SearchId, StateDep, StoreDep
from lts.controller.api.errors import responses
from lts.controller.api.schemas import FrontierPublic

router = APIRouter(prefix="/searches", tags=["searches"])


@router.get(
    "/{search_id}/frontier", response_model=FrontierPublic, responses=responses(401, 404, 422)
)
def read_frontier(
    search_id: SearchId,
    store: StoreDep,
    state: StateDep,
    device: Annotated[
        str | None, Query(min_length=1, description="only this device (agent or device name)")
    ] = None,
) -> Response:
    """Per device: the frontier's members (final re-measured figures where the search has
    finished there, search-time figures otherwise) with their parameter counts and
    measurements, and each layer-scaled baseline with the frontier model that beats it.
    (Served from memory while the search has not changed, gzip-compressed for clients that
    accept it: see lts.controller.api.cache.)"""
    body = state.frontiers.frontier_json(store, search_id, device)
    return Response(body, media_type="application/json")
