"""Which candidates need a measurement, and which need a precise one: pure decisions.

A candidate's objectives are its proxy (exact: computed from the config), its latency and its
peak memory. Each estimate below carries a point value and a relative uncertainty per
measured objective: 0 for a full measurement (taken as exact), the cost model's margin for a
prediction, the quick protocol's observed error for a quick measurement. Its *optimistic*
point is every value at its best end, its *pessimistic* point at its worst end.

* :func:`screen`: a candidate known only by prediction is not worth measuring when even its
  optimistic point is dominated by a measured frontier member.
* :func:`to_refine`: of the quickly measured candidates, those whose optimistic point no other
  point's pessimistic one dominates may belong to the frontier; they are measured again with
  the full protocol. The others are settled as dominated: their point values are dominated
  too, so they can never be frontier members.

Domination: at least as good in every objective (proxy higher or lower as the proxy says;
latency and memory lower), and not equal in all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """What is known of one candidate's objectives (see the module doc)."""

    arch_id: str
    proxy: float
    latency_ms: float
    memory_mb: float
    latency_rel: float = 0.0
    memory_rel: float = 0.0

    def best(self) -> tuple[float, float]:
        return (self.latency_ms * (1 - self.latency_rel), self.memory_mb * (1 - self.memory_rel))

    def worst(self) -> tuple[float, float]:
        return (self.latency_ms * (1 + self.latency_rel), self.memory_mb * (1 + self.memory_rel))


def dominates(by: Estimate, target: Estimate, higher_is_better: bool) -> bool:
    """Whether ``by`` dominates ``target`` for sure: ``by`` at its worst (pessimistic) against
    ``target`` at its best (optimistic)."""
    if by.arch_id == target.arch_id:
        return False
    (lat_b, mem_b), (lat_t, mem_t) = by.worst(), target.best()
    p_b, p_t = (by.proxy, target.proxy) if higher_is_better else (-by.proxy, -target.proxy)
    if not (p_b >= p_t and lat_b <= lat_t and mem_b <= mem_t):
        return False
    return p_b > p_t or lat_b < lat_t or mem_b < mem_t


def screen(
    predicted: Iterable[Estimate], frontier: Sequence[Estimate], higher_is_better: bool
) -> set[str]:
    """The predicted candidates that a frontier member dominates even at their best."""
    return {
        c.arch_id for c in predicted if any(dominates(f, c, higher_is_better) for f in frontier)
    }


def to_refine(
    pending: Sequence[Estimate], rivals: Sequence[Estimate], higher_is_better: bool
) -> set[str]:
    """The ``pending`` (uncertain) candidates that no rival dominates for sure (each rival at
    its worst: exact points as they are, other pending ones at the end of their uncertainty).
    The rivals are the points that could be frontier members (the feasible ones)."""
    return {
        c.arch_id for c in pending if not any(dominates(r, c, higher_is_better) for r in rivals)
    }
