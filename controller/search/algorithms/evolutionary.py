"""Elitist evolutionary searches with pymoo's survival and selection over the space's operators:
NSGA-II (``nsga2``), SMS-EMOA (``smsemoa``) and their hybrid (``smsemoa-crowding``).

Each keeps a bounded population of ``population`` survivors. Iteration ``i >= 1`` first merges
the survivors with the points told in iteration ``i - 1`` (the (mu + lambda) scheme) and cuts the
union back to ``population`` by pymoo's survival, then proposes ``population`` children:

* ``(population) // 2`` mutants, each of one binary-tournament winner (each gene resampled with
  probability ``mutation_prob``, :func:`operators.mutate`), and the rest by uniform crossover of
  two tournament winners (:func:`operators.crossover`);
* a child is kept only if it is new to the search, in the space and within the
  decoder-parameter bounds (:class:`Breeder`); ``tries_per_child`` tries per wanted child, a
  shortfall is filled with random architectures.

The space's own operators keep every child valid: variable-length per-layer genes, heads that
divide ``d_model`` and ``d_inner`` above its bound are repaired exactly as the paper's search
repairs them, never encoded as a fixed-length vector. What pymoo does is the part that decides
the search's quality (docs/algorithms.md): which points survive and which are parents.

* ``nsga2``: :class:`pymoo...RankAndCrowding` survival (non-dominated rank, then crowding
  distance; the ends of each front kept), parents by pymoo's NSGA-II ``binary_tournament``
  (dominance, then crowding);
* ``smsemoa``: :class:`pymoo...LeastHypervolumeContributionSurvival` (the splitting front loses
  its least hypervolume contributors one by one, normalised by the survivors' ideal and
  nadir, as pymoo's SMS-EMOA), parents by pymoo's ``cv_and_dom_tournament``;
* ``smsemoa-crowding`` (the default): SMS-EMOA's survival, NSGA-II's tournaments (dominance,
  then the larger crowding distance among the survivors, so that ties go to the ends and the
  sparse parts of the front). On the search-quality benchmark it keeps NSGA-II's lead in the
  first bred iteration (where the survival does not yet cut and the tournament alone decides)
  and SMS-EMOA's from 500 evaluations on (docs/algorithms.md).

A point over a limit of :class:`Bounds` is infeasible: pymoo ranks it after every feasible one
by its relative excess (its constraint violation). Seeds outside the space are never parents.

Randomness: pymoo's operators take the injected generator itself (``random_state``). State:
the survivors' arch ids (``population``), so a resumed search restores them without replaying
anything (:meth:`load_own` looks the points up in the told history: O(told) once).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from lts.controller.search import operators
from lts.controller.search.algorithms.base import Outcome, Point, SearchAlgorithm
from lts.controller.search.breeding import Proposal
from lts.shared.config import ArchConfig


def _problem(n_obj: int) -> Any:
    from pymoo.core.problem import Problem

    return Problem(n_var=1, n_obj=n_obj, n_ieq_constr=1)


class ElitistSearch(SearchAlgorithm):
    """A (mu + lambda) search: pymoo's survival and tournaments, the space's operators (see
    the module doc). Subclasses say which survival and which tournament."""

    #: The tournament's comparison (pymoo's ``func_comp``).
    tournament: ClassVar[Callable[..., Any]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The survivors' arch ids after the last survival (in survival order).
        self.population: list[str] = []
        self._problem = _problem(len(self.objectives))

    # ------------------------------------------------------------------------ to implement
    @abc.abstractmethod
    def survive(self, pop: Any, survivors: list[Point], n: int) -> Any:
        """The pymoo Population of the ``n`` survivors of ``pop`` (``survivors``: the
        previous survivors, for normalisation)."""

    # ------------------------------------------------------------------------------ search
    def propose(self, taken: set[str]) -> list[Proposal]:
        pool = self._pool()
        if not pool:
            return self.breeder.random(self.params.population, taken, self.seen)
        before = [p for p in pool if p.arch_id in set(self.population)]
        pop = self._pymoo_population(pool)
        kept = self.survive(pop, before, self.params.population)
        order = [int(i) for i in kept.get("X")[:, 0]]
        self.population = [pool[i].arch_id for i in order]
        parents = [pool[i].cfg for i in order]
        return self._children(kept, parents, taken)

    def _pool(self) -> list[Point]:
        """The survivors and the points told in the last iteration that are in the space."""
        last = self.iteration - 1
        by_id = {p.arch_id: p for p in self._points}
        kept = set(self.population)
        pool = [by_id[i] for i in self.population if i in by_id]
        pool += [p for p in self._points if p.iteration == last and p.arch_id not in kept]
        return [p for p in pool if self.space.contains(p.cfg)]

    def _pymoo_population(self, pool: list[Point]) -> Any:
        return pymoo_population(self, pool)

    def _violation(self, p: Point) -> float:
        return violation(self, p)

    def _children(self, pop: Any, parents: list[ArchConfig], taken: set[str]) -> list[Proposal]:
        n = self.params.population
        want_mut, want_cross = n // 2, n - n // 2
        out = self.breeder.breed(want_mut, taken, self.seen, lambda: self._mutant(pop, parents))
        if len(parents) >= 2:
            out += self.breeder.breed(
                want_cross, taken, self.seen, lambda: self._cross(pop, parents)
            )
        if len(out) < n:
            out += self.breeder.random(n - len(out), taken, self.seen)
        return out

    def _winners(self, pop: Any, k: int) -> list[int]:
        from pymoo.operators.selection.tournament import TournamentSelection

        selection = TournamentSelection(func_comp=type(self).tournament)
        algorithm = SimpleNamespace(tournament_type="comp_by_dom_and_crowding",
                                    random_state=self.rng)  # fmt: skip
        idx = selection.do(self._problem, pop, n_select=1, n_parents=k, to_pop=False,
                           random_state=self.rng, algorithm=algorithm)  # fmt: skip
        return [int(i) for i in np.asarray(idx).ravel()]

    def _mutant(self, pop: Any, parents: list[ArchConfig]) -> Proposal:
        (i,) = self._winners(pop, 1)
        child = operators.mutate(self.space, parents[i], self.rng, self.params.mutation_prob)
        return Proposal(child, "mutation", (parents[i].arch_id,))

    def _cross(self, pop: Any, parents: list[ArchConfig]) -> Proposal:
        i, j = self._winners(pop, 2)
        a, b = parents[i], parents[j]
        child = operators.crossover(self.space, a, b, self.rng)
        return Proposal(child, "crossover", (a.arch_id, b.arch_id))

    # ------------------------------------------------------------------------- persistence
    def own_state(self) -> dict[str, Any]:
        return {"population": list(self.population)}

    def load_own(
        self, state: Mapping[str, Any], history: list[tuple[int, Proposal, Outcome | None]]
    ) -> None:
        self.population = [str(i) for i in state.get("population", [])]


def violation(search: SearchAlgorithm, p: Point) -> float:
    """``p``'s relative excess over the search's limits (0 when feasible)."""
    excess = 0.0
    for name, cap in search.bounds.limits.items():
        value = p.values.get(name)
        if value is not None and value > cap:
            excess += value / cap - 1.0
    return excess


def pymoo_population(search: SearchAlgorithm, pool: list[Point]) -> Any:
    """``pool`` as a pymoo Population: ``X`` the index in ``pool``, ``F`` the minimised
    objectives, ``G`` the violation of the limits."""
    from pymoo.core.population import Population

    f = search.minimised(pool)
    g = np.array([[violation(search, p)] for p in pool], dtype=np.float64)
    return Population.new("X", np.arange(len(pool))[:, None], "F", f, "G", g)


def rank_and_crowding(search: SearchAlgorithm, pool: list[Point], n: int) -> list[Point]:
    """The ``n`` survivors of ``pool`` by pymoo's NSGA-II survival (rank, then crowding
    distance; ties broken by the search's generator), in survival order."""
    from pymoo.operators.survival.rank_and_crowding import RankAndCrowding

    if not pool:
        return []
    kept = RankAndCrowding().do(_problem(len(search.objectives)), pymoo_population(search, pool),
                                n_survive=n, random_state=search.rng)  # fmt: skip
    return [pool[int(i)] for i in kept.get("X")[:, 0]]


