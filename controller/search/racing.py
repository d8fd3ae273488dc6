"""Which candidates need a measurement, and which need a precise one: pure decisions.

A candidate's objectives are its proxy (exact: computed from the config), its latency and its
peak memory. Each estimate below carries a point value and a relative uncertainty per
measured objective: 0 for a full measurement (taken as exact), the cost model's margin for a
prediction, the quick protocol's observed error for a quick measurement. Its *optimistic*
point is every value at its best end, its *pessimistic* point at its worst end.

* :func:`screen`: a candidate known only by prediction is not worth measuring when even its
  optimistic point is dominated by a measured frontier member.
* :func:`to_refine`: a quickly measured candidate is settled when its uncertainty cannot
  change the frontier's membership: dominated for sure (another point at its worst dominates
  it at its best), or a member for sure (no point at its best dominates it at its worst). It
  is measured again with the full protocol when its membership, or that of a point it could
  dominate, is open.

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


def may_dominate(by: Estimate, target: Estimate, higher_is_better: bool) -> bool:
    """Whether ``by`` could dominate ``target``: ``by`` at its best against ``target`` at its
    worst."""
    if by.arch_id == target.arch_id:
        return False
    flipped_by = Estimate(by.arch_id, by.proxy, *by.best())
    flipped_target = Estimate(target.arch_id, target.proxy, *target.worst())
    return dominates(flipped_by, flipped_target, higher_is_better)


def to_refine(
    pending: Sequence[Estimate], rivals: Sequence[Estimate], higher_is_better: bool
) -> set[str]:
    """The ``pending`` (uncertain) candidates to measure precisely: those whose membership
    of the frontier their uncertainty leaves open, and those whose uncertainty leaves open
    another point's membership.

    For each point (``rivals``, the points that could be frontier members, exact ones at
    their values, and the pending ones): if some rival dominates it for sure, it is out; if
    no rival could dominate it, it is in; else its membership is open, and every pending
    point among it and the rivals that could (but not surely) dominate it is refined."""
    waiting = {p.arch_id for p in pending}
    refine: set[str] = set()
    for target in {e.arch_id: e for e in (*rivals, *pending)}.values():
        if any(dominates(r, target, higher_is_better) for r in rivals):
            continue
        open_by = [r.arch_id for r in rivals if may_dominate(r, target, higher_is_better)]
        if open_by:
            refine.update(a for a in (target.arch_id, *open_by) if a in waiting)
    return refine
