"""Dependencies of the routes (``Annotated`` aliases) and the state they read.

Route modules use: ``StoreDep`` (a :class:`Store` for this request), ``StateDep`` (the
settings, the background searches), ``WriteAuth`` (on every mutating route). Read
authorisation is applied by :mod:`controller.api.main` to every router it includes, so a
route module need not (and must not) add it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from controller.agents import AgentsFile
from controller.api.cache import FrontierCache
from controller.api.runs import SearchRuns
from controller.api.settings import Settings
from controller.store import Store
from shared.tokens import token_matches


class StorePool:
    """Stores on one URL, each lent to one request at a time (a Store is not thread-safe;
    sync routes run in worker threads). The pool grows to the number of requests served at
    once and keeps its Stores open until :meth:`close`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._idle: queue.SimpleQueue[Store] = queue.SimpleQueue()
        self._all: list[Store] = []
        self._lock = threading.Lock()

    def acquire(self) -> Store:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            store = Store(self.url)
            with self._lock:
                self._all.append(store)
            return store

    def release(self, store: Store) -> None:
        self._idle.put(store)

    def close(self) -> None:
        with self._lock:
            for store in self._all:
                store.close()
            self._all.clear()


@dataclass(frozen=True)
class ControllerState:
    """What the routes share, built once at start-up (``app.state.controller``)."""

    settings: Settings
    token: str | None
    stores: StorePool
    runs: SearchRuns
    registry: AgentsFile
    frontiers: FrontierCache


def get_state(request: Request) -> ControllerState:
    return request.app.state.controller


StateDep = Annotated[ControllerState, Depends(get_state)]


def get_store(state: StateDep) -> Iterator[Store]:
    store = state.stores.acquire()
    try:
        yield store
    finally:
        state.stores.release(store)


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


def _check(
    state: ControllerState,
    credentials: HTTPAuthorizationCredentials | None,
    cookie: str | None = None,
) -> None:
    presented = credentials.credentials if credentials is not None else cookie
    assert state.token is not None
    if not token_matches(presented, state.token):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


def require_write(state: StateDep, credentials: Credentials) -> None:
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
    _check(state, credentials)


def require_read(state: StateDep, credentials: Credentials, cookie: CookieToken) -> None:
    """Read requests: open unless reads need the token (``--read-token``, or a host that is
    not loopback; see :class:`Settings`), as the bearer header or the dashboard's cookie."""
    if state.token is not None and state.settings.reads_need_token:
        _check(state, credentials, cookie)


WriteAuth = Depends(require_write)
ReadAuth = Depends(require_read)
