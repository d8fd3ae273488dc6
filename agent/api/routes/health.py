"""``GET /health``: liveness, without a token (what container health checks call)."""

from __future__ import annotations

from fastapi import APIRouter

from lts.agent.api.deps import AgentDep
from lts.shared import __version__
from lts.shared.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def read_health(agent: AgentDep) -> Health:
    """The agent is up and serving; no token needed."""
    return Health(version=__version__, name=agent.settings.name)
