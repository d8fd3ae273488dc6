"""What every search algorithm shares: the ask/tell contract, the told history, the frontier and
its hypervolume. An algorithm subclasses :class:`SearchAlgorithm` and says only how it proposes.

The contract, for one device:

* :meth:`SearchAlgorithm.ask` proposes one iteration's candidates (:class:`Proposal`: the
  architecture, its origin and parents), each new to the search, in the space and within the
  decoder-parameter bounds; iteration 0 is the *seeds* given at construction (the layer-scaled
  baselines, measured anyway, so the frontier can never lose to them) filled up to
  ``population`` with random architectures (spread over log decoder parameters or uniform:
  ``SearchParams.start``);
* :meth:`SearchAlgorithm.tell` reports how they measured (an :class:`Outcome` per arch id:
  the measured objective values, or an error) and advances the iteration;
* :meth:`SearchAlgorithm.state_dict` is a JSON state after a ``tell``; with it and the told
  history, :meth:`SearchAlgorithm.load_state` restores a search that proposes exactly what the
  uninterrupted one would have (the injected generator's state included).

Algorithms never do I/O, and all their randomness comes from the ``numpy.random.Generator``
injected at construction: the same generator state and the same outcomes give the same
proposals. A candidate's values are its objective vector (:class:`ObjectiveSet`, the proxy
first); the frontier is computed over every feasible point told so far, by the objectives'
senses; failed candidates (and screened ones, told as not measured) never become points.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lts.controller.pareto import frontier, hypervolume
from lts.controller.search.algorithms.types import (
    Bounds,
    History,
    IterationReport,
    Outcome,
    Point,
    ProxyLike,
    SearchParams,
)
from lts.controller.search.breeding import Breeder, Proposal
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError
from lts.shared.objectives import ObjectiveSet

__all__ = [
    "Bounds",
    "History",
    "IterationReport",
    "Outcome",
    "Point",
    "ProxyLike",
    "SearchAlgorithm",
    "SearchParams",
]
from lts.shared.params import decoder_params
from lts.shared.space import SearchSpace


@dataclass
class _Reference:
    """Hypervolume normalisation, fixed by the first iteration with a feasible point."""

    ideal: list[float]
    ref: list[float]


class SearchAlgorithm(abc.ABC):
    """One device's search (see the module doc). Not thread-safe; alternate :meth:`ask` and
    :meth:`tell`. A subclass implements :meth:`propose` (the candidates of iteration >= 1)
    and, if it keeps state beyond the told history, :meth:`own_state` / :meth:`load_own`."""

    #: The name ``--algorithm`` gives it.
    name: ClassVar[str]
    #: Whether iteration 0 follows ``params.start`` (False: always uniform, for ``random``).
    honours_start: ClassVar[bool] = True

    def __init__(
        self,
        space: SearchSpace,
        params: SearchParams,
        rng: np.random.Generator,
        *,
        objectives: ObjectiveSet | None = None,
        proxy: ProxyLike | None = None,
        bounds: Bounds | None = None,
        seeds: Iterable[ArchConfig] = (),
    ) -> None:
        self.space = space
        self.params = params
        self.rng = rng
        self.proxy = proxy if proxy is not None else _default_proxy()
        if objectives is None:
            objectives = ObjectiveSet(proxy_higher_is_better=self.proxy.higher_is_better)
        self.objectives = objectives
        self.bounds = bounds or Bounds()
        self.iteration = 0
        self.seen: set[str] = set()
        self._points: list[Point] = []
        self._pending: list[Proposal] | None = None
        self._reference: _Reference | None = None
        self._frontier: list[Point] = []
        self._hv: float | None = None
        self.breeder = Breeder(space, params, rng, self.bounds)
        self._seeds = self._keep_seeds(seeds)

    # --------------------------------------------------------------------- to implement
    @abc.abstractmethod
    def propose(self, taken: set[str]) -> list[Proposal]:
        """The candidates of iteration ``self.iteration`` (>= 1): up to ``population`` new
        ones (``taken`` holds the arch ids proposed so far in this iteration: add to it)."""

    def own_state(self) -> dict[str, Any]:
        """What this algorithm keeps besides the told history and the generator (JSON)."""
        return {}

    def load_own(  # noqa: B027 (optional: most algorithms keep nothing more)
        self, state: Mapping[str, Any], history: list[tuple[int, Proposal, Outcome | None]]
    ) -> None:
        """Restore :meth:`own_state` (``history``: what was told before, in order)."""

    def observe(  # noqa: B027 (optional: most algorithms learn from the frontier alone)
        self, iteration: int, told: list[tuple[Proposal, Point | None]]
    ) -> None:
        """Called by :meth:`tell` (and on resume, per told iteration, in order) with each
        proposal and its point (None: failed or screened). It must not read the frontier
        (on resume that is updated once, after every iteration is replayed)."""

    # --------------------------------------------------------------------------- queries
    @property
    def done(self) -> bool:
        return self.iteration >= self.params.iterations

    @property
    def points(self) -> list[Point]:
        """Every successfully measured candidate, in the order told."""
        return list(self._points)

    def frontier(self) -> list[Point]:
        """The current frontier, by ascending first measured objective."""
        return list(self._frontier)

    @property
    def hypervolume(self) -> float | None:
        """Hypervolume of the current frontier in normalised objectives (None before any
        feasible point). The reference is fixed by the first iteration with feasible points:
        per objective, the range of those points stretched by 10% past the worst value."""
        return self._hv

    # ------------------------------------------------------------------------ ask / tell
    def ask(self) -> list[Proposal]:
        """The candidates of the current iteration (call :meth:`tell` before asking again)."""
        if self._pending is not None:
            raise RuntimeError("ask() called twice without tell()")
        if self.done:
            raise RuntimeError("the search has run all its iterations")
        taken: set[str] = set()
        if self.iteration == 0:
            proposals = [Proposal(cfg, "baseline") for cfg in self._seeds]
            taken.update(p.arch_id for p in proposals)
            wanted = max(self.params.population - len(proposals), 0)
            spread = self.honours_start and self.params.start == "spread"
            fill = self.breeder.spread if spread else self.breeder.random
            proposals += fill(wanted, taken, self.seen)
        else:
            proposals = self.propose(taken)
        self._pending = proposals
        return list(proposals)

    def tell(self, outcomes: Mapping[str, Outcome]) -> IterationReport:
        """Report how the asked candidates measured (by arch id); a missing one counts as
        failed. Updates the frontier and hypervolume and advances the iteration."""
        if self._pending is None:
            raise RuntimeError("tell() without ask()")
        told = self._record(self.iteration, [(p, outcomes.get(p.arch_id)) for p in self._pending])
        report = IterationReport(
            iteration=self.iteration,
            proposed=len(told),
            measured=sum(pt is not None for _, pt in told),
            failed=sum(pt is None for _, pt in told),
            infeasible=sum(pt is not None and not pt.feasible for _, pt in told),
            frontier_size=0,
            hypervolume=None,
        )
        self._pending = None
        self._update_frontier()
        self.observe(self.iteration, told)
        self.iteration += 1
        return IterationReport(**{**report.__dict__, "frontier_size": len(self._frontier),
                                  "hypervolume": self._hv})  # fmt: skip

    # ----------------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, Any]:
        """JSON-able state after the last :meth:`tell` (with :meth:`load_state` and the told
        history it restores the search exactly, generator included)."""
        if self._pending is not None:
            raise RuntimeError("state_dict() between ask() and tell()")
        ref = self._reference
        return {
            "algorithm": self.name,
            "iteration": self.iteration,
            "rng": jsonable(self.rng.bit_generator.state),
            "reference": None if ref is None else {"ideal": ref.ideal, "ref": ref.ref},
            **self.own_state(),
        }

    def load_state(self, state: Mapping[str, Any], history: History) -> None:
        """Restore from :meth:`state_dict` and the ``(iteration, proposal, outcome)`` of every
        candidate told before it (outcome None: failed). Sets the injected generator's
        state. The told iterations are replayed through :meth:`observe`, in order."""
        if state.get("algorithm", self.name) != self.name:
            raise ConfigError("algorithm", f"the stored state is {state['algorithm']!r}'s, "
                                           f"not {self.name!r}'s")  # fmt: skip
        upto = int(state["iteration"])
        told = [(i, p, o) for i, p, o in history if i < upto]
        self.seen, self._points = set(), []
        ref = state.get("reference")
        self._reference = None if ref is None else _Reference(list(ref["ideal"]), list(ref["ref"]))
        by_iteration: dict[int, list[tuple[Proposal, Outcome | None]]] = {}
        for i, p, o in told:
            by_iteration.setdefault(i, []).append((p, o))
        for i in sorted(by_iteration):
            self.observe(i, self._record(i, by_iteration[i]))
        self._update_frontier()
        self.load_own(state, told)
        self.rng.bit_generator.state = state["rng"]
        self.iteration = upto
        self._pending = None

    # ------------------------------------------------------------------------- internals
    def point(self, p: Proposal, outcome: Outcome | None, iteration: int) -> Point | None:
        """The point of proposal ``p`` told ``outcome`` (None: failed, or a value missing)."""
        if outcome is None or not outcome.ok or outcome.values is None:
            return None
        values = self.objectives.vector(float(self.proxy(p.cfg)), outcome.values)
        if values is None:
            return None
        named = dict(zip(self.objectives.names, values, strict=True))
        return Point(p.cfg, iteration, p.origin, named, decoder_params(p.cfg),
                     self.bounds.feasible(named))  # fmt: skip

    def point_of(self, cfg: ArchConfig, values: Mapping[str, float]) -> Point | None:
        """The point ``cfg`` would be with measured ``values`` (None: a value is missing);
        for figures measured outside the iterations (the final phase)."""
        return self.point(Proposal(cfg, "final"), Outcome(values), -1)

    def _record(
        self, iteration: int, told: list[tuple[Proposal, Outcome | None]]
    ) -> list[tuple[Proposal, Point | None]]:
        out = []
        for p, outcome in told:
            self.seen.add(p.arch_id)
            pt = self.point(p, outcome, iteration)
            if pt is not None:
                self._points.append(pt)
            out.append((p, pt))
        return out

    def _keep_seeds(self, seeds: Iterable[ArchConfig]) -> list[ArchConfig]:
        """The seeds within the decoder-parameter bounds, each once, in the order given."""
        kept: dict[str, ArchConfig] = {}
        for cfg in seeds:
            if cfg.arch_id not in kept and self.bounds.params_ok(decoder_params(cfg)):
                kept[cfg.arch_id] = cfg
        return list(kept.values())

    def minimised(self, points: Iterable[Point]) -> np.ndarray:
        """The points' objective vectors to minimise (one row each)."""
        names = self.objectives.names
        rows = [self.objectives.minimised([p.values[n] for n in names]) for p in points]
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(names))

    def _update_frontier(self) -> None:
        feasible = [p for p in self._points if p.feasible]
        if not feasible:
            self._frontier, self._hv = [], None
            return
        f = self.minimised(feasible)
        idx = frontier(f, self.params.frontier)
        first = self.objectives.names[1]
        members = [feasible[i] for i in idx]
        self._frontier = sorted(members, key=lambda p: (p.values[first], p.arch_id))
        if self._reference is None:
            ideal, worst = f.min(axis=0), f.max(axis=0)
            span = np.where(worst > ideal, worst - ideal, np.maximum(np.abs(worst), 1.0))
            self._reference = _Reference(ideal.tolist(), (worst + 0.1 * span).tolist())
        self._hv = normalised_hypervolume(f[idx], self._reference.ideal, self._reference.ref)


def normalised_hypervolume(f: np.ndarray, ideal: list[float], ref: list[float]) -> float:
    """The hypervolume of minimised rows ``f`` scaled so that ``ideal`` is 0 and ``ref`` 1."""
    lo = np.asarray(ideal)
    scale = np.asarray(ref) - lo
    return hypervolume((f - lo) / scale, np.ones(len(lo)))


def _default_proxy() -> ProxyLike:
    from lts.controller.proxies import DEFAULT_PROXY, get_proxy

    return get_proxy(DEFAULT_PROXY)


def jsonable(value: Any) -> Any:
    """numpy values (a generator's state) as plain JSON types (ints stay exact)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


#: An algorithm's constructor, as the registry holds it.
AlgorithmFactory = Callable[..., SearchAlgorithm]
