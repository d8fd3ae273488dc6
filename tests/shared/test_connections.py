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


def test_the_connection_limit_leaves_room_under_the_file_limit():
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert connection_limit(100) == 100
    assert connection_limit(10**9) <= max(16, soft - 128)
    with pytest.raises(ValueError):
        guarded_protocol(header_timeout_s=0, max_connections=10)
