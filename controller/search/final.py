"""The end of a device search, as pure decisions: what to measure again, and the frontier a
finished search reports.

A search decides on quick measurements (:mod:`lts.controller.search.economy`); what it
reports should rest on the full protocol where that can change the answer, without measuring
every member again (in three objectives most candidates are frontier members). So:

* :func:`plan`: first each baseline's comparison (the baseline and the member it picks, the
  fastest with at least the baseline's proxy, which its speed-up quotes), the largest
  baseline's first, where their figures are quick; then the points measured quickly whose
  uncertainty leaves the frontier's membership open (theirs or a point they could dominate:
  the racing rule, :func:`lts.controller.search.racing.to_refine`), members first; at most
  ``cap`` members. Measured again with the final settings, one bounded measurement each, as
  far as the final phase's time allows (:mod:`lts.controller.search.final_phase`);
* :func:`reported_frontier`: the frontier recomputed from the figures the search reports
  (each point's final figures where it has them, else its search-time ones), over every
  feasible point and the baselines: no reported member is dominated by another reported row.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
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


def comparisons(
    figures: Sequence[Figure], members: Sequence[str], objectives: ObjectiveSet
) -> list[tuple[str, str | None]]:
    """Each baseline with the member its comparison picks (None: no member is as large): the
    fastest (first measured objective) among ``members`` with at least the baseline's proxy
    (in the proxy's sense). The largest baseline first (the paper's headline is the largest
    model's)."""
    by_id = {f.arch_id: f for f in figures}
    first, name, sign = objectives.names[1], objectives.names[0], objectives.signs[0]
    out: list[tuple[str, str | None]] = []
    for b in sorted((f for f in figures if f.baseline),
                    key=lambda f: (sign * f.values[name], f.arch_id)):  # fmt: skip
        proxy = sign * b.values[name]
        big = [by_id[a] for a in members if sign * by_id[a].values[name] <= proxy]
        best = min(big, key=lambda f: (f.values[first], f.arch_id)) if big else None
        out.append((b.arch_id, best.arch_id if best is not None else None))
    return out


def picks(
    figures: Sequence[Figure], members: Sequence[str], objectives: ObjectiveSet
) -> list[str]:
    """The members the baselines' comparisons pick (:func:`comparisons`), once each."""
    return list(dict.fromkeys(p for _, p in comparisons(figures, members, objectives) if p))


def plan(
    figures: Sequence[Figure],
    objectives: ObjectiveSet,
    quick_rel: tuple[float, ...],
    cap: int | None,
    kind: str = "pareto",
    *,
    all_picks: bool = False,
    open_: Collection[str] | None = None,
) -> list[tuple[str, ...]]:
    """What is worth a final measurement now, in the order to measure it, as groups measured
    together: each baseline's comparison first, the largest baseline's first (its pick and the
    baseline, each where its figures are quick; with ``all_picks``, as when the final settings
    differ from the search's, each without final figures), then the quick points whose frontier
    membership is open, one by one. ``cap`` bounds the members (None: no bound); the baselines
    come on top. Called again after each round of measurements, it names what the new
    figures made worth measuring (a new pick), until nothing is left. ``open_``: the open
    points as :func:`open_points` found them (computed when not given: the costly part)."""
    feasible = [f for f in figures if f.feasible]
    members = reported_frontier(feasible, objectives, kind)
    by_id = {f.arch_id: f for f in feasible}

    def needs(a: str) -> bool:
        return by_id[a].quick or (all_picks and not by_id[a].final)

    groups: list[tuple[str, ...]] = []
    taken: set[str] = set()
    left = cap
    for b, p in comparisons(feasible, members, objectives):
        group = []
        if p is not None and p != b and p not in taken and needs(p) and (left is None or left > 0):
            group.append(p)
            left = None if left is None else left - 1
        if needs(b) and b not in taken:  # (a baseline no member beats picks itself)
            group.append(b)
        taken.update(group)
        if group:
            groups.append(tuple(group))
    if open_ is None:
        open_ = open_points(feasible, objectives, quick_rel)
    on = set(members)
    rest = sorted(set(open_) - taken, key=lambda a: (a not in on, a))
    rest = rest if left is None else rest[:left]
    return groups + [(a,) for a in rest]


def open_points(
    figures: Sequence[Figure], objectives: ObjectiveSet, quick_rel: tuple[float, ...]
) -> set[str]:
    """The quick feasible points whose frontier membership (theirs or that of a point they
    could dominate) their uncertainty leaves open: the racing rule."""
    feasible = [f for f in figures if f.feasible]
    pending = [_estimate(f, objectives, quick_rel) for f in feasible if f.quick]
    rivals = [_estimate(f, objectives, quick_rel) for f in feasible]
    return to_refine(pending, rivals)


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
