"""The request boundary both services put in front of their apps (ASGI middleware): no body
before the token and none where a method takes none (:class:`BodyGuard`: every body within a
size, a deadline and a budget of connections reading one), no write from another site's page
(:class:`SameOriginWrites`), and a Host header that names this machine on loopback
(:class:`LoopbackHosts`). Shared by the agent and the controller; imports Starlette only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lts.shared.tokens import is_loopback
from lts.shared.web import error_response

#: How much of a body over the limit is still read and dropped after the 413, so that a
#: client that holds the token sees the answer rather than a connection that stopped reading.
_DRAIN_FACTOR = 16
#: The scope key that tells the guarded protocol how much of a refused body to drop
#: (:data:`lts.shared.connections.DISCARD_KEY`; this module imports no uvicorn).
DISCARD_KEY = "lts.discard_bytes"

#: Methods whose requests take no body on either service: one that declares a body is refused
#: (400) before a byte of it is read.
NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


def declares_body(scope: Scope) -> bool:
    """Whether the request announces a body (a Content-Length other than 0, or chunked)."""
    headers = Headers(scope=scope)
    if "transfer-encoding" in headers:
        return True
    length = headers.get("content-length")
    return length is not None and length.strip() not in ("", "0")


def bearer_of(scope: Scope) -> str | None:
    """The bearer token of the request's ``Authorization`` header (None without one)."""
    scheme, _, value = Headers(scope=scope).get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


class BodyGuard:
    """ASGI middleware: every request body is bounded before the app sees it.

    * A ``GET``, ``HEAD``, ``OPTIONS`` or ``DELETE`` that declares a body: 400.
    * Size: at most ``max_bytes`` (``limits`` lowers it for some paths, e.g. a sign-in form),
      whether or not a Content-Length is declared (chunked bodies are counted as they
      arrive, so at most the limit is ever held): 413.
    * Time: the whole body within ``timeout_s`` of the request head: 408, however the bytes
      trickle in.
    * Count: at most ``max_readers`` requests are reading a body at once; one more is
      answered 503 with ``Retry-After`` before its body is read, so slow bodies cannot hold
      every connection the server has.

    A refused body is never read: the server discards what still arrives, and closes the
    connection if no new request head follows in time (:mod:`lts.shared.connections`). Place it
    inside the token check, so that nobody without the token gets this far with a body."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        *,
        timeout_s: float = 30.0,
        max_readers: int = 32,
        limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_readers = max_readers
        self.limits = dict(limits or {})
        self.readers = 0  # one event loop: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not declares_body(scope):
            await self.app(scope, receive, send)
            return
        if scope["method"] in NO_BODY_METHODS:
            detail = f"a {scope['method']} request takes no body"
            await error_response(400, detail, "body")(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.max_bytes)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self._too_large(int(declared), limit, scope, receive, send)
            return
        if self.readers >= self.max_readers:
            detail = (f"{self.readers} requests are sending their bodies now, the most this "
                      "server reads at once; try again shortly")  # fmt: skip
            await error_response(503, detail, headers={"Retry-After": "1"})(scope, receive, send)
            return
        self.readers += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await _read_body(receive, limit)
        except TimeoutError:
            detail = f"the request body did not arrive within {self.timeout_s:g} s"
            await error_response(408, detail, "body")(scope, receive, send)
            return
        finally:
            self.readers -= 1
        if body is None:  # the client went away
            return
        if isinstance(body, int):
            await self._too_large(body, limit, scope, receive, send)
            return
        replay: list[Message] = [{"type": "http.request", "body": body}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)

    @staticmethod
    async def _too_large(size: int, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        # the client (past the token check) may send its whole body before it reads the
        # answer: drop up to 16 times the limit of it rather than stop reading at once
        scope[DISCARD_KEY] = _DRAIN_FACTOR * limit
        detail = f"request body of {size}+ bytes; this server takes at most {limit}"
        await error_response(413, detail)(scope, receive, send)


async def _read_body(receive: Receive, limit: int) -> bytes | int | None:
    """The whole body; its size so far (an int) once it passes ``limit``; None if the client
    went away."""
    body, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return size
        body.append(chunk)
        more = message.get("more_body", False)
    return b"".join(body)


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
