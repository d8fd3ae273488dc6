"""Dependencies of the routes (``Annotated`` aliases) and the state they read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lts.agent.device import Capabilities
from lts.agent.jobs import JobQueue
from lts.agent.settings import Settings
from lts.shared.schemas import DeviceInfo, MeasureSettings
from lts.shared.tokens import token_matches


@dataclass(frozen=True)
class AgentState:
    """What the routes share, built once at start-up (``app.state.agent``)."""

    settings: Settings
    token: str | None
    defaults: MeasureSettings
    caps: Capabilities
    queue: JobQueue
    device: DeviceInfo


def get_agent(request: Request) -> AgentState:
    return request.app.state.agent


AgentDep = Annotated[AgentState, Depends(get_agent)]


def get_queue(agent: AgentDep) -> JobQueue:
    return agent.queue


QueueDep = Annotated[JobQueue, Depends(get_queue)]

_bearer = HTTPBearer(
    auto_error=False, description="The agent's token (--token-file or LTS_AGENT_TOKEN)."
)


def require_token(
    agent: AgentDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 with ``WWW-Authenticate: Bearer`` unless the request carries the agent's token."""
    if agent.token is None:  # --no-auth
        return
    presented = credentials.credentials if credentials is not None else None
    if not token_matches(presented, agent.token):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


TokenDep = Depends(require_token)
