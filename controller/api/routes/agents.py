"""``GET /agents``: the named agents of the agents file, each asked whether it is up."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from lts.controller.api.deps import StateDep
from lts.controller.api.errors import responses
from lts.controller.api.probe import probe_agents
from lts.controller.api.schemas import AgentsPublic
from lts.shared.errors import ConfigError

router = APIRouter(tags=["agents"])


@router.get(
    "/agents",
    response_model=AgentsPublic,
    responses={**responses(401), 503: {"description": "The agents file cannot be read"}},
)
async def read_agents(state: StateDep) -> AgentsPublic:
    """The agents file's agents with a live check (``GET /device`` on each, all at once,
    each bounded by the server's ``agent_timeout_s``)."""
    try:
        return await probe_agents(state.registry, state.settings.agent_timeout_s)
    except ConfigError as exc:  # the server's file, not the request, is wrong
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
