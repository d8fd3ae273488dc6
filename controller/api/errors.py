"""Every error answer is an :class:`ErrorBody`; domain errors map to status codes here.

The mapping (the only place besides the routes where status codes are chosen):
request validation and ``ConfigError`` 422 (``field`` names the input: ``limit``,
``device``, ``iterations``), ``NotFoundError`` 404, ``SearchConflict`` and ``CorruptRowError``
409 (a stored row that does not parse: retrying will not help), ``StoreError`` 503
(the database could not be read: not the client's fault), ``ExportsBusy`` 429 (an export is
being built: retry), ``DiskTooSmall`` 507, anything unexpected 500 (logged; never the answer
to bad input). The handlers common to the agent and the controller live in
:mod:`lts.shared.web`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from lts.controller.api.export_runs import DiskTooSmall, ExportsBusy
from lts.shared import web
from lts.shared.errors import CorruptRowError, NotFoundError, SearchConflict, StoreError

logger = logging.getLogger(__name__)

#: OpenAPI documentation of the error answers, to merge into a route's ``responses``.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = web.error_docs(
    (401, "Missing or wrong bearer token"),
    (403, "No controller token is configured: mutating requests are refused"),
    (404, "No such search, architecture or device"),
    (409, "The search is not in a state that allows this, or its stored row is corrupted"),
    (413, "Request body over the server's max_body_bytes"),
    (422, "Invalid input; `field` names it"),
    (429, "An export is being built already; retry after Retry-After"),
    (507, "The free disk cannot hold the export"),
)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entry of a route that may answer ``codes``."""
    return {code: ERROR_RESPONSES[code] for code in codes}


async def _store_error(request: Request, exc: StoreError) -> JSONResponse:
    logger.error("store error on %s %s: %s", request.method, request.url.path, exc)
    return web.error_response(
        503, f"the store cannot answer now: {exc}", headers={"Retry-After": "5"}
    )


async def _corrupt_row(request: Request, exc: CorruptRowError) -> JSONResponse:
    logger.error("corrupted row on %s %s: %s", request.method, request.url.path, exc)
    return web.error_response(409, str(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into an :class:`ErrorBody`."""
    web.install_error_handlers(
        app,
        {
            NotFoundError: web.status_handler(404),
            SearchConflict: web.status_handler(409),
            StoreError: _store_error,
            CorruptRowError: _corrupt_row,
            ExportsBusy: web.status_handler(429, headers={"Retry-After": "10"}),
            DiskTooSmall: web.status_handler(507),
        },
        logger=logger,
    )
