"""The LTS evolutionary Pareto search (the paper's Algorithm 1) as an ask/tell object.

One :class:`LTSSearch` searches for one device. It proposes candidates (:meth:`LTSSearch.ask`)
and is told how they measured (:meth:`LTSSearch.tell`); it never does I/O, and all its
randomness comes from the ``numpy.random.Generator`` injected at construction, so the same
generator state and the same measurements give the same candidates.

Each iteration:

* iteration 0 is the *seeds* given at construction (the measured layer-scaled baselines,
  origin ``baseline``: they are measured anyway, so the frontier can never lose to them)
  and as many random architectures as make up ``population`` (none when the seeds alone
  fill it);
* later iterations choose up to ``parents`` distinct parents from the current frontier,
  favouring those chosen less often before (the paper's weighting), and make
  ``(population - parents) // 2`` mutants (each gene resampled with probability
  ``mutation_prob``) and the rest by uniform crossover of two distinct parents (these
  operators are :mod:`controller.search.breeding`'s);
* a child is kept only if it is in the space, within the decoder-parameter bounds (checked
  before anything is measured) and never proposed before in this search; generation retries
  up to ``tries_per_child`` times per wanted child, and a shortfall (an exhausted neighbourhood,
  a single parent) is filled with random architectures;
* after the measurements, the frontier is recomputed from every feasible candidate measured
  so far: objectives maximise the proxy and minimise latency and peak memory; candidates over
  ``max_latency_ms`` or ``max_memory_mb`` (or that failed) are kept out of it.

Seeds are told like any candidate, with two exceptions: a seed outside the decoder-parameter
bounds is dropped (the search was asked never to consider such a model), and a seed outside
the space is never chosen as a parent (the operators only vary architectures of the space),
though it may be a frontier member. A seed is proposed whatever its earlier measurement gave,
so that iteration 0 does not depend on measurements; one that failed is told as failed.

The parents themselves are already measured, so an iteration measures at most
``population - parents`` new candidates (in iteration 0, ``population`` less the seeds,
which were measured before).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from lts.controller.pareto import FRONTIER_KINDS, frontier, hypervolume, objectives
from lts.controller.search.breeding import Breeder, Proposal
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError
from lts.shared.params import decoder_params
from lts.shared.space import SearchSpace


class ProxyLike(Protocol):
    """A perplexity proxy (``controller.proxies.get_proxy(name)`` returns one)."""

    @property
    def higher_is_better(self) -> bool: ...

    def __call__(self, cfg: ArchConfig) -> float: ...


@dataclass(frozen=True)
class SearchParams:
    """Algorithm settings; the defaults are the paper's (100 = 20 + 40 + 40, p = 0.3, 30)."""

    iterations: int = 30
    population: int = 100
    parents: int = 20
    mutation_prob: float = 0.3
    frontier: str = "pareto"
    tries_per_child: int = 50

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ConfigError("iterations", f"must be >= 1, got {self.iterations}")
        if self.population < 2:
            raise ConfigError("population", f"must be >= 2, got {self.population}")
        if not 0 <= self.parents < self.population:
            raise ConfigError(
                "parents", f"must be in [0, population = {self.population}), got {self.parents}"
            )
        if not 0.0 <= self.mutation_prob <= 1.0:
            raise ConfigError("mutation_prob", f"must be in [0, 1], got {self.mutation_prob}")
        if self.frontier not in FRONTIER_KINDS:
            raise ConfigError("frontier", f"must be one of {', '.join(FRONTIER_KINDS)}")
        if self.tries_per_child < 1:
            raise ConfigError("tries_per_child", f"must be >= 1, got {self.tries_per_child}")

    @property
    def mutations(self) -> int:
        return (self.population - self.parents) // 2

    @property
    def crossovers(self) -> int:
        return self.population - self.parents - self.mutations


@dataclass(frozen=True)
class Bounds:
    """Optional limits: latency and memory apply after measuring (over the limit: kept out of
    the frontier); the decoder-parameter range applies before (never proposed)."""

    max_latency_ms: float | None = None
    max_memory_mb: float | None = None
    min_params: int | None = None
    max_params: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_latency_ms", "max_memory_mb", "min_params", "max_params"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(name, f"must be positive, got {value}")
        if (
            self.min_params is not None
            and self.max_params is not None
            and self.min_params > self.max_params
        ):
            raise ConfigError("min_params", "is above max_params")

    def params_ok(self, n_params: int) -> bool:
        if self.min_params is not None and n_params < self.min_params:
            return False
        return self.max_params is None or n_params <= self.max_params

    def feasible(self, latency_ms: float, peak_memory_mb: float) -> bool:
        if self.max_latency_ms is not None and latency_ms > self.max_latency_ms:
            return False
        return self.max_memory_mb is None or peak_memory_mb <= self.max_memory_mb


