"""The event loop's error log is condensed: one line per kind of error and window, never a
traceback per failed accept (149,280 of them in 10 s before)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from lts.shared.connections import LoopErrorLog, connection_limit, guarded_protocol


def test_loop_errors_are_logged_once_per_kind_and_window(caplog: pytest.LogCaptureFixture):
    handler = LoopErrorLog(logging.getLogger("test.loop"), window_s=60)
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.ERROR, logger="test.loop"):
            for _ in range(10_000):
                handler(loop, {"message": "socket.accept() out of system resource",
                               "exception": OSError(24, "Too many open files")})  # fmt: skip
            handler(loop, {"message": "another kind"})
    finally:
        loop.close()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "socket.accept() out of system resource: OSError: [Errno 24] Too many open files",
        "another kind",
    ]
    assert all(r.exc_info is None for r in caplog.records)


def test_the_connection_limit_leaves_room_under_the_file_limit(monkeypatch):
    from lts.shared import connections

    def limits(soft: int):
        monkeypatch.setattr(connections.resource, "getrlimit", lambda _: (soft, soft))

    limits(1024)  # the service's own 128, and 4 ticks of a 128-connection accept backlog
    assert connection_limit(1000, 128) == 1024 - 128 - 4 * 128
    assert connection_limit(1000, 64) == 1024 - 128 - 4 * 64
    assert connection_limit(100, 128) == 100
    limits(300)
    assert connection_limit(1000, 128) == 16  # never below 16
    limits(connections.resource.RLIM_INFINITY)
    assert connection_limit(1000, 128) == 1000
    with pytest.raises(ValueError):
        guarded_protocol(header_timeout_s=0, max_connections=10)
