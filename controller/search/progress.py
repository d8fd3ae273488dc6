"""What a device's search shows of itself while it runs (:class:`DeviceProgress`), and the
status a search ends in when an error stops it (:func:`stopped_by`)."""

from __future__ import annotations

from dataclasses import dataclass

from lts.shared.errors import StoreUnavailable


@dataclass(frozen=True)
class DeviceProgress:
    """A device's progress, as shown live. ``iteration``: iterations completed;
    ``measured``/``cache_hits``: this run's new measurements and cache hits; ``waiting``:
    why the agent cannot be reached now (None when it can); ``screened``: this run's
    candidates screened out by the cost model; ``cost_error``: the cost model's latency error
    (MdAPE, a fraction; None: no model yet); ``final_done``/``final_total``: the final
    phase's measurements done and planned; ``started_s``/``phase_s``: monotonic times the
    search and the current phase began (for elapsed times and estimates)."""

    position: int
    agent: str
    device: str | None = None
    phase: str = "connecting"
    iteration: int = 0
    iterations: int = 0
    measured: int = 0
    cache_hits: int = 0
    screened: int = 0
    cost_error: float | None = None
    hypervolume: float | None = None
    frontier_size: int = 0
    waiting: str | None = None
    message: str | None = None
    final_done: int = 0
    final_total: int = 0
    started_s: float = 0.0
    phase_s: float = 0.0


def stopped_by(exc: BaseException, search_id: int) -> tuple[str, str]:
    """The status and message of a search that an error stopped: ``interrupted`` (resumable
    as it is) for a store that cannot take writes now, else ``failed``."""
    resume = f"resume with --resume {search_id}"
    if isinstance(exc, StoreUnavailable):
        return "interrupted", f"the store stopped taking writes: {exc}; {resume} once it does"
    return "failed", f"the search stopped on an error: {type(exc).__name__}: {exc}; {resume}"
