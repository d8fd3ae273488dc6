"""Uniform random sampling of the space: the baseline every search method must beat.

Each iteration after the first proposes ``population`` random architectures, new to the search
and within the decoder-parameter bounds; iteration 0 is the seeds plus uniformly random ones
(whatever ``--start`` says: this is the uniform baseline). It keeps no state beyond the
generator.
"""

from __future__ import annotations

from lts.controller.search.algorithms.base import SearchAlgorithm
from lts.controller.search.breeding import Proposal


class RandomSearch(SearchAlgorithm):
    """Random architectures, ``population`` per iteration (see the module doc)."""

    name = "random"
    honours_start = False

    def propose(self, taken: set[str]) -> list[Proposal]:
        return self.breeder.random(self.params.population, taken, self.seen)
