"""Dependencies of the routes (``Annotated`` aliases) and the state they read.

Route modules use: ``StoreDep`` (the controller's one :class:`Store`, shared by the requests),
``StateDep`` (the settings, the background searches), ``WriteAuth`` (on every mutating route),
``SearchId`` (a search id in a path). :class:`TokenFirst` applies the write check before any
body is read. Read authorisation is applied by :mod:`controller.api.main` to every router it
includes, so a route module need not (and must not) add it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from lts.controller.agents import AgentsFile
from lts.controller.api.cache import FrontierCache
from lts.controller.api.runs import SearchRuns
from lts.controller.api.settings import Settings
from lts.controller.store import MAX_ID, Store
from lts.shared.tokens import token_matches
from lts.shared.web import error_response

#: A search id in a path; larger than any stored id is a 422 (the database cannot hold it).
SearchId = Annotated[int, Path(ge=1, le=MAX_ID, description="the search's id")]


@dataclass(frozen=True)
class ControllerState:
    """What the routes share, built once at start-up (``app.state.controller``)."""

    settings: Settings
    token: str | None
    store: Store
    runs: SearchRuns
    registry: AgentsFile
    frontiers: FrontierCache


def get_state(request: Request) -> ControllerState:
    return request.app.state.controller


StateDep = Annotated[ControllerState, Depends(get_state)]


def get_store(state: StateDep) -> Store:
    """The controller's one Store: thread-safe, each query a session of its own."""
    return state.store


StoreDep = Annotated[Store, Depends(get_store)]

_bearer = HTTPBearer(
    auto_error=False,
    description="The controller token (--token-file or LTS_CONTROLLER_TOKEN).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

#: The cookie the dashboard's login sets (HttpOnly, SameSite=Strict): reads only, so that a
#: page can fetch the API without the token in a URL or in script; writes need the header.
TOKEN_COOKIE = "lts_token"
_cookie = APIKeyCookie(
    name=TOKEN_COOKIE,
    auto_error=False,
    description="The controller token as the dashboard's login stores it (reads only).",
)
CookieToken = Annotated[str | None, Depends(_cookie)]


def _presented(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return credentials.credentials if credentials is not None else None


def _check(state: ControllerState, presented: str | None) -> None:
    assert state.token is not None
    if not token_matches(presented, state.token):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


def check_write(state: ControllerState, presented: str | None) -> None:
    """Mutating requests: 401 without the controller token; 403 when the server has no token
    (it was started without --token-file/LTS_CONTROLLER_TOKEN and without --no-auth)."""
    if state.settings.no_auth:
        return
    if state.token is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="this server has no controller token, so it refuses to start or stop "
            "searches: restart it with --token-file or LTS_CONTROLLER_TOKEN (or --no-auth)",
        )
    _check(state, presented)


def require_write(state: StateDep, credentials: Credentials) -> None:
    """The dependency of mutating routes (:func:`check_write`; :class:`TokenFirst` has
    already applied it before the body was read)."""
    check_write(state, _presented(credentials))


def require_read(state: StateDep, credentials: Credentials, cookie: CookieToken) -> None:
    """Read requests: open unless reads need the token (``--read-token``, or a host that is
    not loopback; see :class:`Settings`), as the bearer header or the dashboard's cookie."""
    if state.token is not None and state.settings.reads_need_token:
        _check(state, _presented(credentials) if credentials is not None else cookie)


#: The paths a request without the token may post to: the dashboard's sign-in and sign-out.
OPEN_POSTS = frozenset({"/ui/login", "/ui/logout"})


class TokenFirst:
    """ASGI middleware: a request that may carry a body (any method but GET, HEAD, OPTIONS)
    is refused by :func:`check_write` before a byte of its body is read, so that nobody
    without the token can make the server read, buffer or parse a body. The route's own
    ``WriteAuth`` stays (it documents the route and checks again). The dashboard's sign-in
    and sign-out forms (:data:`OPEN_POSTS`) are what a visitor without the token posts: their
    routes check what they read, and :class:`shared.web.BodySizeLimit` bounds it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in ("GET", "HEAD", "OPTIONS")
            and scope["path"] not in OPEN_POSTS
        ):
            headers = Headers(scope=scope)
            scheme, _, value = headers.get("authorization", "").partition(" ")
            presented = value.strip() if scheme.lower() == "bearer" and value.strip() else None
            try:
                check_write(scope["app"].state.controller, presented)
            except HTTPException as exc:
                response = error_response(exc.status_code, str(exc.detail), headers=exc.headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


WriteAuth = Depends(require_write)
ReadAuth = Depends(require_read)
