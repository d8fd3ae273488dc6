"""The end of a device search, as pure decisions: what to measure again, and the frontier a
finished search reports.

A search decides on quick measurements (:mod:`lts.controller.search.economy`); what it
reports should rest on the full protocol where that can change the answer, without measuring
every member again (in three objectives most candidates are frontier members). So:

* :func:`to_remeasure`: the points measured quickly whose uncertainty leaves the frontier's
  membership open (theirs or a point they could dominate: the racing rule,
  :func:`lts.controller.search.racing.to_refine`), and, first, the member each baseline's
  comparison picks (the fastest with at least the baseline's proxy), which every speed-up
  quotes; at most ``cap`` of them. Measured again with the final settings, one bounded
  measurement each;
* :func:`reported_frontier`: the frontier recomputed from the figures the search reports
  (each point's final figures where it has them, else its search-time ones), over every
  feasible point and the baselines: no reported member is dominated by another reported row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from lts.controller.pareto import frontier
from lts.controller.search.racing import Estimate, to_refine
from lts.shared.objectives import ObjectiveSet


@dataclass(frozen=True)
class Figure:
    """A point as the end of a search knows it: its objective ``values`` by name (the proxy
    included), whether they are ``quick`` (uncertain) ones or ``final`` ones (measured again
    at the end), whether it is ``feasible`` (within the bounds) and whether it is a
    ``baseline``."""

    arch_id: str
    values: Mapping[str, float]
    quick: bool = False
    feasible: bool = True
    baseline: bool = False
    final: bool = False


def _estimate(f: Figure, objectives: ObjectiveSet, rel: tuple[float, ...]) -> Estimate:
    raw = [f.values[n] for n in objectives.names]
    return Estimate(f.arch_id, tuple(objectives.minimised(raw)), rel if f.quick else ())


def picks(
    figures: Sequence[Figure], members: Sequence[str], objectives: ObjectiveSet
) -> list[str]:
    """For each baseline, the member its comparison picks: the fastest (first measured
    objective) among ``members`` with at least the baseline's proxy (in the proxy's sense)."""
    by_id = {f.arch_id: f for f in figures}
    first, sign = objectives.names[1], objectives.signs[0]
    chosen: list[str] = []
    for b in (f for f in figures if f.baseline):
        proxy = sign * b.values[objectives.names[0]]
        big = [by_id[a] for a in members
               if sign * by_id[a].values[objectives.names[0]] <= proxy]  # fmt: skip
        if big:
            best = min(big, key=lambda f: (f.values[first], f.arch_id))
            if best.arch_id not in chosen:
                chosen.append(best.arch_id)
    return chosen


def to_remeasure(
    figures: Sequence[Figure],
    objectives: ObjectiveSet,
    quick_rel: tuple[float, ...],
    cap: int | None,
    kind: str = "pareto",
    *,
    all_picks: bool = False,
) -> list[str]:
    """The points worth a final measurement now (see the module doc), the baselines' picks
    first: a pick measured quickly (``all_picks``: any pick without final figures, as when the
    final settings differ from the search's), then the quick points whose membership is open;
    at most ``cap`` (None: all). Called again after each round of measurements, it names
    what the new figures made worth measuring (a new pick), until nothing is left."""
    feasible = [f for f in figures if f.feasible]
    members = reported_frontier(feasible, objectives, kind)
    by_id = {f.arch_id: f for f in feasible}
    first = [a for a in picks(feasible, members, objectives)
             if by_id[a].quick or (all_picks and not by_id[a].final)]  # fmt: skip
    pending = [_estimate(f, objectives, quick_rel) for f in feasible if f.quick]
    rivals = [_estimate(f, objectives, quick_rel) for f in feasible]
    open_ = to_refine(pending, rivals)
    rest = sorted(open_ - set(first))
    chosen = first + rest
    return chosen if cap is None else chosen[:cap]


def reported_frontier(
    figures: Sequence[Figure], objectives: ObjectiveSet, kind: str = "pareto"
) -> list[str]:
    """The arch ids of the frontier of the feasible ``figures`` (by objective vector)."""
    feasible = [f for f in figures if f.feasible]
    if not feasible:
        return []
    rows = [objectives.minimised([f.values[n] for n in objectives.names]) for f in feasible]
    return [feasible[i].arch_id for i in frontier(rows, kind)]


def dominated_rows(
    rows: Sequence[Mapping[str, float]], objectives: ObjectiveSet
) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``: row ``i`` dominated by row ``j`` (a check of a reported frontier)."""
    vectors = [objectives.minimised([r[n] for n in objectives.names]) for r in rows]

    def dom(a: Sequence[float], b: Sequence[float]) -> bool:
        return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

    return [(i, j) for i, a in enumerate(vectors) for j, b in enumerate(vectors)
            if i != j and dom(b, a)]  # fmt: skip


#: Called with (measured so far, to measure) as the end phase progresses.
Progress = Callable[[int, int], None]
