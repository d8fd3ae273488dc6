"""How far a device's figures can be trusted: the measurements behind them taken on a busy
device or with wide spreads (:func:`reliability`), and the frontier's hypervolume against the
layer-scaled baselines' on one box (:func:`hypervolume_ratio`). See :mod:`lts.controller.report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lts.controller import pareto
from lts.controller.report.rows import ModelRow, _fraction
from lts.controller.store import MeasurementRecord
from lts.shared.objectives import ObjectiveSet

#: A device's figures are flagged unreliable when at least this share of the measurements
#: behind them ran on a busy device (load above its cores) ...
BUSY_SHARE = 0.5
#: ... or at least this share have a p10-p90 span wider than +-WIDE_SPAN of their median.
WIDE_SHARE = 0.25
WIDE_SPAN = 0.30


@dataclass(frozen=True)
class Reliability:
    """How far a device's shown figures can be trusted: of the ``measurements`` behind them,
    ``busy`` were taken while the device was busy (its load average above its cores: the
    run context's flag) and ``wide`` have a p10-p90 span wider than +-30% of their median
    (the first timed objective); ``warnings`` says so in words when either is most of them
    (:data:`BUSY_SHARE`, :data:`WIDE_SHARE`)."""

    measurements: int = 0
    busy: int = 0
    wide: int = 0
    warnings: tuple[str, ...] = ()


def reliability(
    device: str, ms: Sequence[MeasurementRecord], objectives: ObjectiveSet
) -> Reliability:
    """The :class:`Reliability` of ``device``'s figures from the measurements behind them."""
    ok = [m for m in ms if m.ok]
    timed = next((o.name for o in objectives.measured if o.timed), None)
    busy = sum(m.context.get("busy") is True for m in ok)
    wide = 0
    for m in ok:
        stats = m.stats.get(timed or "", {})
        median, p10, p90 = (_fraction(stats.get(k)) for k in ("median", "p10", "p90"))
        median = median if median is not None else m.values.get(timed or "")
        if median and p10 is not None and p90 is not None and (p90 - p10) > 2 * WIDE_SPAN * median:
            wide += 1
    n = len(ok)
    warnings = []
    if n and busy >= BUSY_SHARE * n:
        warnings.append(f"{busy} of the {n} measurements behind {device}'s figures were taken "
                        "while the device was busy (load average above its cores): timings "
                        "are noisy, compare them with care")  # fmt: skip
    if n and wide >= WIDE_SHARE * n:
        warnings.append(f"{wide} of the {n} measurements behind {device}'s figures have a "
                        f"p10-p90 span wider than +-{WIDE_SPAN:.0%} of their median: timings "
                        "are noisy (see each p90)")  # fmt: skip
    return Reliability(n, busy, wide, tuple(warnings))


def hypervolume_ratio(
    frontier: Sequence[ModelRow], baselines: Sequence[ModelRow], objectives: ObjectiveSet
) -> float | None:
    """The volume the frontier dominates over the volume the layer-scaled baselines
    dominate, both on one box: per objective (proxy included), from the best to the worst
    value of the two sets, stretched by 10% of the range past the worst. Above 1: the
    search found models better than scaling a standard model. None without both sets."""

    def vectors(rows: Sequence[ModelRow]) -> list[list[float]]:
        out = []
        for r in rows:
            values = [r.value(n) for n in objectives.names]
            if r.error is None and all(v is not None for v in values):
                out.append(objectives.minimised([float(v or 0.0) for v in values]))
        return out

    f, b = vectors(frontier), vectors(baselines)
    if not f or not b:
        return None
    both = np.array(f + b, dtype=np.float64)
    lo, hi = both.min(axis=0), both.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    ref = np.ones(len(lo)) + 0.1
    scaled = [(np.array(x) - lo) / span for x in (f, b)]
    hv_f, hv_b = (pareto.hypervolume(x, ref) for x in scaled)
    return hv_f / hv_b if hv_b > 0 else None
