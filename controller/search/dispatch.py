"""Dispatch to one agent: jobs in flight, each finished item delivered once, jobs found again.

A :class:`Dispatcher` sends a list of measurement requests to its agent in jobs of at most
``batch_size`` items and hands every finished item to a callback as soon as it is seen, so
that nothing measured is lost if the controller stops. It keeps several jobs in flight: the
next job goes out as soon as the jobs in flight hold no more pending (not yet started) items
than the agent has slots, so a slot that finishes the last item of one job finds the first
of the next one waiting instead of idling until the rest of the job ends (the agent takes
the next pending item of the oldest job that has one). With ``max_jobs=1`` it sends one job
at a time.

Every request to the agent goes through a :class:`~lts.controller.search.retry.Retrier`:
while the agent cannot be reached the dispatcher waits (reporting the device as *waiting*)
and, once it answers again, the work continues where it was (a job the agent forgot, because
it restarted, is sent again without the items already received); an agent unreachable for
``fail_after_s`` ends this device's work (:class:`~lts.controller.search.retry.AgentGone`).
An item the agent reports under an index that was not sent is a protocol error
(:class:`AgentProtocolError`): the device fails.

Every job is submitted with a fresh idempotency key, reported through ``on_jobs`` *before* the
request goes out: a retried submission (the answer was lost) gets the same job back, and a
controller killed between sending a job and recording its id can find the job by its key
(:meth:`Dispatcher.find`), so no item is ever measured twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import re
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lts.controller.client import AgentClient, AgentRefused, JobNotFound
from lts.controller.search.retry import AgentGone, Retrier, RetryPolicy
from lts.shared.errors import AgentError
from lts.shared.schemas import JobItemCreate, JobItemPublic, JobPublic

# AgentGone and RetryPolicy (lts.controller.search.retry) are part of the dispatcher's API.
__all__ = [
    "AgentGone",
    "AgentProtocolError",
    "Dispatcher",
    "InFlight",
    "ItemCallback",
    "JobsCallback",
    "RetryPolicy",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
_ITEM_FIELD = re.compile(r"^items\[(\d+)\]\.arch\b")


class AgentProtocolError(AgentRefused):
    """The agent answered something no LTS agent says (an item it was not sent, a result of
    another architecture, figures no device measures): the device's work ends."""


#: Called with each finished item: (index into the request list, the agent's item).
ItemCallback = Callable[[int, JobItemPublic], Awaitable[None] | None]


@dataclass(frozen=True)
class InFlight:
    """A job in flight: its idempotency key, and its id once the agent has answered."""

    key: str
    job_id: str | None = None


#: Called with every job in flight (oldest first) whenever that list changes.
JobsCallback = Callable[[Sequence[InFlight]], None]


@dataclass(eq=False)
class _Flight:
    """A job as the dispatcher follows it: the agent's last answer (only the items changed
    since the answer before), each item's last status, and what became of the finished
    ones. Its item k is request ``batch[k]``."""

    inflight: InFlight
    job: JobPublic
    batch: Sequence[int]
    status: dict[int, str] = field(default_factory=dict)
    delivered: set[int] = field(default_factory=set)
    skipped: set[int] = field(default_factory=set)  # finished without a word on the model
    faults: int = 0  # of the skipped, those that failed outside the model
    forgotten: bool = False  # the agent no longer knows the job

    def see(self, job: JobPublic) -> None:
        self.job = job
        self.status.update((item.index, item.status) for item in job.items)

    @property
    def pending(self) -> int:
        """Items not started yet, as last seen."""
        return sum(status == "pending" for status in self.status.values())

    @property
    def ended(self) -> bool:
        return self.forgotten or self.job.status in ("done", "cancelled")

    def undelivered(self) -> list[int]:
        """The requests of the job that are to be sent again."""
        return [r for k, r in enumerate(self.batch) if k not in self.delivered]


