"""Connection hygiene of both HTTP services: idle sockets must not starve real requests.

uvicorn closes a keep-alive connection that stays idle after a response, but a connection that
is opened and never sends a complete request head is kept forever, and it costs a file
descriptor. Enough of them (1,100 with a file limit of 1024) made accept() fail with EMFILE:
real requests timed out, measurement helpers could not open their sockets, and asyncio logged
a traceback for every failed accept (over 100,000 in a few seconds). Three defences:

* :func:`guarded_protocol`: uvicorn's h11 protocol with a *header deadline* (a connection must
  deliver a complete request head within ``header_timeout_s`` of opening, and each next one
  within ``header_timeout_s`` of the response before it, or it is closed: a deadline, which
  bytes trickling in do not push back) and a *connection limit* (past ``max_connections``
  open connections, the longest-open idle ones are closed to make room; a new connection is
  refused only when none is idle). A request body has a deadline of its own, and the requests
  reading one are counted (:class:`lts.shared.boundary.BodyGuard`), so that they cannot hold every
  connection either; of a body refused before it was read, at most :data:`DISCARD_LIMIT`
  bytes are read (and dropped);
* :func:`raise_open_files_limit`: the soft RLIMIT_NOFILE raised to the hard limit at start;
* :class:`LoopErrorLog`: the event loop's error handler, which logs each kind of error (e.g.
  "socket.accept() out of system resource") once per ``window_s``, in one line with a count of
  the repeats, instead of a traceback per occurrence.

This module imports uvicorn (so only the services import it, through :mod:`lts.shared.web`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: How many bytes of a body the app refused without reading (a 401 or 400 answered before
#: the body) are still read and dropped, so that a client which sent a small body sees its
#: answer and keeps its connection; past this the connection stops reading, and the head
#: deadline closes it. A client sending megabytes of a refused body costs no more. The app
#: may allow more for one request (``scope[DISCARD_KEY]``: a 413 to a client that holds the
#: token, which sends its whole body before it reads the answer).
DISCARD_LIMIT = 64 * 1024
DISCARD_KEY = "lts.discard_bytes"

#: File descriptors kept for the service itself (its libraries, log files, helper sockets,
#: the database) when the connection limit is derived from the file limit.
SERVICE_FDS = 128

#: Descriptors of connections not yet counted, per connection of the accept backlog. asyncio
#: accepts up to ``backlog`` connections per loop tick, but a connection is counted (and can
#: make room) only two ticks later, when its protocol's ``connection_made`` runs, and the
#: connections it closes to make room release their descriptors a tick after that: up to
#: three ticks of accepts are open beside the counted ones, four with a margin. With 1,100
#: idle clients against a file limit of 1,024 and only 256 descriptors kept, the agent peaked
#: at 906-985 open descriptors here and hit EMFILE on a loaded machine.
ACCEPT_TICKS = 4


def raise_open_files_limit() -> tuple[int, int]:
    """Raise this process's soft limit of open files to its hard limit; return the limits
    ``(soft, hard)`` now in force. Never fails: a limit that cannot be raised is kept."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == hard:
        return soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft, hard
    return hard, hard


