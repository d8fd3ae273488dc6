"""Every error answer is an :class:`ErrorBody`; domain errors map to status codes here.

The mapping (the only place besides the routes where status codes are chosen):
``ConfigError`` 422 (with the field), ``TooManyItemsError`` 413, ``QueueFullError`` 429,
``JobNotFoundError`` 404, ``JobKeyConflictError`` 409, request validation 422 (the field as
``items[0].settings.threads``), anything unexpected 500 (logged; never the answer to bad
input). The handlers common to the agent and the controller live in :mod:`lts.shared.web`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI

from lts.agent.jobs import JobKeyConflictError, JobNotFoundError, QueueFullError
from lts.agent.validation import TooManyItemsError
from lts.shared import web

logger = logging.getLogger(__name__)

#: OpenAPI documentation of the error answers, to merge into a route's ``responses``.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = web.error_docs(
    (401, "Missing or wrong bearer token"),
    (409, "The idempotency key names a job with other items"),
    (413, "Request body or batch too large"),
    (422, "Invalid input; `field` names it"),
    (429, "Queue full; retry later"),
)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into an :class:`ErrorBody`."""
    web.install_error_handlers(
        app,
        {
            TooManyItemsError: web.status_handler(413),
            QueueFullError: web.status_handler(429, headers={"Retry-After": "10"}),
            JobNotFoundError: web.status_handler(404),
            JobKeyConflictError: web.status_handler(409),
        },
        logger=logger,
    )
