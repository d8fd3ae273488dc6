"""Run a stored search on its agents: one concurrent task per device (asyncio).

:func:`start_search` stores a new search; :class:`SearchRunner` runs (or resumes) it. Each
device's task (:mod:`lts.controller.search.device_search`) measures its baselines, runs the
algorithm and measures the final figures. Devices never wait for each other; a device whose
agent fails hard ends with its message while the others finish.

Everything needed to resume is in the store: an iteration is complete when its hypervolume
row and the algorithm's state after it are written (one transaction); measurements are stored
as they arrive; the jobs in flight are recorded so that a restarted controller collects what
the agent measured meanwhile. A resumed device starts from its last complete iteration with
the generator state saved there, so it proposes the same candidates again and finds those
already measured in the cache. A runner holds the search's lease
(:mod:`lts.controller.search.lease`) while it runs, so no two processes ever run one search.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lts.controller.agents import AgentSpec
from lts.controller.client import AgentClient
from lts.controller.search.config import SearchConfig, load_config
from lts.controller.search.cross import cross_measure
from lts.controller.search.device_search import DeviceSearch
from lts.controller.search.joint import JointSearch
from lts.controller.search.lease import HEARTBEAT_S, STALE_AFTER_S, RunnerLease
from lts.controller.search.progress import DeviceProgress, stopped_by
from lts.controller.search.retry import RetryPolicy
from lts.controller.store import SearchDeviceRecord, SearchRecord, Store
from lts.shared.errors import AgentError, ConfigError, LTSError, SearchConflict

logger = logging.getLogger(__name__)


Observer = Callable[[DeviceProgress], None]
ClientFactory = Callable[[AgentSpec], AgentClient]


@dataclass(frozen=True)
class SearchOutcome:
    search_id: int
    status: str
    devices: list[SearchDeviceRecord]


def start_search(store: Store, config: SearchConfig, name: str | None = None) -> SearchRecord:
    """Store a new search and its agents (in ``config.agents`` order)."""
    search = store.create_search(config.model_dump(mode="json"), config.seed, name)
    for position, agent in enumerate(config.agents):
        store.add_search_device(search.id, position, agent)
    return search


def default_client(spec: AgentSpec) -> AgentClient:
    return AgentClient(spec.url, spec.resolve_token(), label=spec.label)


class SearchRunner:
    """Runs search ``search_id`` on ``agents`` (one per stored position, in order).
    ``retry_failed``: measure again the failed measurements of its candidates (and any other
    failed cache entry it meets), replacing the failures."""

    def __init__(
        self,
        store: Store,
        search_id: int,
        agents: Sequence[AgentSpec],
        *,
        observer: Observer | None = None,
        client_factory: ClientFactory | None = None,
        policy: RetryPolicy | None = None,
        heartbeat_s: float = HEARTBEAT_S,
        stale_after_s: float = STALE_AFTER_S,
        retry_failed: bool = False,
    ) -> None:
        self.store = store
        self.retry_failed = retry_failed
        self.search = store.get_search(search_id)
        self.config = load_config(store, search_id)
        self.devices = store.search_devices(search_id)
        if len(agents) != len(self.devices):
            raise ConfigError(
                "agents", f"search {search_id} has {len(self.devices)} agents, got {len(agents)}"
            )
        self.agents = list(agents)
        self.observer = observer or (lambda progress: None)
        self.client_factory = client_factory or default_client
        self.policy = policy or RetryPolicy(fail_after_s=self.config.fail_after_s)
        self.lease = RunnerLease(
            store, self.search.id, heartbeat_s=heartbeat_s, stale_after_s=stale_after_s
        )
        self.stop_reason: str | None = None
        self._task: asyncio.Task[SearchOutcome] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self) -> SearchOutcome:
        """Run every device not yet done, concurrently; return the search's final status.

        Raises :class:`SearchConflict`, before writing anything, when another live process
        runs the search. Cancelling (Ctrl-C, :meth:`stop`) cancels the jobs in flight on the
        agents, marks the search interrupted and re-raises; nothing measured is lost and
        :class:`SearchRunner` on the same search resumes it. Any other error ends the search
        as failed (its message stored) before it propagates: no search is left ``running``."""
        task, loop = asyncio.current_task(), asyncio.get_running_loop()
        assert task is not None
        self._task, self._loop = task, loop
        self.lease.on_lost = lambda: loop.call_soon_threadsafe(task.cancel)
        if self.stop_reason is not None:  # stopped (a signal) before it began
            task.cancel()
        self.lease.acquire()
        try:
            return await self._run()
        finally:
            self.lease.release()

    def stop(self, reason: str) -> None:
        """Stop the running search (from any thread; e.g. a signal handler): it ends
        ``interrupted`` with ``reason`` in its message, as on Ctrl-C."""
        self.stop_reason = reason
        if self._task is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)

    async def _run(self) -> SearchOutcome:
        sid = self.search.id
        self.store.set_search_status(sid, "running")
        if self.config.joint:
            pending = any(sd.status != "done" for sd in self.devices) or self.retry_failed
            tasks = [asyncio.ensure_future(JointSearch(self).run())] if pending else []
        else:
            runs = [
                DeviceSearch(self, sd, spec)
                for sd, spec in zip(self.devices, self.agents, strict=True)
                if sd.status != "done" or self.retry_failed  # a done device: its failures again
            ]
            tasks = [asyncio.ensure_future(r.run()) for r in runs]
        try:
            await asyncio.gather(*tasks)
            crossed = await self._cross()
        except asyncio.CancelledError:
            await _cancel_all(tasks)
            if self.lease.lost:  # another process runs it now: leave its records alone
                raise SearchConflict(
                    f"search {sid} was taken over by another controller while this one was "
                    "not heard from; this run stopped"
                ) from None
            reason = f"{self.stop_reason}; " if self.stop_reason else ""
            self._end(sid, "interrupted", f"{reason}interrupted; resume with --resume {sid}")
            raise
        except Exception as exc:  # a device's task raised: stop the others, record why
            await _cancel_all(tasks)
            self._end(sid, *stopped_by(exc, sid))
            raise
        devices = self.store.search_devices(sid)
        failed = [d for d in devices if d.status != "done"]
        if failed or crossed:
            message = "; ".join([*(f"{d.agent}: {d.message or d.status}" for d in failed),
                                 *([crossed] if crossed else [])])  # fmt: skip
            self.store.set_search_status(sid, "failed", message)
        else:
            self.store.set_search_status(sid, "done")
        return SearchOutcome(sid, self.store.get_search(sid).status, devices)

    async def _cross(self) -> str | None:
        """The cross step (controller.search.cross) where the search asks for it; what went
        wrong (None: nothing)."""
        if not self.config.cross_measure or self.config.joint:
            return None
        try:
            await cross_measure(self)
        except AgentError as exc:
            return (f"measuring the frontiers across devices: {exc}; --resume "
                    f"{self.search.id} measures what is missing")  # fmt: skip
        return None

    def _end(self, sid: int, status: str, message: str) -> None:
        """Record how the search ended, if the store still takes writes (if not, the search
        reads ``interrupted`` anyway once this process has gone: its lease says so)."""
        try:
            self.store.set_search_status(sid, status, message)
        except LTSError as exc:
            logger.error("search %d: could not record that it %s (%s): %s",
                         sid, status, message, exc)  # fmt: skip


async def _cancel_all(tasks: Sequence[asyncio.Future[None]]) -> None:
    """Cancel the tasks still running and wait for them to wind down (they record their
    devices as interrupted and cancel their jobs on the agents)."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
