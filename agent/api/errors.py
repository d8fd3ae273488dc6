"""Every error answer is an :class:`ErrorBody`; domain errors map to status codes here.

The mapping (the only place besides the routes where status codes are chosen):
``ConfigError`` 422 (with the field), ``TooManyItemsError`` 413, ``QueueFullError`` 429,
``JobNotFoundError`` 404, request validation 422 (the field as ``items[0].settings.threads``),
anything unexpected 500 (logged; never the answer to bad input).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.jobs import JobNotFoundError, QueueFullError, TooManyItemsError
from shared.errors import ConfigError
from shared.schemas import ErrorBody

logger = logging.getLogger(__name__)

#: OpenAPI documentation of the error answers, to merge into a route's ``responses``.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (401, "Missing or wrong bearer token"),
        (413, "Request body or batch too large"),
        (422, "Invalid input; `field` names it"),
        (429, "Queue full; retry later"),
    )
}


def error_response(
    status_code: int, detail: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(detail=detail, field=field).model_dump()
    return JSONResponse(body, status_code=status_code, headers=headers)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """``("body", "items", 0, "settings", "threads")`` -> ``items[0].settings.threads``."""
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc)
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or (str(loc[0]) if loc else None)


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


def _status_handler(code: int):
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        headers = {"Retry-After": "10"} if code == status.HTTP_429_TOO_MANY_REQUESTS else None
        return error_response(code, str(exc), headers=headers)

    return handler


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, f"internal error: {type(exc).__name__}")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into an :class:`ErrorBody`."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ConfigError, _config_error)
    app.add_exception_handler(TooManyItemsError, _status_handler(413))
    app.add_exception_handler(QueueFullError, _status_handler(429))
    app.add_exception_handler(JobNotFoundError, _status_handler(404))
    app.add_exception_handler(Exception, _unexpected)
