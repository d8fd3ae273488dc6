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


@router.get("/{search_id}/view", responses={**responses(401, 404), 200: {
    "description": "the search's devices as the dashboard draws them: headers, baselines, the "
                   "frontier and every candidate's figures as columns, the joint report",
    "content": {"application/json": {}}}})  # fmt: skip
def read_view(search_id: SearchId, store: StoreDep, state: StateDep) -> Response:
    """A search as the dashboard draws it, in one answer: per device its header, trust
    figures, baseline comparisons, the frontier as columns (one list per field) and every
    candidate's figures as columns; across devices, the joint report as columns. Only the
    fields drawn; served from memory while the search is unchanged."""
    return Response(state.frontiers.view_json(store, search_id), media_type="application/json")
