"""A service's successful reads are logged at DEBUG, its writes and failures at INFO (the
agent logged every poll of the controller at INFO: 3.5 MB in 45 minutes)."""

from __future__ import annotations

import logging

import pytest

from lts.shared.web import QuietReads


def access(method: str, status: int) -> logging.LogRecord:
    """A record as uvicorn's access logger makes it."""
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", method, "/jobs/1?since=3", "1.1", status),
        None,
    )


@pytest.mark.parametrize(("level", "shown"), [(logging.INFO, False), (logging.DEBUG, True)])
def test_a_poll_is_logged_at_debug(level: int, shown: bool) -> None:
    logger = logging.getLogger("uvicorn.access")
    before = logger.level
    logger.setLevel(level)
    try:
        record = access("GET", 200)
        assert QuietReads().filter(record) is shown
        assert record.levelno == logging.DEBUG and record.levelname == "DEBUG"
        for method, status in (("POST", 202), ("DELETE", 200), ("GET", 404), ("GET", 500)):
            record = access(method, status)
            assert QuietReads().filter(record) is True and record.levelno == logging.INFO
    finally:
        logger.setLevel(before)
