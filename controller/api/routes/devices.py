"""``GET /devices``: the devices the store knows (every agent that was measured on)."""

from __future__ import annotations

from fastapi import APIRouter

from lts.controller.api import reads
from lts.controller.api.deps import StoreDep
from lts.controller.api.errors import responses
from lts.controller.api.schemas import DevicesPublic

router = APIRouter(tags=["devices"])


@router.get("/devices", response_model=DevicesPublic, responses=responses(401))
def read_devices(store: StoreDep) -> DevicesPublic:
    """Each device (an agent name with a fingerprint): what it reported and how many
    measurements the store holds of it."""
    return reads.list_devices(store)