def _nsga2_tournament(*args: Any, **kwargs: Any) -> Any:
    from pymoo.algorithms.moo.nsga2 import binary_tournament

    return binary_tournament(*args, **kwargs)


def _sms_tournament(*args: Any, **kwargs: Any) -> Any:
    from pymoo.algorithms.moo.sms import cv_and_dom_tournament

    kwargs.pop("algorithm", None)
    return cv_and_dom_tournament(*args, **kwargs)


class NSGA2Search(ElitistSearch):
    """NSGA-II: rank and crowding survival, dominance-then-crowding binary tournaments."""

    name = "nsga2"
    tournament = staticmethod(_nsga2_tournament)

    def survive(self, pop: Any, survivors: list[Point], n: int) -> Any:
        from pymoo.operators.survival.rank_and_crowding import RankAndCrowding

        return RankAndCrowding().do(self._problem, pop, n_survive=n, random_state=self.rng)


class SMSEMOASearch(ElitistSearch):
    """SMS-EMOA: least-hypervolume-contribution survival, dominance binary tournaments."""

    name = "smsemoa"
    tournament = staticmethod(_sms_tournament)

    def survive(self, pop: Any, survivors: list[Point], n: int) -> Any:
        from pymoo.algorithms.moo.sms import LeastHypervolumeContributionSurvival

        ideal = nadir = None
        feasible = [p for p in survivors if self._violation(p) == 0.0]
        if feasible:  # pymoo's SMS-EMOA normalises by the current survivors
            f = self.minimised(feasible)
            ideal, nadir = f.min(axis=0), f.max(axis=0) + 1e-32
        return LeastHypervolumeContributionSurvival().do(
            self._problem, pop, n_survive=n, ideal=ideal, nadir=nadir, random_state=self.rng
        )


class SMSEMOACrowdingSearch(SMSEMOASearch):
    """SMS-EMOA's survival with NSGA-II's dominance-then-crowding tournaments (module doc)."""

    name = "smsemoa-crowding"
    tournament = staticmethod(_nsga2_tournament)

    def survive(self, pop: Any, survivors: list[Point], n: int) -> Any:
        from pymoo.operators.survival.rank_and_crowding import RankAndCrowding

        kept = super().survive(pop, survivors, n)
        # every survivor stays; this sets the rank and crowding distance the tournament reads
        return RankAndCrowding().do(
            self._problem, kept, n_survive=len(kept), random_state=self.rng
        )