def connection_limit(max_connections: int, backlog: int) -> int:
    """``max_connections``, lowered where the soft file limit would not leave the service
    :data:`SERVICE_FDS` descriptors plus :data:`ACCEPT_TICKS` x ``backlog`` for connections
    accepted but not yet counted (at least 16)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return max_connections
    return max(16, min(max_connections, soft - SERVICE_FDS - ACCEPT_TICKS * backlog))


def guarded_protocol(*, header_timeout_s: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol class with the header time-out and the connection limit (see
    the module docstring); pass it as ``uvicorn.Config(http=...)``."""
    if header_timeout_s <= 0 or max_connections < 1:
        raise ValueError("header_timeout_s must be > 0 and max_connections >= 1")

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.opened_at = time.monotonic()
            self.discarded = 0  # bytes dropped of a body refused before it was read
            self.head_deadline: asyncio.TimerHandle | None = None
            self._arm_head_deadline()
            if len(self.connections) > max_connections:
                self._make_room()

        def _arm_head_deadline(self) -> None:
            """Close this connection ``header_timeout_s`` from now unless a new request has
            begun by then (uvicorn's own keep-alive timer is cancelled by any byte received;
            this one is not)."""
            if self.head_deadline is not None:
                self.head_deadline.cancel()
            waiting_after = self.cycle  # a new request replaces uvicorn's cycle
            self.head_deadline = self.loop.call_later(
                header_timeout_s, self._head_late, waiting_after
            )

        def _head_late(self, waiting_after: object) -> None:
            if self.cycle is waiting_after and self.is_idle():
                self.close_idle()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self.discarded = 0
                self._arm_head_deadline()

        def data_received(self, data: bytes) -> None:
            if self._refused_body_pending():
                self.discarded += len(data)
                assert self.cycle is not None
                limit = self.cycle.scope.get(DISCARD_KEY)
                if not isinstance(limit, int):
                    limit = DISCARD_LIMIT
                if self.discarded > limit:  # enough dropped: read no more of it
                    self.flow.pause_reading()
            super().data_received(data)

        def _refused_body_pending(self) -> bool:
            """The answer went out before the request's body was read (refused): what still
            arrives of that body is dropped."""
            return (
                self.cycle is not None
                and self.cycle.response_complete
                and self.conn.their_state is h11.SEND_BODY
            )

        def connection_lost(self, exc: Exception | None) -> None:
            if self.head_deadline is not None:
                self.head_deadline.cancel()
            super().connection_lost(exc)

        def is_idle(self) -> bool:
            """No request in progress on this connection."""
            return self.cycle is None or self.cycle.response_complete

        def close_idle(self) -> None:
            """Close this connection (it has no request in progress)."""
            if self.transport.is_closing():
                return
            with contextlib.suppress(h11.LocalProtocolError):  # e.g. a half-parsed head
                self.conn.send(h11.ConnectionClosed())
            self.transport.close()

        def _make_room(self) -> None:
            excess = len(self.connections) - max_connections
            idle = sorted(
                (
                    c
                    for c in self.connections
                    if c is not self and isinstance(c, GuardedH11Protocol) and c.is_idle()
                ),
                key=lambda c: c.opened_at,
            )
            for other in idle[:excess]:
                other.close_idle()
                self.connections.discard(other)
            if len(idle) < excess:  # every other connection is busy: refuse this one
                _limit_log.note(f"connection limit ({max_connections}) reached; refusing one")
                self.transport.close()
                self.connections.discard(self)
            elif idle:
                _limit_log.note(
                    f"connection limit ({max_connections}) reached; closed the longest-idle"
                )

    return GuardedH11Protocol


class _Condensed:
    """Logs a message at most once per ``window_s``, with the count of the repeats."""

    def __init__(self, logger: logging.Logger, window_s: float = 10.0) -> None:
        self.logger = logger
        self.window_s = window_s
        self._last: dict[str, float] = {}
        self._repeats: dict[str, int] = {}

    def note(self, text: str, level: int = logging.WARNING) -> bool:
        """Log ``text`` unless it was logged less than ``window_s`` ago; True if logged."""
        now = time.monotonic()
        last = self._last.get(text)
        if last is not None and now - last < self.window_s:
            self._repeats[text] = self._repeats.get(text, 0) + 1
            return False
        repeats = self._repeats.pop(text, 0)
        more = ""
        if repeats and last is not None:  # repeats are only counted after a first log
            more = f" ({repeats} more like it in the last {now - last:.0f} s)"
        self._last[text] = now
        self.logger.log(level, "%s%s", text, more)
        return True


_limit_log = _Condensed(logging.getLogger("lts.connections"))


class LoopErrorLog:
    """An asyncio exception handler (``loop.set_exception_handler``) that logs each kind of
    error once per ``window_s`` as one line (message, exception type and text), with the
    count of what it held back. A kind is the loop's message plus the exception's type."""

    def __init__(self, logger: logging.Logger, window_s: float = 10.0) -> None:
        self._log = _Condensed(logger, window_s)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        text = str(context.get("message") or "event loop error")
        if exc is not None:
            text = f"{text}: {type(exc).__name__}: {exc}"
        self._log.note(text, logging.ERROR)
