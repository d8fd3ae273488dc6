"""Dispatch to one agent: one job in flight, retries with backoff, waiting and hard failure.

A :class:`Dispatcher` sends a list of measurement requests to its agent in jobs of at most
``batch_size`` items, one job at a time (the agent measures one item at a time anyway; a
batch keeps it busy between two polls), polls the job, and hands every finished item to a
callback as soon as it is seen, so that nothing measured is lost if the controller stops.

While the agent cannot be reached (connection refused, timeouts, 5xx, 429) the dispatcher
retries with exponential backoff and reports the device as *waiting*; once it answers
again the work continues where it was (a job the agent forgot, because it restarted, is
sent again without the items already received). If the agent stays unreachable for
``fail_after_s``, :class:`AgentGone` ends this device's work with a clear message.

Every job is submitted with a fresh idempotency key, reported through ``on_job`` *before* the
request goes out: a retried submission (the answer was lost) gets the same job back, and a
controller killed between sending a job and recording its id can find the job by its key
(:meth:`Dispatcher.find`), so no item is ever measured twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from lts.controller.client import (
    AgentClient,
    AgentRefused,
    AgentUnavailable,
    JobNotFound,
)
from lts.shared.errors import AgentError
from lts.shared.schemas import JobItemCreate, JobItemPublic, JobPublic

logger = logging.getLogger(__name__)

T = TypeVar("T")
_ITEM_FIELD = re.compile(r"^items\[(\d+)\]\.arch\b")


class AgentGone(AgentError):
    """The agent stayed unreachable for longer than the configured time."""


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff from ``first_delay_s`` doubling up to ``max_delay_s``; give up after
    ``fail_after_s`` of continuous unavailability; poll a running job every ``poll_s``."""

    first_delay_s: float = 0.5
    max_delay_s: float = 10.0
    fail_after_s: float = 300.0
    poll_s: float = 0.1
    #: An item that fails this many times for reasons outside the model (the agent's
    #: ``fault: infrastructure``) ends the device's work instead of being sent again.
    max_infrastructure_faults: int = 3


#: Called with each finished item: (index into the request list, the agent's item).
ItemCallback = Callable[[int, JobItemPublic], Awaitable[None] | None]


@dataclass(frozen=True)
class InFlight:
    """The job in flight: its idempotency key, and its id once the agent has answered."""

    key: str
    job_id: str | None = None


