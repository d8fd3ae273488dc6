"""The state of one job on the agent: its items, their status and results, and its version.

:class:`Job` and :class:`Item` are plain records owned by :class:`lts.agent.jobs.JobQueue`, which
changes them under its lock only. Every change of an item goes through :meth:`Job.touch`,
which advances the job's ``version`` and stamps the item with it, so that a client can ask for
what changed after the version it last saw (``GET /jobs/{id}?since=``).
"""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass, field

from lts.agent.measure.context import utc_now as context_utc_now
from lts.agent.validation import ItemRequest
from lts.shared.schemas import (
    Fault,
    ItemStatus,
    JobItemPublic,
    JobPublic,
    JobStatus,
    MeasurementResult,
)


def utc_now() -> str:
    """Now in UTC, ISO 8601 with microseconds (the job's and the queue context's times)."""
    return context_utc_now("microseconds")


@dataclass
class Item:
    index: int
    request: ItemRequest
    status: ItemStatus = "pending"
    error: str | None = None
    fault: Fault | None = None
    started: bool = False
    result: MeasurementResult | None = None
    version: int = 1

    def public(self, *, samples: bool = True) -> JobItemPublic:
        """The wire form; without ``samples`` the result's raw latency samples are left out
        (an empty list)."""
        result = self.result
        if result is not None and not samples:
            stats = result.latency_ms.model_copy(update={"samples": []})
            result = result.model_copy(update={"latency_ms": stats})
        return JobItemPublic(
            index=self.index,
            status=self.status,
            error=self.error,
            fault=self.fault,
            started=self.started,
            version=self.version,
            arch_id=self.request.arch.arch_id,
            settings=self.request.settings,
            result=result,
        )


@dataclass
class Job:
    id: str
    items: list[Item]
    key: str | None = None
    created_at: str = field(default_factory=utc_now)
    submitted: float = field(default_factory=time.monotonic)
    started_at: str | None = None
    finished_at: str | None = None
    finished: float | None = None  # monotonic, for retention
    cancelled: bool = False
    next_pending: int = 0
    running: int = 0
    version: int = 1
    done: concurrent.futures.Future[None] = field(default_factory=concurrent.futures.Future)

    def status(self) -> JobStatus:
        if self.cancelled:
            return "cancelled"
        if self.finished_at is not None:
            return "done"
        if self.started_at is not None:
            return "running"
        return "queued"

    def touch(self, item: Item) -> None:
        """Record that ``item`` changed: a new job version, stamped on the item."""
        self.version += 1
        item.version = self.version

    def public(self, *, since: int = 0, samples: bool = True) -> JobPublic:
        """The wire form: the items changed after version ``since`` (all by default), with
        or without raw latency samples (see :meth:`Item.public`)."""
        return JobPublic(
            id=self.id,
            status=self.status(),
            version=self.version,
            key=self.key,
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            items=[i.public(samples=samples) for i in self.items if i.version > since],
        )

    def take_next(self) -> Item | None:
        while self.next_pending < len(self.items):
            item = self.items[self.next_pending]
            self.next_pending += 1
            if item.status == "pending":
                return item
        return None

    def unfinished(self) -> bool:
        return self.running > 0 or any(i.status == "pending" for i in self.items)
