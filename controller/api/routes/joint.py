"""``GET /searches/{id}/joint``: the models with figures on every device, each device's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from lts.controller.api import reads
from lts.controller.api.deps import SearchId, StoreDep
from lts.controller.api.errors import responses
from lts.controller.report.pick import MAX_DEVICES
from lts.controller.report.views_across import JointPublic

router = APIRouter(prefix="/searches", tags=["searches"])

DeviceNames = Annotated[
    list[Annotated[str, Query(min_length=1, max_length=200)]] | None,
    Query(max_length=MAX_DEVICES, description="devices (agent or device names; default: all)"),
]


@router.get("/{search_id}/joint", response_model=JointPublic, responses=responses(401, 404, 422))
def read_joint(search_id: SearchId, store: StoreDep, device: DeviceNames = None) -> JointPublic:
    """The models measured on every device named, each with each device's figures, by
    decoder parameters; ``member``: on the joint frontier (better than every other listed
    model on the proxy or on some device's objective). A joint search (``--joint``) lists its
    frontier; a search per device lists its frontiers and baselines, and after the cross
    step (``cross_measure``) each frontier's members measured on the other devices."""
    return reads.read_joint(store, search_id, device)
