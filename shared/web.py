"""What the agent's and the controller's HTTP APIs share: every error answer is an
:class:`~lts.shared.schemas.ErrorBody`.

:func:`install_error_handlers` registers the handlers both services use (HTTP errors with
their own status, request validation and :class:`ConfigError` 422 with ``field`` naming the
input, anything unexpected 500, logged and never the answer to bad input); each service
passes the mapping of its own error classes (built with :func:`status_handler`).

This module imports FastAPI, so :mod:`lts.shared` does not import it: only the services do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lts.shared.errors import ConfigError, field_path
from lts.shared.schemas import ErrorBody

#: An exception handler as FastAPI takes it.
ErrorHandler = Callable[[Request, Any], Awaitable[JSONResponse]]


#: Headers of every HTML page a service sends that is not the dashboard (which has a stricter
#: policy of its own): no framing, no form posts or base URL elsewhere, no MIME sniffing, no
#: referrer to other sites. Its scripts may be inline (Swagger UI's start-up, a plotly page).
HTML_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline' "
    "'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


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
#: OpenAPI ``responses``): a request that does not parse, a body where none is taken or a
#: rebound Host (400); a write from another site's page (403); a body over the limit (413), too
#: slow (408) or one too many at once (503), for operations that take a body.
_ANY_OPERATION = {
    400: "A body that cannot be parsed, a body on a request that takes none, or a Host "
    "header naming another host",
    429: "Too many wrong tokens from this address (or a full queue): retry after Retry-After",
}
_WRITE = {403: "A write from a page of another site (or refused by the server's settings)"}
_WITH_BODY = {
    408: "The request body did not arrive in time",
    413: "Request body too large",
    503: "Too many requests are sending their bodies at once; try again (Retry-After)",
}


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
            for method, op in operations.items():
                responses = op.setdefault("responses", {})
                extra = _ANY_OPERATION | (_WITH_BODY if "requestBody" in op else {})
                if method.upper() not in ("GET", "HEAD", "OPTIONS"):
                    extra = extra | _WRITE
                for code, text in extra.items():
                    responses.setdefault(str(code), {"description": text})
                for status in ("400", "403", "408", "413", "422", "429", "503"):
                    if status in responses:
                        responses[status]["content"] = error
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


class QuietReads(logging.Filter):
    """Logs a read that succeeded (``GET`` or ``HEAD``, status below 400) at DEBUG instead of
    INFO, on uvicorn's access logger: a controller polls each agent's jobs several times a
    second during a search (3.5 MB of log in 45 minutes at INFO), and a dashboard polls the
    controller. Writes, failures and errors stay at INFO and above; ``--log-level debug``
    shows every request."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if (
            isinstance(args, tuple) and len(args) >= 5 and args[1] in ("GET", "HEAD")
            and isinstance(args[4], int) and args[4] < 400 and record.levelno > logging.DEBUG
        ):  # fmt: skip
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


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

    Idle sockets cannot starve real requests (see :mod:`lts.shared.connections`): a connection
    idle ``keep_alive_s`` after a response, or without a complete request head
    ``header_timeout_s`` after it opened, is closed; past ``max_connections`` open connections
    (lowered to what the file limit allows) the longest-open idle ones are closed to make
    room. ``backlog`` bounds the pending connections, and so how many are accepted at once
    before the limit applies (asyncio accepts up to ``backlog`` in one go). The event loop's
    errors are logged once per kind and 10 s, without tracebacks."""
    import contextlib

    import uvicorn

    from lts.shared.connections import LoopErrorLog, connection_limit, guarded_protocol

    limit = connection_limit(max_connections, backlog)
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
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, QuietReads) for f in access.filters):
        access.addFilter(QuietReads())
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
