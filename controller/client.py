"""Asynchronous HTTP client of one agent (httpx), speaking the contract of ``lts.shared.schemas``.

Errors are sorted by what the caller should do about them:

* :class:`AgentUnavailable`: try again later (connection refused or reset, timeout, 5xx, 429
  queue full). ``retry_after_s`` carries the agent's hint when it gave one.
* :class:`JobNotFound`: the agent does not know the job (it restarted, or forgot it).
* :class:`AgentRefused`: the agent answered and said no (401 bad token, 413, 422 invalid
  input, or an answer that does not fit the contract); ``status`` and ``field`` say why.

All three are :class:`lts.shared.errors.AgentError`. One client per agent; it may be shared by
the tasks of one event loop.

An agent is a remote party: its answers are bounded before they are believed. Each answer is
streamed and refused (:class:`AgentRefused`) once it passes the size its request can need
(:func:`answer_limit`: a few kB for ``/health``, 256 kB for ``/device``, per item for jobs,
raw samples included); each request has a total deadline (``deadline_s``), however slowly the
bytes arrive (an answer that does not end in time is :class:`AgentUnavailable`); and a large
answer is parsed in a worker thread, so the event loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from lts.shared.errors import AgentError
from lts.shared.schemas import (
    MAX_SAMPLES,
    DeviceInfo,
    Health,
    JobCreate,
    JobItemCreate,
    JobPublic,
    JobsPublic,
)

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class AgentUnavailable(AgentError):
    """The agent cannot answer now; retrying later may work."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AgentRefused(AgentError):
    """The agent refused the request (retrying the same request will not help)."""

    def __init__(self, message: str, status: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


class JobNotFound(AgentError):
    """The agent has no such job."""


#: The most bytes of an answer to ``/health``, to ``/device`` and of an error answer.
HEALTH_BYTES = 16 * 1024
DEVICE_BYTES = 256 * 1024
ERROR_BYTES = 64 * 1024
#: A job answer: its own fields, then per item (its settings, error, memory and context
#: notes) and, where the raw samples are asked for, per sample (a JSON number).
JOB_BYTES = 16 * 1024
ITEM_BYTES = 32 * 1024
SAMPLE_BYTES = 32
#: Items per job when the caller does not say (the agent's default ``max_items_per_job``).
DEFAULT_MAX_ITEMS = 256
#: Answers larger than this are parsed in a worker thread, off the event loop.
PARSE_INLINE_BYTES = 64 * 1024


def answer_limit(items: int, *, samples: bool = True, jobs: int = 1) -> int:
    """The most bytes an answer holding ``jobs`` jobs of ``items`` items each may take: with
    ``samples``, every item may carry its result's raw samples (at most
    :data:`lts.shared.schemas.MAX_SAMPLES`)."""
    per_item = ITEM_BYTES + (SAMPLE_BYTES * MAX_SAMPLES if samples else 0)
    return jobs * (JOB_BYTES + items * per_item)


class _TooLarge(Exception):
    pass


class AgentClient:
    """Client of the agent at ``url`` (bearer ``token`` if given).

    ``timeout_s`` bounds each wait for the agent (connecting, each read); ``deadline_s`` a
    whole request, answer included. ``max_items`` is the most items of a job whose size the
    caller does not give (see :func:`answer_limit`). ``transport`` replaces the network
    (tests pass an ``httpx.MockTransport`` or ``httpx.ASGITransport``).
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        label: str | None = None,
        timeout_s: float = 10.0,
        deadline_s: float = 60.0,
        max_items: int = DEFAULT_MAX_ITEMS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.label = label or self.url
        self.deadline_s = deadline_s
        self.max_items = max_items
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=timeout_s, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AgentClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---------------------------------------------------------------------------- calls
    async def health(self) -> Health:
        return await self._request("GET", "/health", Health, limit=HEALTH_BYTES)

    async def device(self) -> DeviceInfo:
        return await self._request("GET", "/device", DeviceInfo, limit=DEVICE_BYTES)

    async def submit(self, items: list[JobItemCreate], key: str | None = None) -> JobPublic:
        """Queue ``items``; with ``key``, a repeated submission answers the first job."""
        body = JobCreate(items=items, key=key).model_dump(mode="json", exclude_none=True)
        limit = answer_limit(len(items), samples=True)
        return await self._request("POST", "/jobs", JobPublic, limit=limit, json=body)

    async def job(
        self, job_id: str, *, since: int = 0, samples: bool = True, items: int | None = None
    ) -> JobPublic:
        """The job (of ``items`` items: its answer is bounded by them; default
        ``max_items``); with ``since``, only the items changed after that version of it, and
        without ``samples`` its results' raw latency samples left out (an agent that predates
        these parameters answers every item with its samples)."""
        params: dict[str, Any] = {}
        if since:
            params["since"] = since
        if not samples:
            params["samples"] = "false"
        limit = answer_limit(items or self.max_items, samples=True)
        return await self._request(
            "GET", f"/jobs/{job_id}", JobPublic, job=True, limit=limit, params=params
        )

    async def jobs(self, limit: int = 100, key: str | None = None) -> JobsPublic:
        params: dict[str, Any] = {"limit": limit}
        if key is not None:
            params["key"] = key
        size = answer_limit(self.max_items, jobs=limit)
        return await self._request("GET", "/jobs", JobsPublic, limit=size, params=params)

    async def cancel(self, job_id: str, *, items: int | None = None) -> JobPublic:
        limit = answer_limit(items or self.max_items, samples=True)
        return await self._request("DELETE", f"/jobs/{job_id}", JobPublic, job=True, limit=limit)

    # ------------------------------------------------------------------------- plumbing
    async def _request(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        limit: int,
        job: bool = False,
        **kwargs: Any,
    ) -> M:
        where = f"agent {self.label}"
        try:
            async with asyncio.timeout(self.deadline_s):
                async with self._http.stream(method, path, **kwargs) as response:
                    cap = limit if response.status_code < 300 else ERROR_BYTES
                    body = await _read_capped(response, cap)
        except TimeoutError:
            raise AgentUnavailable(
                f"{where}: no complete answer to {method} {path} within {self.deadline_s:g} s"
            ) from None
        except httpx.TimeoutException:
            raise AgentUnavailable(f"{where}: no answer to {method} {path} in time") from None
        except httpx.TransportError as exc:
            raise AgentUnavailable(
                f"{where}: cannot reach {self.url} ({exc or type(exc).__name__})"
            ) from None
        except _TooLarge as exc:
            raise AgentRefused(
                f"{where}: its answer to {method} {path} passed {exc} bytes, more than any "
                "LTS agent sends; is this an LTS agent?"
            ) from None
        code = response.status_code
        if code < 300:
            try:
                if len(body) > PARSE_INLINE_BYTES:
                    return await asyncio.to_thread(model.model_validate_json, body)
                return model.model_validate_json(body)
            except (ValueError, ValidationError) as exc:
                reason = str(exc).replace("\n", " ")[:300]
                raise AgentRefused(
                    f"{where}: unexpected answer to {method} {path}: {reason}"
                ) from None
        detail, field = _error_body(body, response.reason_phrase)
        if code == 404 and job:
            raise JobNotFound(f"{where}: {detail}")
        if code == 429 or code >= 500:
            raise AgentUnavailable(f"{where}: {code} {detail}", _retry_after(response))
        if code == 401:
            detail = f"{detail} (check the agent's token: token_file in the agents file)"
        raise AgentRefused(f"{where}: {code} {detail}", status=code, field=field)


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    """The answer's body; :class:`_TooLarge` as soon as it passes ``limit`` bytes (a declared
    Content-Length over it is refused before a byte is read)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge(limit)
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _TooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _error_body(body: bytes, reason: str) -> tuple[str, str | None]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace") or reason, None
    if isinstance(parsed, dict):
        field = parsed.get("field")
        return str(parsed.get("detail", parsed))[:500], field if isinstance(field, str) else None
    return str(parsed)[:500], None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
