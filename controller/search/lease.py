"""One runner per search: the lease a :class:`~lts.controller.search.runner.SearchRunner` holds.

Two controllers running one search (a ``controller search --resume`` while ``controller serve``
runs it, or two terminals) would measure the same candidates twice and overwrite each other's
progress. So a runner takes the search's lease in the store before it writes anything, renews
it every ``heartbeat_s`` from a thread of its own (so that a busy event loop cannot starve it)
and gives it back when it ends. Another process is refused with :class:`SearchConflict`
naming the holder, unless the holder is gone: a process on this same host that no longer
exists (a controller killed with SIGKILL, or a crashed machine's reboot), or any holder whose
last heartbeat is older than ``stale_after_s`` (another host that stopped, or slept).

A holder that finds its lease taken over (it was stale: the laptop slept) stops at once
without writing: ``on_lost`` is called from the heartbeat thread and :attr:`RunnerLease.lost`
is set. The heartbeat thread shares the runner's :class:`Store` (thread-safe: each call is a
session of its own).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from lts.controller.store import LeaseRecord, SearchDeviceRecord, SearchRecord, Store
from lts.shared.errors import LTSError

logger = logging.getLogger(__name__)

HEARTBEAT_S = 10.0
STALE_AFTER_S = 60.0


def process_exists(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OSError:
        return True  # cannot tell: assume it runs (never take a live search over)
    return True


def holder_gone(held: LeaseRecord, stale_after_s: float = STALE_AFTER_S) -> bool:
    """Whether the holder of ``held`` has stopped running its search: its process no longer
    exists on this host, or its last heartbeat is older than ``stale_after_s``."""
    if held.host == socket.gethostname() and not process_exists(held.pid):
        return True
    return (datetime.now(UTC) - held.heartbeat_at).total_seconds() > stale_after_s


#: Statuses of a search or device that claim a runner is at work on it.
LIVE_STATUSES = frozenset({"running", "waiting"})


def shown_status(status: str, lease: LeaseRecord | None, *, here: bool = False) -> str:
    """The status to show for a search stored with ``status``: one that claims to run
    (``running``) while no live process holds its lease (its runner was killed, or stopped
    without writing its status: a full disk) is ``interrupted``, resumable. ``here``: this
    process runs it (it may not hold the lease yet)."""
    if status in LIVE_STATUSES and not here and (lease is None or holder_gone(lease)):
        return "interrupted"
    return status


def shown_device_status(device_status: str, search_status: str) -> str:
    """A device's status to show in a search shown with ``search_status``: a device that
    claims to be measuring in a search that no longer runs is ``interrupted``."""
    if device_status in LIVE_STATUSES and search_status not in LIVE_STATUSES:
        return "interrupted"
    return device_status


def live_search(store: Store, search: SearchRecord, *, here: bool = False) -> SearchRecord:
    """``search`` with the status that tells the truth: stored ``running`` while no live
    process holds its lease (its runner was killed or could not write) reads ``interrupted``
    (:func:`shown_status`; ``here``: this process runs it)."""
    if search.status not in LIVE_STATUSES:
        return search
    status = shown_status(search.status, store.lease(search.id), here=here)
    return search if status == search.status else replace(search, status=status)


def live_devices(store: Store, search: SearchRecord) -> list[SearchDeviceRecord]:
    """The search's devices; those still marked measuring in a search shown as no longer
    running (``search`` as :func:`live_search` returns it) read ``interrupted``."""
    return [
        replace(d, status=shown_device_status(d.status, search.status))
        for d in store.search_devices(search.id)
    ]


class RunnerLease:
    """The lease of ``search_id`` for this process: :meth:`acquire`, then :meth:`release`."""

    def __init__(
        self,
        store: Store,
        search_id: int,
        *,
        heartbeat_s: float = HEARTBEAT_S,
        stale_after_s: float = STALE_AFTER_S,
        on_lost: Callable[[], object] | None = None,  # what it returns is not used
    ) -> None:
        if not 0 < heartbeat_s < stale_after_s:
            raise ValueError("the heartbeat must be shorter than the staleness limit")
        self.store = store
        self.search_id = search_id
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.on_lost: Callable[[], object] = on_lost or (lambda: None)
        self.owner = uuid.uuid4().hex
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def gone(self, held: LeaseRecord) -> bool:
        """Whether the holder of ``held`` has stopped running the search."""
        return holder_gone(held, self.stale_after_s)

    def acquire(self) -> None:
        """Take the lease and start the heartbeat. Raises :class:`SearchConflict`."""
        previous = self.store.acquire_lease(
            self.search_id, self.owner, self.host, self.pid, self.gone
        )
        if previous is not None:
            logger.warning(
                "search %d: took over from process %d on %s (gone since %s)",
                self.search_id, previous.pid, previous.host, previous.heartbeat_at,
            )  # fmt: skip
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._beat, name=f"lease-{self.search_id}", daemon=True
        )
        self._thread.start()

    def release(self) -> None:
        """Stop the heartbeat and give the lease back (kept by whoever took it over)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.heartbeat_s + 5)
            self._thread = None
        if not self.lost:
            try:
                self.store.release_lease(self.search_id, self.owner)
            except LTSError as exc:  # it goes stale on its own
                logger.warning("search %d: could not release the lease: %s", self.search_id, exc)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                held = self.store.renew_lease(self.search_id, self.owner)
            except LTSError as exc:  # a busy or unreachable store: try again next beat
                logger.warning("search %d: heartbeat failed: %s", self.search_id, exc)
                continue
            if not held:
                self.lost = True
                logger.error(
                    "search %d: another controller took this search over (this one missed its "
                    "heartbeats for over %.0f s); stopping without writing",
                    self.search_id, self.stale_after_s,
                )  # fmt: skip
                self.on_lost()
                return
