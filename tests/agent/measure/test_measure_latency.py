"""The latency protocol, driven by a fake timed function and a fake clock (no torch)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from lts.agent.measure.latency import (
    latency_stats,
    median_ci_ranks,
    median_ci_rel,
    run_protocol,
    run_protocol_for,
)
from lts.shared.schemas import MeasureSettings


class FakeTimer:
    """A clock that only the fake runs advance; each run lasts the next duration given."""

    def __init__(self, durations: Iterator[float], overhead_s: float = 0.0) -> None:
        self.now = 100.0
        self.durations = durations
        self.overhead_s = overhead_s
        self.calls = 0

    def clock(self) -> float:
        return self.now

    def run(self) -> float:
        d = next(self.durations)
        self.now += d + self.overhead_s
        self.calls += 1
        return d


def constant(value: float) -> Iterator[float]:
    while True:
        yield value


def noisy(median: float, rel_sd: float, seed: int = 0) -> Iterator[float]:
    rng = np.random.default_rng(seed)
    while True:
        yield float(median * (1 + rel_sd * rng.standard_normal()))


def protocol(timer: FakeTimer, **overrides: float) -> Callable[[], object]:
    params: dict[str, float] = dict(
        warmup_runs=3, warmup_s=0.5, min_runs=10, min_time_s=1.0, target_rel_ci=0.02,
        time_budget_s=10.0,
    )  # fmt: skip
    params.update(overrides)
    return run_protocol(timer.run, clock=timer.clock, **params)  # type: ignore[arg-type]


def test_ci_ranks_match_the_binomial_order_statistics() -> None:
    assert median_ci_ranks(5) is None  # 2 / 2**5 > 0.05: no 95% interval from 5 samples
    assert median_ci_ranks(6) == (0, 5)
    assert median_ci_ranks(10) == (1, 8)  # x(2)..x(9), coverage 97.9%
    assert median_ci_ranks(100) == (39, 60)  # the textbook x(40)..x(61)
    lo, hi = median_ci_ranks(5000)  # normal approximation
    assert lo + hi == 4999 and 2429 <= lo <= 2431


def test_ci_covers_the_true_median_about_95_percent() -> None:
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(400):
        xs = sorted(rng.exponential(1.0, size=25))
        lo, hi = median_ci_ranks(25)
        hits += xs[lo] <= math.log(2) <= xs[hi]
    assert 0.92 <= hits / 400 <= 0.995


def test_stats_are_correct_and_in_milliseconds() -> None:
    samples = [0.001, 0.002, 0.003, 0.004, 0.010]
    stats = latency_stats(samples)
    assert stats.median == pytest.approx(3.0)
    assert stats.mean == pytest.approx(4.0)
    assert stats.min == pytest.approx(1.0)
    assert stats.p10 == pytest.approx(np.percentile([1, 2, 3, 4, 10], 10))
    assert stats.p90 == pytest.approx(np.percentile([1, 2, 3, 4, 10], 90))
    assert stats.cv == pytest.approx(statistics.stdev([1, 2, 3, 4, 10]) / 4.0)
    assert stats.n == 5 and stats.samples == pytest.approx([1, 2, 3, 4, 10])


def test_stable_timings_stop_at_the_minimums() -> None:
    timer = FakeTimer(constant(0.0625))  # exact in binary: no rounding at the boundaries
    out = protocol(timer)
    assert out.stop_reason == "converged"
    assert out.warmup_runs == 8  # 0.5 s of warm-up at 62.5 ms per run (> 3 runs)
    assert out.stats.n == 16  # 1 s of timed runs (> 10 runs), median known exactly
    assert out.stats.median == pytest.approx(62.5)
    assert out.stats.cv == pytest.approx(0.0)
    assert out.timed_s == pytest.approx(1.0)


def test_slow_runs_keep_the_minimum_run_counts() -> None:
    timer = FakeTimer(constant(0.4))
    out = protocol(timer)
    assert out.warmup_runs == 3 and out.stats.n == 10
    assert out.stop_reason == "converged"


def test_noise_needs_more_runs_until_the_median_is_known() -> None:
    out = protocol(FakeTimer(noisy(0.01, 0.10)), time_budget_s=100.0)
    assert out.stop_reason == "converged"
    assert out.ci_rel is not None and out.ci_rel <= 0.02
    # +-2% on the median with 10% noise needs far more than the 100 runs of the minimum time.
    assert out.stats.n > 100
    assert out.stats.median == pytest.approx(10.0, rel=0.03)
    assert 0.07 < out.stats.cv < 0.13


def test_budget_is_respected_when_the_median_never_settles() -> None:
    timer = FakeTimer(noisy(0.05, 0.8), overhead_s=0.001)
    out = protocol(timer, time_budget_s=3.0)
    assert out.stop_reason == "budget"
    assert timer.now - 100.0 <= 3.0 + 1e-9  # the next run would have ended past the budget
    assert out.warmup_s + out.timed_s <= 3.0 + 1e-9


def test_warmup_takes_at_most_a_third_of_the_budget() -> None:
    timer = FakeTimer(constant(1.0))
    out = protocol(timer, time_budget_s=10.0)
    assert out.warmup_runs == 3  # a 4th run would end past 10/3 s
    assert out.stats.n == 7 and out.stop_reason == "budget"  # 3 + 7 runs = the 10 s budget


def test_one_warmup_run_and_one_timed_run_always_happen() -> None:
    timer = FakeTimer(constant(2.0))
    out = protocol(timer, time_budget_s=3.0)
    assert out.warmup_runs == 1
    assert out.stats.n == 1 and out.stop_reason == "budget"


def test_max_runs_bounds_the_samples() -> None:
    out = protocol(FakeTimer(noisy(0.001, 2.0)), time_budget_s=1e6, target_rel_ci=1e-9)
    assert out.stop_reason == "max_runs" and out.stats.n == 10_000


def test_settings_drive_the_protocol() -> None:
    settings = MeasureSettings(warmup_runs=2, warmup_s=0.0, min_runs=7, min_time_s=0.0)
    timer = FakeTimer(constant(0.1))
    out = run_protocol_for(timer.run, settings, clock=timer.clock)
    assert (out.warmup_runs, out.stats.n) == (2, 7)


def test_ci_rel_is_none_for_few_samples() -> None:
    assert median_ci_rel([1.0, 2.0, 3.0]) is None
    assert median_ci_rel([1.0] * 6) == 0.0
