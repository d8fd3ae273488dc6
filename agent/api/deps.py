"""Dependencies of the routes (``Annotated`` aliases) and the state they read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from lts.agent.device import Capabilities
from lts.agent.jobs import JobQueue
from lts.agent.settings import Settings
from lts.shared.boundary import bearer_of, declares_body
from lts.shared.schemas import DeviceInfo, MeasureSettings
from lts.shared.tokens import AuthBackoff, retry_after, token_matches
from lts.shared.web import error_response


@dataclass(frozen=True)
class AgentState:
    """What the routes share, built once at start-up (``app.state.agent``)."""

    settings: Settings
    token: str | None
    defaults: MeasureSettings
    caps: Capabilities
    queue: JobQueue
    device: DeviceInfo
    backoff: AuthBackoff


def get_agent(request: Request) -> AgentState:
    return request.app.state.agent


AgentDep = Annotated[AgentState, Depends(get_agent)]


def get_queue(agent: AgentDep) -> JobQueue:
    return agent.queue


QueueDep = Annotated[JobQueue, Depends(get_queue)]

_bearer = HTTPBearer(
    auto_error=False, description="The agent's token (--token-file or LTS_AGENT_TOKEN)."
)


def check_token(agent: AgentState, presented: str | None, client: str | None) -> None:
    """401 with ``WWW-Authenticate: Bearer`` unless ``presented`` is the agent's token; 429
    while ``client`` (an address) is blocked for wrong tokens (see :class:`AuthBackoff`:
    its token is then not even compared)."""
    if agent.token is None:  # --no-auth
        return
    wait = agent.backoff.blocked_for(client)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many wrong tokens from this address; try again in {wait:.0f} s",
            headers={"Retry-After": retry_after(wait)},
        )
    ok = token_matches(presented, agent.token)
    if presented is not None:
        agent.backoff.record(client, ok)
    if not ok:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


def require_token(
    agent: AgentDep,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The dependency of every route but ``/health``: :func:`check_token`."""
    presented = credentials.credentials if credentials is not None else None
    check_token(agent, presented, request.client.host if request.client else None)


TokenDep = Depends(require_token)


class TokenFirst:
    """ASGI middleware: a request with a body is refused by :func:`check_token` before a
    byte of its body is read, so that nobody without the token can make the agent read,
    buffer or parse a body (every route that takes a body needs the token)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and declares_body(scope):
            client = scope.get("client")
            address = client[0] if client else None
            try:
                check_token(scope["app"].state.agent, bearer_of(scope), address)
            except HTTPException as exc:
                response = error_response(exc.status_code, str(exc.detail), headers=exc.headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
