"""``GET /device``: what this device is (read once at start-up)."""

from __future__ import annotations

from fastapi import APIRouter

from lts.agent.api.deps import AgentDep, TokenDep
from lts.agent.api.errors import ERROR_RESPONSES
from lts.shared.schemas import DeviceInfo

router = APIRouter(tags=["device"], dependencies=[TokenDep])


@router.get("/device", response_model=DeviceInfo, responses={401: ERROR_RESPONSES[401]})
async def read_device(agent: AgentDep) -> DeviceInfo:
    """Hardware, versions, default settings, slots and the device fingerprint."""
    return agent.device
