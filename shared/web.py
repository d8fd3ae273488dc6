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
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import ConfigError
from shared.schemas import ErrorBody

#: An exception handler as FastAPI takes it.
ErrorHandler = Callable[[Request, Any], Awaitable[JSONResponse]]


def error_docs(*entries: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of error answers ``(status code, description)``, to merge into a
    route's ``responses``."""
    return {code: {"model": ErrorBody, "description": text} for code, text in entries}


def error_response(
    status_code: int, detail: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An :class:`ErrorBody` answer with ``status_code`` (and ``headers``, e.g. Retry-After)."""
    body = ErrorBody(detail=detail, field=field).model_dump()
    return JSONResponse(body, status_code=status_code, headers=headers)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """A validation error's location as the client wrote the input, without the part of the
    request it came from: ``("query", "limit")`` -> ``limit``; ``("body", "items", 0,
    "settings", "threads")`` -> ``items[0].settings.threads``."""
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc)
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or (str(loc[0]) if loc else None)


def status_handler(code: int, headers: dict[str, str] | None = None) -> ErrorHandler:
    """A handler answering ``code`` with the exception's message as ``detail``."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return error_response(code, str(exc), headers=headers)

    return handler


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        field, message = "body", f"invalid JSON: {first.get('ctx', {}).get('error', first['msg'])}"
    else:
        field, message = field_path(first["loc"]), first["msg"]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return error_response(422, f"{field}: {message}{more}", field)


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
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ConfigError, _config_error)
    for error_class, handler in handlers.items():
        app.add_exception_handler(error_class, handler)
    app.add_exception_handler(Exception, _unexpected(logger))


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

    from shared.connections import LoopErrorLog, connection_limit, guarded_protocol

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
