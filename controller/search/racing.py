"""Which candidates need a measurement, and which need a precise one: pure decisions.

A candidate's objectives are a vector (the search's :class:`~lts.shared.objectives.ObjectiveSet`:
the proxy, exact since it is computed from the config, then the measured ones). Each estimate
below carries that vector *to minimise* (maximised objectives negated) and a relative
uncertainty per objective: 0 for a full measurement (taken as exact) and for the proxy, the
cost model's margin for a prediction, the quick protocol's observed error for a quick
measurement of a timed objective. Its *optimistic* point is every value at its best end, its
*pessimistic* point at its worst end.

* :func:`screen`: a candidate known only by prediction is not worth measuring when even its
  optimistic point is dominated by a measured frontier member.
* :func:`to_refine`: a quickly measured candidate is settled when its uncertainty cannot
  change the frontier's membership: dominated for sure (another point at its worst dominates
  it at its best), or a member for sure (no point at its best dominates it at its worst). It
  is measured again with the full protocol when its membership, or that of a point it could
  dominate, is open.

Domination: at least as good in every objective, and better in one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """What is known of one candidate's objectives (see the module doc): ``values`` to
    minimise, in the search's objective order, and their relative uncertainties ``rel``
    (empty: all exact)."""

    arch_id: str
    values: tuple[float, ...]
    rel: tuple[float, ...] = ()

    def _bound(self, sign: float) -> tuple[float, ...]:
        rel = self.rel or (0.0,) * len(self.values)
        return tuple(v + sign * abs(v) * r for v, r in zip(self.values, rel, strict=True))

    def best(self) -> tuple[float, ...]:
        return self._bound(-1.0)

    def worst(self) -> tuple[float, ...]:
        return self._bound(1.0)


def _dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def dominates(by: Estimate, target: Estimate) -> bool:
    """Whether ``by`` dominates ``target`` for sure: ``by`` at its worst (pessimistic)
    against ``target`` at its best (optimistic)."""
    return by.arch_id != target.arch_id and _dominates(by.worst(), target.best())


def may_dominate(by: Estimate, target: Estimate) -> bool:
    """Whether ``by`` could dominate ``target``: ``by`` at its best against ``target`` at its
    worst."""
    return by.arch_id != target.arch_id and _dominates(by.best(), target.worst())


def screen(predicted: Iterable[Estimate], frontier: Sequence[Estimate]) -> set[str]:
    """The predicted candidates that a frontier member dominates even at their best."""
    return {c.arch_id for c in predicted if any(dominates(f, c) for f in frontier)}


def to_refine(pending: Sequence[Estimate], rivals: Sequence[Estimate]) -> set[str]:
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
        if any(dominates(r, target) for r in rivals):
            continue
        open_by = [r.arch_id for r in rivals if may_dominate(r, target)]
        if open_by:
            refine.update(a for a in (target.arch_id, *open_by) if a in waiting)
    return refine