@dataclass(frozen=True)
class Outcome:
    """How a candidate measured: figures, or ``error`` (then the figures are None)."""

    latency_ms: float | None
    peak_memory_mb: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.latency_ms is not None and math.isfinite(self.latency_ms)


@dataclass(frozen=True)
class Point:
    """A measured candidate. ``feasible``: within the latency and memory bounds."""

    cfg: ArchConfig
    iteration: int
    origin: str
    proxy: float
    decoder_params: int
    latency_ms: float
    peak_memory_mb: float
    feasible: bool

    @property
    def arch_id(self) -> str:
        return self.cfg.arch_id


@dataclass(frozen=True)
class IterationReport:
    iteration: int
    proposed: int
    measured: int
    failed: int
    infeasible: int
    frontier_size: int
    hypervolume: float | None


@dataclass
class _Reference:
    """Hypervolume normalisation, fixed by the first iteration with a feasible point."""

    ideal: list[float]
    ref: list[float]


@dataclass
class _History:
    seen: set[str] = field(default_factory=set)
    points: list[Point] = field(default_factory=list)
    chosen: dict[str, int] = field(default_factory=dict)


class LTSSearch:
    """Algorithm 1 for one device. Not thread-safe; alternate :meth:`ask` and :meth:`tell`."""

    def __init__(
        self,
        space: SearchSpace,
        params: SearchParams,
        rng: np.random.Generator,
        *,
        proxy: ProxyLike | None = None,
        bounds: Bounds | None = None,
        seeds: Iterable[ArchConfig] = (),
    ) -> None:
        self.space = space
        self.params = params
        self.rng = rng
        self.proxy = proxy if proxy is not None else _default_proxy()
        self.bounds = bounds or Bounds()
        self.iteration = 0
        self._history = _History()
        self._pending: list[Proposal] | None = None
        self._reference: _Reference | None = None
        self._frontier: list[Point] = []
        self._hv: float | None = None
        self._breeder = Breeder(space, params, rng, self.bounds)
        self._seeds = self._keep_seeds(seeds)

    # --------------------------------------------------------------------------- queries
    @property
    def done(self) -> bool:
        return self.iteration >= self.params.iterations

    @property
    def points(self) -> list[Point]:
        """Every successfully measured candidate, in the order told."""
        return list(self._history.points)

    def frontier(self) -> list[Point]:
        """The current frontier, by ascending latency."""
        return list(self._frontier)

    @property
    def hypervolume(self) -> float | None:
        """Hypervolume of the current frontier in normalised objectives (None before any
        feasible point). The reference is fixed by the first iteration with feasible points:
        per objective, the range of those points stretched by 10% past the worst value."""
        return self._hv

    def seen(self, arch_id: str) -> bool:
        return arch_id in self._history.seen

    # ------------------------------------------------------------------------- ask / tell
    def ask(self) -> list[Proposal]:
        """The candidates of the current iteration (call :meth:`tell` before asking again)."""
        if self._pending is not None:
            raise RuntimeError("ask() called twice without tell()")
        if self.done:
            raise RuntimeError("the search has run all its iterations")
        taken: set[str] = set()
        seen = self._history.seen
        if self.iteration == 0:
            proposals = [Proposal(cfg, "baseline") for cfg in self._seeds]
            taken.update(p.arch_id for p in proposals)
            wanted = max(self.params.population - len(proposals), 0)
            proposals += self._breeder.random(wanted, taken, seen)
        else:
            proposals = self._breeder.children(self._select_parents(), taken, seen)
        self._pending = proposals
        return list(proposals)

    def tell(self, outcomes: Mapping[str, Outcome]) -> IterationReport:
        """Report how the asked candidates measured (by arch id); a missing one counts as
        failed. Updates the frontier and hypervolume and advances the iteration."""
        if self._pending is None:
            raise RuntimeError("tell() without ask()")
        measured = failed = infeasible = 0
        for p in self._pending:
            outcome = outcomes.get(p.arch_id)
            self._history.seen.add(p.arch_id)
            if outcome is None or not outcome.ok:
                failed += 1
                continue
            point = self._point(p, outcome, self.iteration)
            measured += 1
            infeasible += not point.feasible
            self._history.points.append(point)
        report_iter = self.iteration
        proposed = len(self._pending)
        self._pending = None
        self._update_frontier()
        self.iteration += 1
        return IterationReport(
            iteration=report_iter,
            proposed=proposed,
            measured=measured,
            failed=failed,
            infeasible=infeasible,
            frontier_size=len(self._frontier),
            hypervolume=self._hv,
        )

    # ---------------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, Any]:
        """JSON-able state after the last :meth:`tell` (with :meth:`load_state` and the told
        history it restores the search exactly, generator included)."""
        if self._pending is not None:
            raise RuntimeError("state_dict() between ask() and tell()")
        ref = self._reference
        return {
            "iteration": self.iteration,
            "rng": _jsonable(self.rng.bit_generator.state),
            "chosen": dict(sorted(self._history.chosen.items())),
            "reference": None if ref is None else {"ideal": ref.ideal, "ref": ref.ref},
        }

    def load_state(
        self,
        state: Mapping[str, Any],
        history: Iterable[tuple[int, Proposal, Outcome | None]],
    ) -> None:
        """Restore from :meth:`state_dict` and the ``(iteration, proposal, outcome)`` of every
        candidate told before it (outcome None: failed). Sets the injected generator's state."""
        self._history = _History(chosen=dict(state.get("chosen", {})))
        for iteration, p, outcome in history:
            if iteration >= state["iteration"]:
                continue
            self._history.seen.add(p.arch_id)
            if outcome is not None and outcome.ok:
                self._history.points.append(self._point(p, outcome, iteration))
        ref = state.get("reference")
        self._reference = None if ref is None else _Reference(list(ref["ideal"]), list(ref["ref"]))
        self.rng.bit_generator.state = state["rng"]
        self.iteration = int(state["iteration"])
        self._pending = None
        self._update_frontier()

    # ------------------------------------------------------------------------ internals
    def _point(self, p: Proposal, outcome: Outcome, iteration: int) -> Point:
        latency = float(outcome.latency_ms)  # type: ignore[arg-type]
        memory = outcome.peak_memory_mb
        memory = 0.0 if memory is None or not math.isfinite(memory) else float(memory)
        return Point(
            cfg=p.cfg,
            iteration=iteration,
            origin=p.origin,
            proxy=float(self.proxy(p.cfg)),
            decoder_params=decoder_params(p.cfg),
            latency_ms=latency,
            peak_memory_mb=memory,
            feasible=self.bounds.feasible(latency, memory),
        )

    def _keep_seeds(self, seeds: Iterable[ArchConfig]) -> list[ArchConfig]:
        """The seeds within the decoder-parameter bounds, each once, in the order given."""
        kept: dict[str, ArchConfig] = {}
        for cfg in seeds:
            if cfg.arch_id not in kept and self.bounds.params_ok(decoder_params(cfg)):
                kept[cfg.arch_id] = cfg
        return list(kept.values())

    def _select_parents(self) -> list[ArchConfig]:
        members = [p.cfg for p in self._frontier if self.space.contains(p.cfg)]
        return self._breeder.select_parents(members, self._history.chosen)

    def _update_frontier(self) -> None:
        feasible = [p for p in self._history.points if p.feasible]
        if not feasible:
            self._frontier, self._hv = [], None
            return
        rows = [(p.proxy, p.latency_ms, p.peak_memory_mb) for p in feasible]
        f = objectives(rows, self.proxy.higher_is_better)
        idx = frontier(f, self.params.frontier)
        members = [feasible[i] for i in idx]
        self._frontier = sorted(members, key=lambda p: (p.latency_ms, p.arch_id))
        if self._reference is None:
            ideal, worst = f.min(axis=0), f.max(axis=0)
            span = np.where(worst > ideal, worst - ideal, np.maximum(np.abs(worst), 1.0))
            self._reference = _Reference(ideal.tolist(), (worst + 0.1 * span).tolist())
        ideal = np.asarray(self._reference.ideal)
        scale = np.asarray(self._reference.ref) - ideal
        self._hv = hypervolume((f[idx] - ideal) / scale, np.ones(3))


def _default_proxy() -> ProxyLike:
    from lts.controller.proxies import DEFAULT_PROXY, get_proxy

    return get_proxy(DEFAULT_PROXY)


def _jsonable(value: Any) -> Any:
    """numpy generator state as plain JSON types (ints stay exact)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