class Dispatcher:
    """Sends work to one agent. ``on_waiting(reason)`` is called when the agent becomes
    unreachable (a reason) and when it is back (None); ``on_job`` with an :class:`InFlight`
    before a job is submitted (its key), once the agent has taken it (key and id), and with
    None once it has been followed to its end."""

    def __init__(
        self,
        client: AgentClient,
        policy: RetryPolicy | None = None,
        *,
        batch_size: int = 16,
        on_waiting: Callable[[str | None], None] | None = None,
        on_job: Callable[[InFlight | None], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.client = client
        self.policy = policy or RetryPolicy()
        self.batch_size = batch_size
        self._on_waiting = on_waiting or (lambda reason: None)
        self._on_job = on_job or (lambda inflight: None)
        self._clock = clock
        self._waiting = False
        self.current_job: str | None = None
        self.infrastructure_faults: Counter[tuple[str | None, str]] = Counter()

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """``await fn()``, retrying while the agent is unavailable (see the module doc)."""
        down_since: float | None = None
        delay = self.policy.first_delay_s
        while True:
            try:
                result = await fn()
            except AgentUnavailable as exc:
                now = self._clock()
                down_since = now if down_since is None else down_since
                down_for = now - down_since
                if down_for >= self.policy.fail_after_s:
                    raise AgentGone(
                        f"{exc}; gave up after {down_for:.0f} s without an answer"
                    ) from None
                if not self._waiting:
                    self._waiting = True
                    self._on_waiting(str(exc))
                pause = max(delay, exc.retry_after_s or 0.0)
                pause = min(pause, self.policy.max_delay_s, self.policy.fail_after_s - down_for)
                logger.info("%s; retrying in %.1f s", exc, pause)
                await asyncio.sleep(max(pause, 0.0))
                delay = min(delay * 2, self.policy.max_delay_s)
                continue
            if self._waiting:
                self._waiting = False
                self._on_waiting(None)
            return result

    async def run(self, items: Sequence[JobItemCreate], on_item: ItemCallback) -> None:
        """Measure every item; each finished one (done, failed or rejected) goes to
        ``on_item`` exactly once. Items the agent refuses as invalid (422 naming the item) are
        reported as rejected with the agent's message; other refusals raise
        :class:`AgentRefused`."""
        remaining = list(range(len(items)))
        while remaining:
            batch = remaining[: self.batch_size]
            key = uuid.uuid4().hex
            self._on_job(InFlight(key))
            try:
                job = await self.call(
                    functools.partial(self.client.submit, [items[i] for i in batch], key=key)
                )
            except AgentRefused as exc:
                bad = _refused_item(exc, len(batch))
                if bad is None:
                    raise
                index = batch[bad]
                await _deliver(on_item, index, _rejected(bad, str(exc)))
                remaining.remove(index)
                continue
            self.current_job = job.id
            self._on_job(InFlight(key, job.id))
            faults = self.infrastructure_faults.total()
            finished = await self.follow(job, _in_batch(on_item, batch))
            self.current_job = None
            self._on_job(None)
            remaining = [i for i in remaining if i not in {batch[k] for k in finished}]
            if self.infrastructure_faults.total() > faults:  # give the machine a moment
                await asyncio.sleep(min(self.policy.max_delay_s, 4 * self.policy.first_delay_s))

    async def follow(self, job: JobPublic, on_item: ItemCallback) -> set[int]:
        """Poll ``job`` until it ends; deliver each finished item (by its index in the job)
        once; return the indices delivered. Items that say nothing about their model (the
        agent's ``fault``: ``infrastructure``, e.g. a helper killed from outside or the agent
        shutting down, or ``cancelled``) are not delivered: they are to be measured again.
        An item that fails for reasons outside the model
        ``policy.max_infrastructure_faults`` times raises :class:`AgentError`. A job the
        agent no longer knows ends the poll.

        Each poll asks only for the items changed since the last answer, without raw
        latency samples; when one of them has finished, the same changes are fetched again
        with their samples, and those are delivered (the samples go into the store)."""
        delivered: set[int] = set()
        skipped: set[int] = set()
        self.current_job = job.id  # what cancel_current() cancels
        while True:
            for item in job.items:
                if item.index in delivered | skipped or item.status in ("pending", "running"):
                    continue
                if item.fault in ("infrastructure", "cancelled"):
                    skipped.add(item.index)
                    self._count_fault(item)
                    continue
                delivered.add(item.index)
                await _deliver(on_item, item.index, item)
            if job.status in ("done", "cancelled"):
                return delivered
            await asyncio.sleep(self.policy.poll_s)
            try:
                job = await self._changes(job)
            except JobNotFound:
                logger.warning("agent %s forgot job %s; sending its items again",
                               self.client.label, job.id)  # fmt: skip
                return delivered

    async def _changes(self, job: JobPublic) -> JobPublic:
        """The job's items changed after ``job``'s version: without samples, unless one of
        them has finished (then asked again with samples)."""
        since = job.version
        light = await self.call(lambda: self.client.job(job.id, since=since, samples=False))
        if all(item.status in ("pending", "running") for item in light.items):
            return light
        return await self.call(lambda: self.client.job(job.id, since=since))

    def _count_fault(self, item: JobItemPublic) -> None:
        if item.fault != "infrastructure":
            return
        key = (item.arch_id, item.settings.cache_key() if item.settings else "")
        self.infrastructure_faults[key] += 1
        count = self.infrastructure_faults[key]
        what = "failed outside the model" if item.started else "was dropped before it started"
        logger.warning(
            "agent %s: item %s %s (%d time(s)): %s; measuring it again",
            self.client.label, item.arch_id, what, count, item.error,
        )  # fmt: skip
        if count >= self.policy.max_infrastructure_faults:
            raise AgentError(
                f"agent {self.client.label}: measuring {item.arch_id} failed {count} times for "
                f"reasons outside the model (last: {item.error}); check the agent's machine"
            )

    async def find(self, inflight: InFlight) -> JobPublic | None:
        """The job recorded as in flight, as the agent has it now; None if the agent does not
        know it (it never arrived, or the agent restarted or forgot it since)."""
        job_id = inflight.job_id
        try:
            if job_id is not None:
                return await self.call(lambda: self.client.job(job_id))
            found = await self.call(lambda: self.client.jobs(limit=1, key=inflight.key))
        except (JobNotFound, AgentRefused) as exc:
            name = inflight.job_id or inflight.key
            logger.info("job %s of a previous run is gone (%s)", name, exc)
            return None
        # An agent that does not filter by key would list other jobs: only that key counts.
        return next((job for job in found.data if job.key == inflight.key), None)

    async def cancel_current(self, timeout_s: float = 2.0) -> None:
        """Best effort: cancel the job in flight (its running item still finishes)."""
        job_id = self.current_job
        if job_id is None:
            return
        try:
            await asyncio.wait_for(self.client.cancel(job_id), timeout_s)
        except (AgentError, TimeoutError) as exc:
            logger.info("could not cancel job %s: %s", job_id, exc)


def _in_batch(on_item: ItemCallback, batch: Sequence[int]) -> ItemCallback:
    """``on_item`` for a job of the items ``batch``: the job's item k is ``batch[k]``."""
    return lambda k, item: on_item(batch[k], item)


async def _deliver(on_item: ItemCallback, index: int, item: JobItemPublic) -> None:
    result: Any = on_item(index, item)
    if asyncio.iscoroutine(result):
        await result


def _refused_item(exc: AgentRefused, n_items: int) -> int | None:
    """The index of the item whose architecture a 422 refuses (``items[3].arch.n_head``).

    Refused settings (``items[0].settings.threads``) are not an item's fault: they concern
    every item on this agent, so they end the device's work instead."""
    if exc.status != 422 or not exc.field:
        return None
    match = _ITEM_FIELD.match(exc.field)
    if match is None or int(match.group(1)) >= n_items:
        return None
    return int(match.group(1))


def _rejected(index: int, error: str) -> JobItemPublic:
    return JobItemPublic(index=index, status="rejected", error=error)
