"""What the agent's and the controller's HTTP APIs share: every error answer is an
:class:`~shared.schemas.ErrorBody`.

:func:`install_error_handlers` registers the handlers both services use (HTTP errors with
their own status, request validation and :class:`ConfigError` 422 with ``field`` naming the
input, anything unexpected 500, logged and never the answer to bad input); each service
passes the mapping of its own error classes (built with :func:`status_handler`).

This module imports FastAPI, so :mod:`shared` does not import it: only the services do.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lts.shared.errors import ConfigError, field_path
from lts.shared.schemas import ErrorBody
from lts.shared.tokens import is_loopback

#: An exception handler as FastAPI takes it.
ErrorHandler = Callable[[Request, Any], Awaitable[JSONResponse]]


def error_docs(*entries: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of error answers ``(status code, description)``, to merge into a
    route's ``responses``."""
    return {code: {"model": ErrorBody, "description": text} for code, text in entries}


def error_response(
    status_code: int,
    detail: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An :class:`ErrorBody` answer with ``status_code`` (and ``headers``, e.g. Retry-After)."""
    body = ErrorBody(detail=detail, field=field).model_dump()
    return JSONResponse(body, status_code=status_code, headers=headers)


def status_handler(code: int, headers: dict[str, str] | None = None) -> ErrorHandler:
    """A handler answering ``code`` with the exception's message as ``detail``."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return error_response(code, str(exc), headers=headers)

    return handler


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    field, message = _describe(errors[0]) if errors else ("body", "invalid request")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    named = f"{field}: " if field is not None else ""  # None: an error without a location
    return error_response(422, f"{named}{message}{more}", field)


def _describe(error: Mapping[str, object]) -> tuple[str | None, str]:
    """The input a validation error (one of :meth:`RequestValidationError.errors`, a pydantic
    error) names, and its message; a body that is not JSON names ``body``."""
    message = str(error.get("msg", "invalid request"))
    if error.get("type") == "json_invalid":
        ctx = error.get("ctx")
        reason = ctx.get("error", message) if isinstance(ctx, Mapping) else message
        return "body", f"invalid JSON: {reason}"
    loc = error.get("loc")
    return field_path(loc if isinstance(loc, (tuple, list)) else ()), message


async def _config_error(request: Request, exc: ConfigError) -> JSONResponse:
    return error_response(422, str(exc), exc.field)


def _unexpected(logger: logging.Logger) -> ErrorHandler:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error: {type(exc).__name__}")

    return handler


def install_error_handlers(
    app: FastAPI, handlers: Mapping[type[Exception], ErrorHandler], *, logger: logging.Logger
) -> None:
    """Register the handlers that turn every error into an :class:`ErrorBody`: the common ones
    (see the module docstring), then ``handlers``, the service's own error classes. Unexpected
    errors are logged on ``logger`` (the service's)."""
    # Starlette types a handler as taking any Exception, though it calls each with instances
    # of the class it is registered for only; these handlers take that class.
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(ConfigError, _config_error)  # type: ignore[arg-type]
    for error_class, handler in handlers.items():
        app.add_exception_handler(error_class, handler)
    app.add_exception_handler(Exception, _unexpected(logger))
    _document_errors(app)


#: What any operation may answer besides its own errors (merged into every operation's
#: OpenAPI ``responses``): a request that does not parse, or a rebound Host (400); a body over
#: the limit (413, operations that take a body).
_ANY_OPERATION = {400: "A body that cannot be parsed, or a Host header naming another host"}
_WITH_BODY = {413: "Request body too large"}


def _document_errors(app: FastAPI) -> None:
    """Make the OpenAPI document say what the handlers above answer: every 422 is an
    :class:`ErrorBody` (not FastAPI's default ``HTTPValidationError``), and every operation
    documents the 400 (and, with a body, the 413) that any request may get."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorBody"] = ErrorBody.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        for operations in schema.get("paths", {}).values():
            for op in operations.values():
                responses = op.setdefault("responses", {})
                extra = _ANY_OPERATION | (_WITH_BODY if "requestBody" in op else {})
                for code, text in extra.items():
                    responses.setdefault(str(code), {"description": text})
                for status in ("400", "413", "422"):
                    if status in responses:
                        responses[status]["content"] = error
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


#: How much of a too-large body is still read (and dropped) so that the client sees the 413
#: rather than a reset connection; beyond this the connection is simply answered and closed.
_DRAIN_FACTOR = 16


class BodySizeLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413 before the app
    parses them, whether or not they declare a Content-Length (chunked bodies are counted as
    they arrive, so at most ``max_bytes`` is ever held)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(int(declared), receive, scope, send)
            return
        body, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            if size > self.max_bytes:
                await self._refuse(size, receive if more else None, scope, send)
                return
            body.append(chunk)
        replay: list[Message] = [{"type": "http.request", "body": b"".join(body)}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)

    async def _refuse(self, size: int, receive: Receive | None, scope: Scope, send: Send) -> None:
        drained = 0
        while receive is not None and drained <= _DRAIN_FACTOR * self.max_bytes:
            message = await receive()
            drained += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        detail = f"request body of {size}+ bytes; this server takes at most {self.max_bytes}"
        await error_response(413, detail)(scope, receive or _nothing, send)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


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


def run_server(
    app: FastAPI,
    *,
    host: str,
    port: int,
    log_level: str,
    graceful_shutdown_s: int,
    keep_alive_s: float = 5.0,
    header_timeout_s: float = 10.0,
    max_connections: int = 1000,
    backlog: int = 128,
) -> None:
    """Serve ``app`` with uvicorn until interrupted. The process's logging configuration
    applies (uvicorn installs none); ``log_level`` is a logging level name (``INFO``).

    Idle sockets cannot starve real requests (see :mod:`shared.connections`): a connection
    idle ``keep_alive_s`` after a response, or without a complete request head
    ``header_timeout_s`` after it opened, is closed; past ``max_connections`` open connections
    (lowered to what the file limit allows) the longest-open idle ones are closed to make
    room. ``backlog`` bounds the pending connections, and so how many are accepted at once
    before the limit applies (asyncio accepts up to ``backlog`` in one go). The event loop's
    errors are logged once per kind and 10 s, without tracebacks."""
    import asyncio
    import contextlib

    import uvicorn

    from lts.shared.connections import LoopErrorLog, connection_limit, guarded_protocol

    limit = connection_limit(max_connections)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level=log_level.lower(),
        timeout_graceful_shutdown=graceful_shutdown_s,
        backlog=backlog,
        timeout_keep_alive=keep_alive_s,  # type: ignore[arg-type]  # a float works
        http=guarded_protocol(header_timeout_s=header_timeout_s, max_connections=limit),
    )
    server = uvicorn.Server(config)
    loop_errors = LoopErrorLog(logging.getLogger("lts.loop"))

    async def serve() -> None:
        asyncio.get_running_loop().set_exception_handler(loop_errors)
        await server.serve()

    logging.getLogger(__name__).info(
        "serving on %s:%d (at most %d connections, header time-out %.0f s, keep-alive %.0f s)",
        host, port, limit, header_timeout_s, keep_alive_s,
    )  # fmt: skip
    with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C during shutdown
        asyncio.run(serve())
    if not server.started:  # the app's start-up failed (its lifespan raised): say so by status
        raise SystemExit(3)  # uvicorn's own status for a failed start-up