class Dispatcher:
    """Sends work to one agent of ``slots`` slots (``GET /device``'s ``slots``; a public
    attribute, to be set once the agent has said). ``max_jobs``: at most this many jobs in
    flight (None: as many as the rule of the module doc asks for, about two when
    ``batch_size`` exceeds ``slots``). ``on_waiting(reason)`` is called when the agent becomes
    unreachable (a reason) and when it is back (None); ``on_jobs`` with every job in flight
    whenever they change: before a job is submitted (its key), once the agent has taken it
    (key and id), and once it has been followed to its end (it is left out).

    Not thread safe: one event loop, one :meth:`run` (or :meth:`follow`) at a time."""

    def __init__(
        self,
        client: AgentClient,
        policy: RetryPolicy | None = None,
        *,
        batch_size: int = 16,
        slots: int = 1,
        max_jobs: int | None = None,
        on_waiting: Callable[[str | None], None] | None = None,
        on_jobs: JobsCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if max_jobs is not None and max_jobs < 1:
            raise ValueError("max_jobs must be >= 1 (or None)")
        self.client = client
        self.policy = policy or RetryPolicy()
        self.batch_size = batch_size
        self.slots = slots
        self.max_jobs = max_jobs
        self._on_jobs = on_jobs or (lambda jobs: None)
        self._clock = clock
        self._retrier = Retrier(client.label, self.policy, on_waiting, clock)
        self._flights: list[_Flight] = []  # followed now: what cancel_current() cancels
        self.infrastructure_faults: Counter[tuple[str | None, str]] = Counter()

    @property
    def current_jobs(self) -> list[str]:
        """The ids of the jobs followed now (oldest first)."""
        return [f.job.id for f in self._flights]

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """``await fn()``, retrying while the agent is unavailable (see
        :class:`~lts.controller.search.retry.Retrier`)."""
        return await self._retrier.call(fn)

    async def run(self, items: Sequence[JobItemCreate], on_item: ItemCallback) -> None:
        """Measure every item; each finished one (done, failed or rejected) goes to
        ``on_item`` exactly once. Items the agent refuses as invalid (422 naming the item) are
        reported as rejected with the agent's message; other refusals raise
        :class:`AgentRefused`. On an error the jobs in flight are left on the agent (and in
        the last ``on_jobs`` report) for :meth:`cancel_current` or a later harvest."""
        todo = list(range(len(items)))  # neither delivered nor in a job in flight
        flights: list[_Flight] = []
        hold_until = -math.inf  # after a job's faults outside the model: give the machine a moment
        while todo or flights:
            while todo and self._room(flights) and self._clock() >= hold_until:
                flight = await self._submit(items, todo, on_item, flights)
                if flight is not None:
                    flights.append(flight)
                    self._flights.append(flight)
                    self._report(flights)
            for flight in list(flights):
                await self._absorb(flight, on_item)
                if not flight.ended:
                    continue
                flights.remove(flight)
                self._flights.remove(flight)
                self._report(flights)
                todo = sorted({*todo, *flight.undelivered()})
                if flight.faults:
                    pause = min(self.policy.max_delay_s, 4 * self.policy.first_delay_s)
                    hold_until = self._clock() + pause
            if flights:
                await asyncio.sleep(self.policy.poll_s)
                for flight in flights:
                    await self._poll(flight)
            elif todo:
                await asyncio.sleep(max(hold_until - self._clock(), 0.0))

    def _room(self, flights: Sequence[_Flight]) -> bool:
        """Whether another job may go out now (see the module doc)."""
        if self.max_jobs is not None and len(flights) >= self.max_jobs:
            return False
        return sum(f.pending for f in flights) <= self.slots

    async def _submit(
        self,
        items: Sequence[JobItemCreate],
        todo: list[int],
        on_item: ItemCallback,
        flights: Sequence[_Flight],
    ) -> _Flight | None:
        """Send the first ``batch_size`` requests of ``todo`` as a job and take them out of
        ``todo``. If the agent refuses one of them (422 naming it), deliver that one as
        rejected, take only it out, and return None."""
        batch = todo[: self.batch_size]
        key = uuid.uuid4().hex
        self._report(flights, InFlight(key))
        try:
            job = await self.call(
                functools.partial(self.client.submit, [items[i] for i in batch], key=key)
            )
        except AgentRefused as exc:
            bad = _refused_item(exc, len(batch))
            if bad is None:
                raise
            todo.remove(batch[bad])
            self._report(flights)
            await _deliver(on_item, batch[bad], _rejected(bad, str(exc)))
            return None
        del todo[: len(batch)]
        flight = _Flight(InFlight(key, job.id), job, batch)
        flight.see(job)
        return flight

    def _report(self, flights: Sequence[_Flight], *more: InFlight) -> None:
        self._on_jobs([*(f.inflight for f in flights), *more])

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
        flight = _Flight(InFlight(job.key or "", job.id), job, range(len(job.items)))
        flight.see(job)
        self._flights.append(flight)
        while True:
            await self._absorb(flight, on_item)
            if flight.ended:
                break
            await asyncio.sleep(self.policy.poll_s)
            await self._poll(flight)
        self._flights.remove(flight)
        return flight.delivered

    async def _absorb(self, flight: _Flight, on_item: ItemCallback) -> None:
        """Deliver the finished items of ``flight``'s last answer not delivered yet."""
        for item in flight.job.items:
            k = item.index
            if k in flight.delivered | flight.skipped or item.status in ("pending", "running"):
                continue
            if item.fault in ("infrastructure", "cancelled"):
                flight.skipped.add(k)
                flight.faults += item.fault == "infrastructure"
                self._count_fault(item)
                continue
            if not 0 <= k < len(flight.batch):
                raise AgentProtocolError(
                    f"agent {self.client.label}: job {flight.job.id} reports item {k}, but was "
                    f"sent {len(flight.batch)} (0 to {len(flight.batch) - 1})"
                )
            flight.delivered.add(k)
            await _deliver(on_item, flight.batch[k], item)

    async def _poll(self, flight: _Flight) -> None:
        try:
            flight.see(await self._changes(flight.job, len(flight.batch)))
        except JobNotFound:
            logger.warning("agent %s forgot job %s; sending its items again",
                           self.client.label, flight.job.id)  # fmt: skip
            flight.forgotten = True

    async def _changes(self, job: JobPublic, items: int) -> JobPublic:
        """The job's items changed after ``job``'s version: without samples, unless one of
        them has finished (then asked again with samples). ``items``: the job's size."""
        since = job.version
        light = await self.call(
            lambda: self.client.job(job.id, since=since, samples=False, items=items)
        )
        if all(item.status in ("pending", "running") for item in light.items):
            return light
        return await self.call(lambda: self.client.job(job.id, since=since, items=items))

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
        """Best effort: cancel every job in flight (their running items still finish), each
        within ``timeout_s``, all at once."""
        await asyncio.gather(*(self._cancel(job_id, timeout_s) for job_id in self.current_jobs))

    async def _cancel(self, job_id: str, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self.client.cancel(job_id), timeout_s)
        except (AgentError, TimeoutError) as exc:
            logger.info("could not cancel job %s: %s", job_id, exc)


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
