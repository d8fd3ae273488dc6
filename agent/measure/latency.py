"""The latency protocol: warm-up, timed runs, a stopping rule on the median, statistics.

Pure and deterministic given its inputs: it calls a *timed function* (one inference, returning
its own duration in seconds) and reads a *clock* (seconds, monotonic) to keep track of the
time spent. Tests drive it with a fake timed function that advances a fake clock.

Protocol (the defaults are in :class:`lts.shared.schemas.MeasureSettings`):

1. Warm-up: runs until at least ``warmup_runs`` runs *and* ``warmup_s`` seconds are done. The
   warm-up never takes more than a third of ``time_budget_s`` (the timed samples matter more:
   with a large model, the budget would otherwise go to warm-up), but at least one warm-up run
   is made when ``warmup_runs >= 1``.
2. Timed runs: until at least ``min_runs`` runs *and* ``min_time_s`` seconds of timed runs are
   done *and* the 95% confidence interval of the median is within ``target_rel_ci * median`` on
   both sides ("converged"); or until the next run would end past ``time_budget_s`` counted from
   the start of the warm-up ("budget"; at least one timed run is always made); or after
   ``max_runs`` runs ("max_runs").

The confidence interval of the median is the distribution-free order-statistic interval
``[x_(r), x_(n-r+1)]`` with ``r`` the largest rank such that ``P(Binomial(n, 1/2) < r) <=
0.025`` (exact up to n = 1000, a normal approximation above). It needs n >= 6.
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lts.shared.schemas import MAX_SAMPLES, LatencyStats, MeasureSettings

#: Upper bound on timed runs (and on the raw samples returned): the median of 10k runs is
#: known far better than any target; the samples go over the wire.
DEFAULT_MAX_RUNS = MAX_SAMPLES

#: The largest share of the time budget that the warm-up may take.
WARMUP_SHARE = 1.0 / 3.0

_Z_975 = 1.959963984540054


@dataclass(frozen=True)
class ProtocolOutcome:
    """What one run of the protocol gives: the statistics and how they were obtained.

    ``warmup_s`` and ``timed_s`` are wall-clock seconds by the protocol's clock; ``ci_rel`` is
    the achieved relative half-width of the median's 95% interval (None when n < 6);
    ``stop_reason`` is ``converged``, ``budget`` or ``max_runs``.
    """

    stats: LatencyStats
    warmup_runs: int
    warmup_s: float
    timed_s: float
    stop_reason: str
    ci_rel: float | None


@functools.lru_cache(maxsize=4096)
def median_ci_ranks(n: int, confidence: float = 0.95) -> tuple[int, int] | None:
    """0-based indices ``(lo, hi)`` into ``n`` sorted samples bounding the median's interval.

    Returns None when n is too small for the requested confidence (n < 6 at 95%).
    """
    alpha_half = (1.0 - confidence) / 2.0
    if n <= 1000:
        # r = largest r with P(B <= r - 1) <= alpha/2, B ~ Binomial(n, 1/2).
        total = 2**n
        cdf = 0
        r = 0
        for k in range(n):
            cdf += math.comb(n, k)
            if cdf / total > alpha_half:
                break
            r = k + 1
    else:
        r = math.floor(n / 2.0 - _Z_975 * math.sqrt(n) / 2.0)
    if r < 1:
        return None
    return r - 1, n - r


def median_ci_rel(samples: Sequence[float], confidence: float = 0.95) -> float | None:
    """Relative half-width of the median's interval: ``max(med - lo, hi - med) / med``.

    The larger side is taken so that "within +-target" holds on both sides. None when there
    are too few samples; ``inf`` when the median is not positive.
    """
    ranks = median_ci_ranks(len(samples), confidence)
    if ranks is None:
        return None
    xs = sorted(samples)
    med = statistics.median(xs)
    if med <= 0:
        return math.inf
    return max(med - xs[ranks[0]], xs[ranks[1]] - med) / med


def latency_stats(samples_s: Sequence[float]) -> LatencyStats:
    """Statistics of run durations given in seconds, reported in milliseconds.

    ``cv`` is the sample standard deviation over the mean (0 for a single sample).
    """
    if not samples_s:
        raise ValueError("latency_stats needs at least one sample")
    ms = [s * 1e3 for s in samples_s]
    xs = sorted(ms)
    mean = statistics.fmean(ms)
    std = statistics.stdev(ms) if len(ms) > 1 else 0.0
    p10, p90 = np.quantile(xs, (0.10, 0.90))  # linear interpolation between samples
    return LatencyStats(
        median=statistics.median(xs),
        p10=float(p10),
        p90=float(p90),
        mean=mean,
        min=xs[0],
        cv=std / mean if mean > 0 else 0.0,
        n=len(ms),
        samples=ms,
    )


def _next_check(n: int) -> int:
    """When to test convergence next: every run up to 64, then every ~n/16 runs (the sort
    behind each test costs O(n log n); thousands of sub-millisecond runs must stay cheap)."""
    return n + 1 if n < 64 else n + max(1, n // 16)


def run_protocol(
    timed_run: Callable[[], float],
    *,
    warmup_runs: int,
    warmup_s: float,
    min_runs: int,
    min_time_s: float,
    target_rel_ci: float,
    time_budget_s: float,
    clock: Callable[[], float] = time.perf_counter,
    max_runs: int = DEFAULT_MAX_RUNS,
) -> ProtocolOutcome:
    """Run the protocol of the module docstring around ``timed_run`` (seconds per call)."""
    start = clock()
    deadline = start + time_budget_s
    warmup_cap = start + time_budget_s * WARMUP_SHARE
    n_warm = 0
    last = 0.0
    while n_warm < warmup_runs or clock() - start < warmup_s:
        if n_warm >= 1 and clock() + last > warmup_cap:
            break
        last = timed_run()
        n_warm += 1
    warm_end = clock()

    samples: list[float] = []
    reason = "max_runs"
    check_at = min_runs
    while len(samples) < max_runs:
        if samples and clock() + statistics.median(samples[-16:]) > deadline:
            reason = "budget"
            break
        samples.append(timed_run())
        n = len(samples)
        if n >= check_at and n >= min_runs and clock() - warm_end >= min_time_s:
            rel = median_ci_rel(samples)
            if rel is not None and rel <= target_rel_ci:
                reason = "converged"
                break
            check_at = _next_check(n)
    end = clock()
    return ProtocolOutcome(
        stats=latency_stats(samples),
        warmup_runs=n_warm,
        warmup_s=warm_end - start,
        timed_s=end - warm_end,
        stop_reason=reason,
        ci_rel=median_ci_rel(samples),
    )


def run_protocol_for(
    timed_run: Callable[[], float],
    settings: MeasureSettings,
    *,
    clock: Callable[[], float] = time.perf_counter,
    max_runs: int = DEFAULT_MAX_RUNS,
) -> ProtocolOutcome:
    """:func:`run_protocol` with the protocol's parameters taken from ``settings``."""
    return run_protocol(
        timed_run,
        warmup_runs=settings.warmup_runs,
        warmup_s=settings.warmup_s,
        min_runs=settings.min_runs,
        min_time_s=settings.min_time_s,
        target_rel_ci=settings.target_rel_ci,
        time_budget_s=settings.time_budget_s,
        clock=clock,
        max_runs=max_runs,
    )
