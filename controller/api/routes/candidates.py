"""``GET /searches/{id}/candidates``: a cursor over a search's candidates (for polling)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from lts.controller.api import reads
from lts.controller.api.deps import SearchId, StoreDep
from lts.controller.api.errors import responses
from lts.controller.api.schemas import CandidatesPublic
from lts.controller.store import MAX_ID

router = APIRouter(prefix="/searches", tags=["searches"])


@router.get(
    "/{search_id}/candidates",
    response_model=CandidatesPublic,
    responses=responses(401, 404, 422),
)
def read_candidates(
    search_id: SearchId,
    store: StoreDep,
    device: Annotated[
        str | None, Query(min_length=1, description="only this device (agent or device name)")
    ] = None,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="the cursor: the last seq seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="most candidates to return")] = 100,
) -> CandidatesPublic:
    """Candidates with a sequence number above ``after``, in order, each with its
    measurement. Poll with ``after=next_after`` until ``complete``."""
    return reads.read_candidates(store, search_id, device=device, after=after, limit=limit)
