"""What an agent's finished item must say before the evaluation layer stores it.

An agent is a remote party: a bug, a version skew or a hostile process on its port could report
a result of another architecture, under other settings, or figures no device can measure. Every
finished item is checked against what was sent (:func:`check_item`); a violation is an
:class:`~lts.controller.search.dispatch.AgentProtocolError`, which ends that device's work with one
line (the other devices go on) and stores nothing of the item.
"""

from __future__ import annotations

import math

from lts.controller.search.dispatch import AgentProtocolError
from lts.shared.config import ArchConfig
from lts.shared.schemas import JobItemPublic, LatencyStats, MeasureSettings

#: Physical bounds of a figure: one forward pass of at most an hour, at most 2^30 MB (a
#: petabyte) of memory. Anything beyond is not a measurement.
MAX_LATENCY_MS = 3_600_000.0
MAX_MEMORY_MB = float(2**30)
_STATS = ("median", "p10", "p90", "mean", "min")


def check_item(item: JobItemPublic, cfg: ArchConfig, settings: MeasureSettings, agent: str) -> None:
    """Raise :class:`AgentProtocolError` unless ``item`` (one that ended: done, failed or
    rejected) is about ``cfg`` measured with ``settings`` and its figures are finite,
    non-negative and within :data:`MAX_LATENCY_MS` / :data:`MAX_MEMORY_MB`. ``agent`` names
    the agent in the message."""
    what = f"agent {agent} answered for {cfg.arch_id}"
    if item.arch_id is not None and item.arch_id != cfg.arch_id:
        raise AgentProtocolError(f"{what} with the result of {item.arch_id}")
    if item.settings is not None and item.settings != settings:
        changed = _diff(item.settings, settings)
        raise AgentProtocolError(f"{what} with other settings than sent: {changed}")
    result = item.result
    if result is None:
        return
    if result.arch_id != cfg.arch_id:
        raise AgentProtocolError(f"{what} with the result of {result.arch_id}")
    if result.settings != settings:
        raise AgentProtocolError(
            f"{what} with a result under other settings than sent: "
            f"{_diff(result.settings, settings)}"
        )
    problem = _latency_problem(result.latency_ms)
    if problem is None and result.decode_latency_ms is not None:
        problem = _latency_problem(result.decode_latency_ms)
        problem = None if problem is None else f"{problem} (decode)"
    memory = result.peak_memory_mb
    if problem is None and memory is not None and not _within(memory, MAX_MEMORY_MB):
        problem = f"a peak memory of {memory!r} MB"
    if problem is not None:
        raise AgentProtocolError(f"{what} with {problem}, which no device measures")


def _latency_problem(stats: LatencyStats) -> str | None:
    for name in _STATS:
        value = getattr(stats, name)
        if not _within(value, MAX_LATENCY_MS):
            return f"a latency {name} of {value!r} ms"
    if not math.isfinite(stats.cv) or stats.cv < 0:
        return f"a coefficient of variation of {stats.cv!r}"
    if stats.n < 1 or len(stats.samples) > stats.n:
        return f"{stats.n} timed runs and {len(stats.samples)} samples"
    bad = next((x for x in stats.samples if not _within(x, MAX_LATENCY_MS)), None)
    if bad is not None:
        return f"a latency sample of {bad!r} ms"
    return None


def _within(value: float, upper: float) -> bool:
    return math.isfinite(value) and 0 <= value <= upper


def _diff(got: MeasureSettings, sent: MeasureSettings) -> str:
    a, b = dict(got), dict(sent)  # every field (a dump leaves unchanged extensions out)
    return ", ".join(f"{k} {a[k]!r} (sent {b[k]!r})" for k in a if a[k] != b[k])[:300]
