"""Asynchronous HTTP client of one agent (httpx), speaking the contract of ``shared.schemas``.

Errors are sorted by what the caller should do about them:

* :class:`AgentUnavailable`: try again later (connection refused or reset, timeout, 5xx, 429
  queue full). ``retry_after_s`` carries the agent's hint when it gave one.
* :class:`JobNotFound`: the agent does not know the job (it restarted, or forgot it).
* :class:`AgentRefused`: the agent answered and said no (401 bad token, 413, 422 invalid
  input, or an answer that does not fit the contract); ``status`` and ``field`` say why.

All three are :class:`shared.errors.AgentError`. One client per agent; it may be shared by
the tasks of one event loop.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from lts.shared.errors import AgentError
from lts.shared.schemas import DeviceInfo, Health, JobCreate, JobItemCreate, JobPublic, JobsPublic

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


class AgentClient:
    """Client of the agent at ``url`` (bearer ``token`` if given).

    ``timeout_s`` bounds each request; ``transport`` replaces the network (tests pass an
    ``httpx.MockTransport`` or ``httpx.ASGITransport``).
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        label: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.label = label or self.url
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
        return await self._request("GET", "/health", Health)

    async def device(self) -> DeviceInfo:
        return await self._request("GET", "/device", DeviceInfo)

    async def submit(self, items: list[JobItemCreate], key: str | None = None) -> JobPublic:
        """Queue ``items``; with ``key``, a repeated submission answers the first job."""
        body = JobCreate(items=items, key=key).model_dump(mode="json", exclude_none=True)
        return await self._request("POST", "/jobs", JobPublic, json=body)

    async def job(self, job_id: str, *, since: int = 0, samples: bool = True) -> JobPublic:
        """The job; with ``since``, only the items changed after that version of it, and
        without ``samples`` its results' raw latency samples left out (an agent that predates
        these parameters answers every item with its samples)."""
        params: dict[str, Any] = {}
        if since:
            params["since"] = since
        if not samples:
            params["samples"] = "false"
        return await self._request("GET", f"/jobs/{job_id}", JobPublic, job=True, params=params)

    async def jobs(self, limit: int = 100, key: str | None = None) -> JobsPublic:
        params: dict[str, Any] = {"limit": limit}
        if key is not None:
            params["key"] = key
        return await self._request("GET", "/jobs", JobsPublic, params=params)

    async def cancel(self, job_id: str) -> JobPublic:
        return await self._request("DELETE", f"/jobs/{job_id}", JobPublic, job=True)

    # ------------------------------------------------------------------------- plumbing
    async def _request(
        self, method: str, path: str, model: type[M], *, job: bool = False, **kwargs: Any
    ) -> M:
        where = f"agent {self.label}"
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise AgentUnavailable(f"{where}: no answer to {method} {path} in time") from None
        except httpx.TransportError as exc:
            raise AgentUnavailable(
                f"{where}: cannot reach {self.url} ({exc or type(exc).__name__})"
            ) from None
        code = response.status_code
        if code < 300:
            try:
                return model.model_validate(response.json())
            except (ValueError, ValidationError) as exc:
                raise AgentRefused(
                    f"{where}: unexpected answer to {method} {path}: {exc}"
                ) from None
        detail, field = _error_body(response)
        if code == 404 and job:
            raise JobNotFound(f"{where}: {detail}")
        if code == 429 or code >= 500:
            raise AgentUnavailable(f"{where}: {code} {detail}", _retry_after(response))
        if code == 401:
            detail = f"{detail} (check the agent's token: token_file in the agents file)"
        raise AgentRefused(f"{where}: {code} {detail}", status=code, field=field)


def _error_body(response: httpx.Response) -> tuple[str, str | None]:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase, None
    if isinstance(body, dict):
        return str(body.get("detail", body))[:500], body.get("field")
    return str(body)[:500], None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
