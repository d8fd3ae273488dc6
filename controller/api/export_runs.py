"""Model-file exports (``GET /searches/{id}/export?format=pt|onnx``) as the API builds them:
bounded, cancellable, and never left behind on disk.

An export of model files costs what the models weigh (an untrained 200 M-parameter model is
800 MB of weights, built in memory, then written). :class:`ExportRuns` therefore

* refuses an export over the server's parameter budget (``export_max_params``; 422 naming
  ``ids``) or over the free disk (507), before building anything;
* builds at most ``max_exports`` at once (one more is a 429 with Retry-After), in a worker
  thread, one model at a time (:func:`lts.controller.exports.bundle`);
* stops between two models once the client has gone or the server stops (the thread checks);
* builds each export in a folder of its own (``lts-export-<pid>-...`` under the temporary
  folder), removed when the answer has been sent, when the export fails or stops, and, for a
  process that was killed, by the next server that starts (folders of processes that are no
  longer running are swept at start).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Protocol

from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from lts.controller import exports
from lts.shared.errors import BuildError, LTSError

logger = logging.getLogger(__name__)

PREFIX = "lts-export-"
_OWNED = re.compile(rf"^{PREFIX}(\d+)-")
#: How often the client's connection is looked at while an export is built.
POLL_S = 0.5


class ExportsBusy(LTSError):
    """As many exports as the server builds at once are being built."""


class DiskTooSmall(LTSError):
    """The free disk cannot hold the export."""


class Disconnectable(Protocol):
    async def is_disconnected(self) -> bool: ...


class ExportRuns:
    """The model-file exports of one server (thread-safe). ``root``: where the work folders
    go (default: the temporary folder)."""

    def __init__(self, *, max_exports: int = 1, max_params: int, root: str | None = None) -> None:
        self.max_params = max_params
        self.root = root or tempfile.gettempdir()
        self._slots = threading.BoundedSemaphore(max_exports)
        self._closed = threading.Event()
        self.building = 0  # exports whose thread runs now (for tests and logs)
        self._lock = threading.Lock()
        sweep_stale(self.root)

    def close(self) -> None:
        """Stop the exports being built (each stops before its next model and removes its
        folder)."""
        self._closed.set()

    async def build(
        self, sel: exports.Selection, fmt: str, seed: int, client: Disconnectable
    ) -> Response:
        """The export of ``sel`` in ``fmt`` (``pt`` or ``onnx``) as a file answer whose folder
        is removed once it is sent. Raises ConfigError (over the budget), ExportsBusy,
        DiskTooSmall or BuildError; stops, and answers 503, if ``client`` disconnects."""
        exports.check_cost(sel, fmt, self.max_params)
        if not self._slots.acquire(blocking=False):
            raise ExportsBusy("another export is being built; try again once it is done")
        try:
            work = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=self.root)
        except BaseException:
            self._slots.release()
            raise
        cancel = threading.Event()
        try:
            try:
                exports.check_disk(sel, work)
            except BuildError as exc:
                raise DiskTooSmall(str(exc)) from None
            thread = asyncio.ensure_future(
                asyncio.to_thread(self._run, sel, fmt, work, seed, cancel)
            )
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            self._slots.release()
            raise
        try:
            while not thread.done():
                await asyncio.wait({thread}, timeout=POLL_S)
                if not thread.done() and await client.is_disconnected():
                    cancel.set()
                    logger.info("export of search %d: the client left; stopping",
                                sel.search_id)  # fmt: skip
            path, media = thread.result()
        except exports.ExportCancelled:
            return Response("export cancelled: the client left", 503)
        except BaseException:  # failed, or this request was cancelled (the server stops)
            cancel.set()  # the thread stops before its next model and removes the folder
            thread.add_done_callback(lambda _: shutil.rmtree(work, ignore_errors=True))
            raise
        cleanup = BackgroundTask(shutil.rmtree, work, ignore_errors=True)
        return FileResponse(path, media_type=media, filename=path.name, background=cleanup)

    def _run(
        self, sel: exports.Selection, fmt: str, work: str, seed: int, cancel: threading.Event
    ) -> tuple[Path, str]:
        """Build the export in this worker thread; on any failure or stop, remove ``work``;
        free the export's slot when done either way."""
        with self._lock:
            self.building += 1
        try:
            return exports.bundle(
                sel, fmt, work, seed=seed,
                cancelled=lambda: cancel.is_set() or self._closed.is_set(),
            )  # fmt: skip
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        finally:
            with self._lock:
                self.building -= 1
            self._slots.release()


def sweep_stale(root: str) -> list[str]:
    """Remove the export folders under ``root`` that processes no longer running left behind
    (a server killed mid-export); return their names."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        match = _OWNED.match(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        if _running(int(match.group(1))):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.name)
    if removed:
        logger.info("removed %d export folder(s) left by stopped servers: %s", len(removed),
                    ", ".join(removed))  # fmt: skip
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
