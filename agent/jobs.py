"""The measurement queue: jobs in submission order, their items in order, one item per slot.

A :class:`JobQueue` owns one thread per slot; each thread takes the next pending item of the
oldest job that has one and measures it with its slot's measurer (which blocks, isolated in a
worker process), so the event loop that serves the API never waits on a measurement. With one
slot no two measurements ever overlap; with N slots at most N run at once, each on its own
measurer and cores. Every result gets ``context["queue"]``: the slot, its CPUs and when the
measurement started and ended (UTC), so overlap can be checked from the outside.

Thread safety: every public method may be called from any thread; state is guarded by one lock.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from lts.agent.job_state import Item, Job, utc_now
from lts.agent.validation import ItemRequest
from lts.shared.config import ArchConfig
from lts.shared.errors import InfrastructureFault, LTSError
from lts.shared.schemas import Fault, JobPublic, JobsPublic, MeasurementResult, MeasureSettings

logger = logging.getLogger(__name__)

CANCELLED = "cancelled before it started"
SHUTTING_DOWN = "the agent shut down before it started"


class QueueFullError(LTSError):
    """The queue holds too many unfinished items to take this job now (retry later)."""


class JobNotFoundError(LTSError):
    """No job with this id (never submitted, or finished and forgotten)."""


class JobKeyConflictError(LTSError):
    """A kept job already has this idempotency key, with other items."""


class Measurer(Protocol):
    """What the queue needs of a measurer (:class:`lts.agent.measure.Measurer` is one)."""

    def measure(self, cfg: ArchConfig, settings: MeasureSettings) -> MeasurementResult: ...

    def close(self) -> None: ...


_unexpected_log_at = 0.0


def _log_unexpected(slot: int, exc: Exception) -> None:
    """Log a measurement's unexpected error: with its traceback at most once a minute (a
    machine out of files fails every item the same way; one traceback says it)."""
    global _unexpected_log_at
    now = time.monotonic()
    if now - _unexpected_log_at >= 60.0:
        _unexpected_log_at = now
        logger.exception("slot %d: measurement raised", slot)
    else:
        logger.error("slot %d: measurement raised %s: %s", slot, type(exc).__name__, exc)


# ----------------------------------------------------------------------------------- queue
class JobQueue:
    """Jobs of measurement items, measured in order by one thread per measurer (slot).

    ``estimate_memory_mb(arch, settings)`` is asked for each item at submission; one above
    ``memory_budget_mb`` (``gpu_memory_budget_mb`` for ``device="cuda"`` items, where given)
    is ``rejected`` with the reason and never built. ``max_queue`` bounds
    the unfinished (pending or running) items of all jobs. Finished jobs are kept for
    ``keep_jobs_s`` seconds, at most ``keep_jobs`` of them. ``slot_cpus[i]`` (the CPUs the
    i-th measurer is pinned to) only goes into each result's context.
    """

    def __init__(
        self,
        measurers: Sequence[Measurer],
        *,
        estimate_memory_mb: Callable[[ArchConfig, MeasureSettings], float],
        memory_budget_mb: float,
        gpu_memory_budget_mb: float | None = None,
        max_queue: int,
        keep_jobs: int = 100,
        keep_jobs_s: float = 6 * 3600,
        slot_cpus: Sequence[list[int] | None] | None = None,
    ) -> None:
        if not measurers:
            raise ValueError("a JobQueue needs at least one measurer")
        self._measurers = list(measurers)
        self._slot_cpus = list(slot_cpus) if slot_cpus else [None] * len(measurers)
        self._estimate = estimate_memory_mb
        self.memory_budget_mb = memory_budget_mb
        self.gpu_memory_budget_mb = gpu_memory_budget_mb
        self.max_queue = max_queue
        self._keep_jobs = keep_jobs
        self._keep_jobs_s = keep_jobs_s
        self._cond = threading.Condition()
        self._jobs: dict[str, Job] = {}  # submission order
        self._keys: dict[str, Job] = {}  # idempotency key -> kept job
        self._waiting: deque[Job] = deque()  # jobs that may still have pending items
        self._unfinished = 0  # pending + running items of all jobs
        self._closing = False
        self._threads: list[threading.Thread] = []

    # ---------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start one thread per slot (idempotent)."""
        with self._cond:
            if self._threads:
                return
            for slot in range(len(self._measurers)):
                thread = threading.Thread(
                    target=self._run_slot, args=(slot,), name=f"lts-slot-{slot}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def close(self, timeout_s: float = 30.0) -> None:
        """Refuse new work, drop what has not started, wait up to ``timeout_s`` for the rest.

        The measurers are not closed here: their owner closes them (which also ends a running
        measurement early).
        """
        finished: list[Job] = []
        with self._cond:
            self._closing = True
            for job in list(self._waiting):
                if self._drop_pending(job, SHUTTING_DOWN, "infrastructure"):
                    finished.append(job)
            self._waiting.clear()
            self._cond.notify_all()
        self._resolve(finished)
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------------------- public
    @property
    def slots(self) -> int:
        return len(self._measurers)

    def unfinished_items(self) -> int:
        """Items pending or running, over all jobs."""
        with self._cond:
            return self._unfinished

    def submit(self, requests: Sequence[ItemRequest], key: str | None = None) -> JobPublic:
        """Queue a job of validated items; over-budget items are rejected on the spot.

        Raises :class:`QueueFullError` when the accepted items would take the unfinished
        items over ``max_queue`` (nothing is queued then). See :meth:`submit_once` for ``key``.
        """
        return self.submit_once(requests, key)[0]

    def submit_once(
        self, requests: Sequence[ItemRequest], key: str | None
    ) -> tuple[JobPublic, bool]:
        """:meth:`submit`, idempotent under ``key``: while a job submitted with ``key`` is
        kept, the same requests answer that job (and False: nothing was queued), even when
        the queue is full or closing. Raises :class:`JobKeyConflictError` for the same key
        with other requests."""
        with self._cond:
            earlier = self._replay(key, requests)
            if earlier is not None:
                return earlier, False
        items = [Item(i, request) for i, request in enumerate(requests)]
        for item in items:
            self._check_budget(item)
        accepted = sum(item.status == "pending" for item in items)
        with self._cond:
            earlier = self._replay(key, requests)  # another thread may have submitted it since
            if earlier is not None:
                return earlier, False
            job = Job(id=uuid.uuid4().hex, items=items, key=key)  # created_at in queue order
            if self._closing:
                raise QueueFullError("the agent is shutting down")
            if self._unfinished + accepted > self.max_queue:
                raise QueueFullError(
                    f"queue full: {self._unfinished} item(s) waiting or running, this job adds "
                    f"{accepted}, the limit is {self.max_queue}; retry later"
                )
            self._prune()
            self._jobs[job.id] = job
            if key is not None:
                self._keys[key] = job
            self._unfinished += accepted
            if accepted:
                self._waiting.append(job)
                self._cond.notify_all()
            else:
                self._mark_finished(job)
            public = job.public()
        if not accepted:
            self._resolve([job])
        logger.info("job %s: %d item(s), %d queued", job.id, len(items), accepted)
        return public, True

    def get(self, job_id: str, *, since: int = 0, samples: bool = True) -> JobPublic:
        """The job as it stands, with the items changed after its version ``since`` (all by
        default), with or without their raw latency samples. Raises
        :class:`JobNotFoundError`."""
        with self._cond:
            return self._job(job_id).public(since=since, samples=samples)

    def list_jobs(self, limit: int | None = None, key: str | None = None) -> JobsPublic:
        """Kept jobs, most recent first (at most ``limit``); ``count`` is all kept jobs (with
        ``key``: only the job submitted with that key, if it is kept)."""
        with self._cond:
            self._prune()
            if key is not None:
                jobs = [self._keys[key]] if key in self._keys else []
            else:
                jobs = list(reversed(self._jobs.values()))
            return JobsPublic(data=[j.public() for j in jobs[:limit]], count=len(jobs))

    def cancel(self, job_id: str) -> JobPublic:
        """Cancel the items that have not started (``rejected``, "cancelled before it
        started"); a running item finishes and keeps its result. A finished job is left as
        it is. Raises :class:`JobNotFoundError`."""
        with self._cond:
            job = self._job(job_id)
            finished = False
            if job.finished_at is None:
                job.cancelled = True
                finished = self._drop_pending(job, CANCELLED, "cancelled")
            public = job.public()
        if finished:
            self._resolve([job])
        logger.info("job %s cancelled", job_id)
        return public

    def wait(self, job_id: str) -> concurrent.futures.Future[None]:
        """A future that resolves when the job has finished (done or cancelled).

        Use ``asyncio.wrap_future`` to await it on an event loop. Raises
        :class:`JobNotFoundError`.
        """
        with self._cond:
            return self._job(job_id).done

    # ------------------------------------------------------------------------------ workers
    def _run_slot(self, slot: int) -> None:
        measurer = self._measurers[slot]
        while True:
            with self._cond:
                taken = self._take()
                if taken is None:
                    return
                job, item = taken
            started_at, t0 = utc_now(), time.monotonic()
            result: MeasurementResult | None = None
            error: str | None = None
            fault: Fault | None = None
            try:
                result = measurer.measure(item.request.arch, item.request.settings)
            except InfrastructureFault as exc:  # killed from outside, out of files, closing
                error, fault = str(exc) or type(exc).__name__, "infrastructure"
            except LTSError as exc:  # MeasurementError: crash, timeout, out of memory...
                error, fault = str(exc) or type(exc).__name__, "model"
            except Exception as exc:  # a bug in one measurement must not stop the slot
                _log_unexpected(slot, exc)
                error = f"internal error: {type(exc).__name__}: {exc}"
                fault = "infrastructure"  # the agent's failure; nothing is known of the model
            if result is not None:
                queue_context = {
                    "slot": slot,
                    "cpus": self._slot_cpus[slot],
                    "started_at": started_at,
                    "finished_at": utc_now(),
                    "waited_s": round(t0 - job.submitted, 3),
                }
                result = result.model_copy(
                    update={"context": {**result.context, "queue": queue_context}}
                )
            self._complete(job, item, result, error, fault)

    def _take(self) -> tuple[Job, Item] | None:
        """Under the lock: wait for the next pending item and mark it running (None: closing)."""
        while not self._closing:
            while self._waiting:
                job = self._waiting[0]
                item = job.take_next()
                if item is None:
                    self._waiting.popleft()
                    continue
                item.status, item.started = "running", True
                job.touch(item)
                job.running += 1
                job.started_at = job.started_at or utc_now()
                return job, item
            self._cond.wait()
        return None

    def _complete(
        self,
        job: Job,
        item: Item,
        result: MeasurementResult | None,
        error: str | None,
        fault: Fault | None = None,
    ) -> None:
        with self._cond:
            item.status, item.result, item.error = ("done" if result else "failed"), result, error
            item.fault = None if result else (fault or "model")
            job.touch(item)
            job.running -= 1
            self._unfinished -= 1
            finished = not job.unfinished()
            if finished:
                self._mark_finished(job)
        if error:
            logger.warning("job %s item %d failed: %s", job.id, item.index, error)
        if finished:
            self._resolve([job])

    # ------------------------------------------------------------------------------ helpers
    def _check_budget(self, item: Item) -> None:
        request = item.request
        try:
            need_mb = self._estimate(request.arch, request.settings)
        except Exception:  # an estimate that fails must not refuse a valid item
            logger.exception("memory estimate failed for %s", request.arch.arch_id)
            return
        gpu_budget_mb = self.gpu_memory_budget_mb if request.settings.device == "cuda" else None
        on_gpu = gpu_budget_mb is not None
        budget = gpu_budget_mb if gpu_budget_mb is not None else self.memory_budget_mb
        if need_mb > budget:
            need = f"about {need_mb:.0f} MB" if math.isfinite(need_mb) else "more memory than"
            item.status, item.fault = "rejected", "model"
            item.error = (
                f"needs {need} by the estimate, over this agent's "
                f"{'GPU ' if on_gpu else ''}memory budget of {budget:.0f} MB"
            )

    def _replay(self, key: str | None, requests: Sequence[ItemRequest]) -> JobPublic | None:
        """Under the lock: the kept job submitted with ``key``, if any (None: submit anew)."""
        if key is None:
            return None
        self._prune()
        earlier = self._keys.get(key)
        if earlier is None:
            return None
        if [item.request for item in earlier.items] != list(requests):
            raise JobKeyConflictError(
                f"job {earlier.id} was submitted with key {key!r} and other items; "
                "a key names one batch"
            )
        return earlier.public()

    def _job(self, job_id: str) -> Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise JobNotFoundError(f"no job {job_id!r} on this agent") from None

    def _drop_pending(self, job: Job, reason: str, fault: Fault) -> bool:
        """Under the lock: reject the job's pending items (never started) with ``reason`` and
        ``fault``; True if that finished the job."""
        for item in job.items:
            if item.status == "pending":
                item.status, item.error, item.fault = "rejected", reason, fault
                job.touch(item)
                self._unfinished -= 1
        job.next_pending = len(job.items)
        if job.running == 0 and job.finished_at is None:
            self._mark_finished(job)
            return True
        return False

    @staticmethod
    def _mark_finished(job: Job) -> None:
        job.finished_at, job.finished = utc_now(), time.monotonic()

    @staticmethod
    def _resolve(jobs: list[Job]) -> None:
        """Outside the lock: wake whoever waits on these finished jobs."""
        for job in jobs:
            if not job.done.done():
                job.done.set_result(None)

    def _prune(self) -> None:
        """Under the lock: forget finished jobs past the age limit or beyond the count."""
        now = time.monotonic()
        finished = [(j, j.finished) for j in self._jobs.values() if j.finished is not None]
        excess = len(finished) - self._keep_jobs
        for i, (job, finished_s) in enumerate(finished):
            if i < excess or now - finished_s > self._keep_jobs_s:
                del self._jobs[job.id]
                if job.key is not None:
                    del self._keys[job.key]
