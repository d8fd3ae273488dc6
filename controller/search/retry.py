"""Calls to one agent that wait out its unavailability: retries with backoff, and hard failure.

While the agent cannot be reached (connection refused, timeouts, 5xx, 429) a :class:`Retrier`
retries with exponential backoff and reports the agent as *waiting*; once it answers again the
call returns as if nothing happened. If the agent stays unreachable for ``fail_after_s``,
:class:`AgentGone` ends the call with a clear message: the time counts from the start of the
first request that got no answer, and no request may outlast what is left of it, so an agent
that answers too slowly, or never stops answering, fails as surely as one that does not answer
at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from lts.controller.client import AgentUnavailable
from lts.shared.errors import AgentError

logger = logging.getLogger(__name__)

T = TypeVar("T")


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


class Retrier:
    """Retries calls to the agent ``label`` under ``policy``. ``on_waiting(reason)`` is called
    when the agent becomes unreachable (a reason) and when it is back (None); ``clock`` gives
    the time in seconds. Not thread safe: one event loop."""

    def __init__(
        self,
        label: str,
        policy: RetryPolicy,
        on_waiting: Callable[[str | None], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.policy = policy
        self._on_waiting = on_waiting or (lambda reason: None)
        self._clock = clock
        self._waiting = False

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """``await fn()``, retrying while the agent is unavailable (see the module doc)."""
        down_since: float | None = None
        delay = self.policy.first_delay_s
        while True:
            started = self._clock()
            left = self.policy.fail_after_s - (started - (down_since or started))
            try:
                try:
                    async with asyncio.timeout(max(left, 0.0)):
                        result = await fn()
                except TimeoutError:
                    raise AgentUnavailable(
                        f"agent {self.label}: no complete answer within {left:.0f} s"
                    ) from None
            except AgentUnavailable as exc:
                now = self._clock()
                down_since = started if down_since is None else down_since
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
