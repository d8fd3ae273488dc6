"""Dependencies of the routes (``Annotated`` aliases) and the state they read.

Route modules use: ``StoreDep`` (the controller's one :class:`Store`, shared by the requests),
``StateDep`` (the settings, the background searches), ``WriteAuth`` (on every mutating route),
``SearchId`` (a search id in a path). :class:`TokenFirst` applies the write check before any
body is read. Read authorisation is applied by :mod:`lts.controller.api.main` to every router it
includes, so a route module need not (and must not) add it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from lts.controller.agents import AgentsFile
from lts.controller.api.cache import FrontierCache
from lts.controller.api.export_runs import ExportRuns
from lts.controller.api.runs import SearchRuns
from lts.controller.api.settings import Settings
from lts.controller.store import MAX_ID, Store
from lts.shared.boundary import bearer_of
from lts.shared.tokens import AuthBackoff, derived_secret, retry_after, token_matches
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
    backoff: AuthBackoff
    exports: ExportRuns


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
#: It holds :func:`cookie_value`, derived from the token, never the token itself.
TOKEN_COOKIE = "lts_token"
_cookie = APIKeyCookie(
    name=TOKEN_COOKIE,
    auto_error=False,
    description="The dashboard's sign-in cookie (reads only; derived from the token).",
)
CookieToken = Annotated[str | None, Depends(_cookie)]


def cookie_value(token: str) -> str:
    """What the dashboard's cookie holds for the controller token ``token``: a value derived
    from it (it authorises reads, and cannot be turned back into the token that writes)."""
    return derived_secret(token, "lts-dashboard-reads/1")


def _presented(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return credentials.credentials if credentials is not None else None


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def check_token(
    state: ControllerState, presented: str | None, client: str | None, *, cookie: bool = False
) -> None:
    """401 unless ``presented`` is the controller token (or, with ``cookie``, the dashboard
    cookie's value for it); 429 while ``client`` is blocked for wrong tokens (its token is
    then not even compared: see :class:`lts.shared.tokens.AuthBackoff`)."""
    assert state.token is not None
    wait = state.backoff.blocked_for(client)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many wrong tokens from this address; try again in {wait:.0f} s",
            headers={"Retry-After": retry_after(wait)},
        )
    expected = cookie_value(state.token) if cookie else state.token
    ok = token_matches(presented, expected)
    if presented is not None:
        state.backoff.record(client, ok)
    if not ok:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


def check_write(state: ControllerState, presented: str | None, client: str | None) -> None:
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
    check_token(state, presented, client)


def require_write(state: StateDep, request: Request, credentials: Credentials) -> None:
    """The dependency of mutating routes (:func:`check_write`; :class:`TokenFirst` has
    already applied it before the body was read)."""
    check_write(state, _presented(credentials), _client(request))


def require_read(
    state: StateDep, request: Request, credentials: Credentials, cookie: CookieToken
) -> None:
    """Read requests: open unless reads need the token (``--read-token``, or a host that is
    not loopback; see :class:`Settings`), as the bearer header or the dashboard's cookie."""
    if state.token is not None and state.settings.reads_need_token:
        if credentials is not None:
            check_token(state, _presented(credentials), _client(request))
        else:
            check_token(state, cookie, _client(request), cookie=True)


#: The paths a request without the token may post to: the dashboard's sign-in and sign-out
#: (their bodies are capped at :data:`FORM_LIMITS` before a byte is read).
OPEN_POSTS = frozenset({"/ui/login", "/ui/logout"})
FORM_LIMITS = dict.fromkeys(OPEN_POSTS, 4096)


class TokenFirst:
    """ASGI middleware: a request that may carry a body (any method but GET, HEAD, OPTIONS)
    is refused by :func:`check_write` before a byte of its body is read, so that nobody
    without the token can make the server read, buffer or parse a body. The route's own
    ``WriteAuth`` stays (it documents the route and checks again). The dashboard's sign-in
    and sign-out forms (:data:`OPEN_POSTS`) are what a visitor without the token posts: their
    routes check what they read, and :class:`lts.shared.boundary.BodyGuard` caps them at
    :data:`FORM_LIMITS`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in ("GET", "HEAD", "OPTIONS")
            and scope["path"] not in OPEN_POSTS
        ):
            client = scope.get("client")
            try:
                check_write(
                    scope["app"].state.controller, bearer_of(scope), client[0] if client else None
                )
            except HTTPException as exc:
                response = error_response(exc.status_code, str(exc.detail), headers=exc.headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


WriteAuth = Depends(require_write)
ReadAuth = Depends(require_read)
