"""The LTS evolutionary Pareto search (the paper's Algorithm 1).

Iteration 0 is the seeds and random architectures (:class:`SearchAlgorithm`). Each later
iteration chooses up to ``parents`` distinct parents from the current frontier, favouring those
chosen less often before (the paper's weighting), and makes ``(population - parents) // 2``
mutants (each gene resampled with probability ``mutation_prob``) and the rest by uniform
crossover of two distinct parents (:mod:`lts.controller.search.breeding`). A child is kept only
if it is in the space, within the decoder-parameter bounds and new to the search; generation
retries up to ``tries_per_child`` times per wanted child, and a shortfall (an exhausted
neighbourhood, a single parent) is filled with random architectures. A seed outside the space
is never chosen as a parent (the operators only vary architectures of the space), though it
may be a frontier member.

The parents themselves are already measured, so an iteration measures at most
``population - parents`` new candidates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lts.controller.search.algorithms.base import Outcome, SearchAlgorithm
from lts.controller.search.breeding import Proposal
from lts.shared.config import ArchConfig


class LTSSearch(SearchAlgorithm):
    """Algorithm 1 for one device (see the module doc)."""

    name = "lts"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: How often each architecture was chosen as a parent.
        self.chosen: dict[str, int] = {}

    def propose(self, taken: set[str]) -> list[Proposal]:
        return self.breeder.children(self.select_parents(), taken, self.seen)

    def select_parents(self) -> list[ArchConfig]:
        """Up to ``parents`` distinct frontier members of the space (counted as chosen)."""
        members = [p.cfg for p in self.frontier() if self.space.contains(p.cfg)]
        return self.breeder.select_parents(members, self.chosen)

    def own_state(self) -> dict[str, Any]:
        return {"chosen": dict(sorted(self.chosen.items()))}

    def load_own(
        self, state: Mapping[str, Any], history: list[tuple[int, Proposal, Outcome | None]]
    ) -> None:
        self.chosen = {str(k): int(v) for k, v in state.get("chosen", {}).items()}


class LTSElitistSearch(LTSSearch):
    """A measured variant of Algorithm 1 (``lts-elitist``): the same operators and counts, but
    the parents are the ``population`` survivors of every measured in-space point by NSGA-II's
    rank and crowding survival (bounded, elitist, the ends of the front always kept) instead of
    up to ``parents`` members drawn nearly uniformly from the whole frontier, which grows
    without bound (the review's ``lts-survivors``). Every child's parents are drawn uniformly
    from the survivors; ``chosen`` is not used. The survivors are recomputed from the told
    points each iteration (one non-dominated sort of them), so there is no state to keep."""

    name = "lts-elitist"

    def propose(self, taken: set[str]) -> list[Proposal]:
        from lts.controller.search.algorithms.evolutionary import rank_and_crowding

        pool = [p for p in self._points if self.space.contains(p.cfg)]
        parents = [p.cfg for p in rank_and_crowding(self, pool, self.params.population)]
        return self.breeder.children(parents, taken, self.seen)
