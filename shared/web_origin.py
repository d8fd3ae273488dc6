"""Who may talk to a service (ASGI middleware both the agent and the controller use): no
write from a page of another site (:class:`SameOriginWrites`), and on a loopback address no
request for another host name (:class:`LoopbackHosts`: DNS rebinding). Errors answer as
:mod:`lts.shared.web`'s do.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from lts.shared.tokens import is_loopback
from lts.shared.web import error_response

#: What a browser's ``Sec-Fetch-Site`` says of a request that a page of this server sent
#: itself (``same-origin``) or that the user typed (``none``); anything else is another site's.
_OWN_FETCH_SITES = frozenset({"same-origin", "none"})


class SameOriginWrites:
    """ASGI middleware: a write (any method but ``GET``, ``HEAD``, ``OPTIONS``) that a
    browser sends for a page of another site is refused (403) before anything else is
    looked at, with or without a token on the server (``--no-auth`` included), so that no web
    page can start or stop work here through the browser of someone on this machine.

    Browsers say where a request comes from: ``Sec-Fetch-Site`` (``cross-site`` or
    ``same-site`` is refused; ``same-origin`` and ``none`` pass), and, in browsers that do not
    send that, ``Origin`` (refused when it is not this server's own: scheme aside, the host
    and port of the ``Host`` header).
    Programs other than browsers (curl, httpx, the controller's agent client) send neither
    and are not affected."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            reason = foreign_origin(Headers(scope=scope))
            if reason is not None:
                detail = f"refused a write from a page of another site ({reason})"
                await error_response(403, detail, "origin")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def foreign_origin(headers: Headers) -> str | None:
    """Why a request with ``headers`` comes from a page of another site, or None. A browser's
    ``Sec-Fetch-Site`` is decisive where it is sent (no page can set it, and it stays true
    behind a proxy that rewrites ``Host``); ``Origin`` is compared only without it."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        own = site.strip().lower() in _OWN_FETCH_SITES
        return None if own else f"Sec-Fetch-Site: {site[:40]}"
    origin = headers.get("origin")
    if origin is None:
        return None
    _, sep, netloc = origin.strip().lower().partition("://")
    host = (headers.get("host") or "").strip().lower()
    if not sep or netloc.rstrip("/") != host:
        return f"Origin {origin[:100]!r} is not this server"
    return None


class LoopbackHosts:
    """ASGI middleware for a server bound to a loopback address: a request whose ``Host``
    header names another host (a web page whose DNS name was rebound to 127.0.0.1) is a 400.
    Accepted: ``localhost``, loopback IP addresses and ``bind_host``, with any port."""

    def __init__(self, app: ASGIApp, bind_host: str) -> None:
        self.app = app
        self.bind_host = bind_host.lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = Headers(scope=scope).get("host")
            if host is not None and not self._ours(host):
                detail = (f"Host {host[:100]!r} is not this server: it answers on a loopback "
                          "address, to localhost or 127.0.0.1 only")  # fmt: skip
                await error_response(400, detail, "host")(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _ours(self, host: str) -> bool:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 or "]:" in host else host
        name = name.strip().lower()
        return name == self.bind_host or is_loopback(name)
