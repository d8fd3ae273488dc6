"""The operators of the search algorithms (:mod:`lts.controller.search.algorithms`): random
sampling, parent selection from the frontier, mutation and crossover, each child checked
before it is proposed. No I/O; all randomness comes from the injected
``numpy.random.Generator``, drawn in a fixed order (the same generator state gives the same
proposals)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lts.controller.search import operators
from lts.shared.config import ArchConfig
from lts.shared.params import decoder_params
from lts.shared.space import SearchSpace

if TYPE_CHECKING:
    from lts.controller.search.algorithms.base import Bounds, SearchParams

logger = logging.getLogger(__name__)

#: How many random architectures :meth:`Breeder.spread` draws per one it keeps (a spread
#: population of 100 takes about 50 ms here, one of 10,000, the largest, 7.5 s).
SPREAD_OVERSAMPLE = 10


@dataclass(frozen=True)
class Proposal:
    """A candidate to measure: where it came from and its parents' ids."""

    cfg: ArchConfig
    origin: str
    parents: tuple[str, ...] = ()

    @property
    def arch_id(self) -> str:
        return self.cfg.arch_id


class Breeder:
    """Makes one search's proposals. ``taken``: the arch ids proposed in this iteration so far
    (grown by every call); ``seen``: those proposed in earlier iterations. A child is kept
    only if it is new, in the space and within the decoder-parameter bounds; each wanted
    child gets up to ``params.tries_per_child`` tries."""

    def __init__(
        self, space: SearchSpace, params: SearchParams, rng: np.random.Generator, bounds: Bounds
    ) -> None:
        self.space = space
        self.params = params
        self.rng = rng
        self.bounds = bounds

    def random(self, n: int, taken: set[str], seen: set[str]) -> list[Proposal]:
        """Up to ``n`` random architectures."""
        return _noting_shortfall(self._sample(n, n * self.params.tries_per_child, taken, seen), n)

    def spread(self, n: int, taken: set[str], seen: set[str]) -> list[Proposal]:
        """Up to ``n`` random architectures spread evenly over the logarithm of their decoder
        parameters (the proxy, known before measuring): of :data:`SPREAD_OVERSAMPLE` x ``n``
        random ones, the nearest to each of ``n`` evenly spaced values between the smallest
        and the largest, in that order. Uniform sampling puts most of a population at middle
        sizes; this one covers the ends of the frontier from the first iteration on."""
        tries = n * max(SPREAD_OVERSAMPLE, self.params.tries_per_child)
        pool = self._sample(n * SPREAD_OVERSAMPLE, tries, set(taken), seen)
        if len(pool) > n:
            size = np.log([float(decoder_params(p.cfg)) for p in pool])
            free = np.ones(len(pool), dtype=bool)
            chosen: list[Proposal] = []
            for target in np.linspace(size.min(), size.max(), n):
                j = int(np.argmin(np.where(free, np.abs(size - target), np.inf)))
                free[j] = False
                chosen.append(pool[j])
            pool = chosen
        taken.update(p.arch_id for p in pool)
        return _noting_shortfall(pool, n)

    def _sample(self, n: int, tries: int, taken: set[str], seen: set[str]) -> list[Proposal]:
        """Up to ``n`` acceptable random architectures in at most ``tries`` draws."""
        out: list[Proposal] = []
        for _ in range(tries):
            if len(out) >= n:
                break
            cfg = operators.sample(self.space, self.rng)
            if self.acceptable(cfg, taken, seen):
                taken.add(cfg.arch_id)
                out.append(Proposal(cfg, "random"))
        return out

    def select_parents(
        self, frontier: Sequence[ArchConfig], chosen: dict[str, int]
    ) -> list[ArchConfig]:
        """Up to ``params.parents`` distinct members of ``frontier``, favouring those chosen
        less often before (:func:`parent_weights`); counts them in ``chosen``."""
        members = sorted(frontier, key=lambda cfg: cfg.arch_id)
        k = min(self.params.parents, len(members))
        if k == 0:
            return []
        counts = [chosen.get(cfg.arch_id, 0) for cfg in members]
        idx = self.rng.choice(len(members), size=k, replace=False, p=parent_weights(counts))
        parents = [members[i] for i in idx]
        for cfg in parents:
            chosen[cfg.arch_id] = chosen.get(cfg.arch_id, 0) + 1
        return parents

    def children(
        self, parents: list[ArchConfig], taken: set[str], seen: set[str]
    ) -> list[Proposal]:
        """The mutants and crossovers of ``parents``; a shortfall is filled at random."""
        want_mut, want_cross = self.params.mutations, self.params.crossovers
        out: list[Proposal] = []
        if parents:
            out += self.breed(want_mut, taken, seen, lambda: self._mutant(parents))
        if len(parents) >= 2:
            out += self.breed(want_cross, taken, seen, lambda: self._cross(parents))
        shortfall = want_mut + want_cross - len(out)
        if shortfall > 0:
            out += self.random(shortfall, taken, seen)
        return out

    def acceptable(self, cfg: ArchConfig, taken: set[str], seen: set[str]) -> bool:
        """Whether ``cfg`` is new (in neither set), in the space and within the bounds."""
        arch_id = cfg.arch_id
        if arch_id in taken or arch_id in seen:
            return False
        if not self.space.contains(cfg):
            return False
        return self.bounds.params_ok(decoder_params(cfg))

    def breed(
        self, n: int, taken: set[str], seen: set[str], make: Callable[[], Proposal]
    ) -> list[Proposal]:
        """Up to ``n`` acceptable proposals from ``make()`` (``tries_per_child`` tries each)."""
        out: list[Proposal] = []
        for _ in range(n * self.params.tries_per_child):
            if len(out) >= n:
                break
            proposal = make()
            if self.acceptable(proposal.cfg, taken, seen):
                taken.add(proposal.arch_id)
                out.append(proposal)
        return out

    def _mutant(self, parents: list[ArchConfig]) -> Proposal:
        parent = parents[int(self.rng.integers(len(parents)))]
        child = operators.mutate(self.space, parent, self.rng, self.params.mutation_prob)
        return Proposal(child, "mutation", (parent.arch_id,))

    def _cross(self, parents: list[ArchConfig]) -> Proposal:
        i, j = self.rng.choice(len(parents), size=2, replace=False)
        a, b = parents[int(i)], parents[int(j)]
        child = operators.crossover(self.space, a, b, self.rng)
        return Proposal(child, "crossover", (a.arch_id, b.arch_id))


def parent_weights(counts: Sequence[int]) -> np.ndarray:
    """Selection probabilities of frontier members chosen ``counts`` times before.

    As in the paper's code: counts scaled to [0, 1] over the frontier, weight
    ``1 / (1 + scaled)`` (so the least chosen weigh up to twice the most chosen), normalised.
    """
    c = np.asarray(counts, dtype=np.float64)
    lo, hi = (c.min(), c.max()) if c.size else (0.0, 0.0)
    scaled = (c - lo) / (hi - lo) if hi > lo else np.zeros_like(c)
    w = 1.0 / (1.0 + scaled)
    return w / w.sum()


def _noting_shortfall(out: list[Proposal], n: int) -> list[Proposal]:
    """``out``, logged when it holds fewer than the ``n`` random candidates wanted."""
    if len(out) < n:
        logger.info("only %d of %d random candidates are new and within bounds", len(out), n)
    return out
