"""Every error answer is an :class:`ErrorBody`; domain errors map to status codes here.

The mapping (the only place besides the routes where status codes are chosen):
request validation and ``ConfigError`` 422 (``field`` names the input: ``limit``,
``device``, ``iterations``), ``NotFoundError`` 404, ``SearchConflict`` 409, ``StoreError`` 503
(the database could not be read: not the client's fault), anything unexpected 500 (logged;
never the answer to bad input).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from controller.api.runs import SearchConflict
from controller.results import NotFoundError
from shared.errors import ConfigError, StoreError
from shared.schemas import ErrorBody

logger = logging.getLogger(__name__)

#: OpenAPI documentation of the error answers, to merge into a route's ``responses``.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (401, "Missing or wrong bearer token"),
        (403, "No controller token is configured: mutating requests are refused"),
        (404, "No such search, architecture or device"),
        (409, "The search is not in a state that allows this"),
        (422, "Invalid input; `field` names it"),
    )
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entry of a route that may answer ``codes``."""
    return {code: ERROR_RESPONSES[code] for code in codes}


def error_response(
    status_code: int, detail: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(detail=detail, field=field).model_dump()
    return JSONResponse(body, status_code=status_code, headers=headers)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """``("query", "limit")`` -> ``limit``; ``("body", "baseline_layers", 0)`` ->
    ``baseline_layers[0]``."""
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


async def _not_found(request: Request, exc: NotFoundError) -> JSONResponse:
    return error_response(404, str(exc))


async def _conflict(request: Request, exc: SearchConflict) -> JSONResponse:
    return error_response(409, str(exc))


async def _store_error(request: Request, exc: StoreError) -> JSONResponse:
    logger.error("store error on %s %s: %s", request.method, request.url.path, exc)
    return error_response(503, f"the store cannot answer now: {exc}", headers={"Retry-After": "5"})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, f"internal error: {type(exc).__name__}")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into an :class:`ErrorBody`."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ConfigError, _config_error)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(SearchConflict, _conflict)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(Exception, _unexpected)
