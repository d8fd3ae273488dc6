"""What an algorithm is told and what it keeps: settings, bounds, outcomes, points (the
vocabulary of :mod:`lts.controller.search.algorithms.base`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from lts.controller.pareto import FRONTIER_KINDS
from lts.controller.search.breeding import Proposal
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError
from lts.shared.objectives import PROXY

#: How iteration 0 fills the population beside the seeds (:attr:`SearchParams.start`).
STARTS = ("spread", "uniform")


class ProxyLike(Protocol):
    """A perplexity proxy (``lts.controller.proxies.get_proxy(name)`` returns one)."""

    @property
    def higher_is_better(self) -> bool: ...

    def __call__(self, cfg: ArchConfig) -> float: ...


@dataclass(frozen=True)
class SearchParams:
    """Settings every algorithm takes: ``iterations`` of ``population`` candidates, the
    frontier's kind, and tries per wanted child before a shortfall is filled at random.
    ``parents`` and ``mutation_prob`` are the paper's algorithm's (others read what they
    need); the defaults are the paper's (100 = 20 + 40 + 40, p = 0.3, 30 iterations).
    ``start``: iteration 0's random architectures, ``spread`` evenly over log decoder
    parameters (:meth:`Breeder.spread`) or ``uniform`` (the paper's; ``random`` always
    samples uniformly)."""

    iterations: int = 30
    population: int = 100
    parents: int = 20
    mutation_prob: float = 0.3
    frontier: str = "pareto"
    tries_per_child: int = 50
    start: str = "spread"

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
        if self.start not in STARTS:
            raise ConfigError("start", f"must be one of {', '.join(STARTS)}, got {self.start!r}")
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
    """Optional limits: ``limits`` caps measured objectives by name (over a limit: kept out of
    the frontier); the decoder-parameter range applies before measuring (never proposed)."""

    limits: Mapping[str, float] = field(default_factory=dict)
    min_params: int | None = None
    max_params: int | None = None

    def __post_init__(self) -> None:
        for name, value in (*self.limits.items(), ("min_params", self.min_params),
                            ("max_params", self.max_params)):  # fmt: skip
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

    def feasible(self, values: Mapping[str, float]) -> bool:
        """Whether measured ``values`` (by objective name) are within every limit (a value
        that is not there is not checked)."""
        return all(values.get(name, -math.inf) <= cap for name, cap in self.limits.items())


@dataclass(frozen=True)
class Outcome:
    """How a candidate measured: its measured objective ``values`` by name, or ``error``
    (then ``values`` is None)."""

    values: Mapping[str, float] | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.values is not None


@dataclass(frozen=True)
class Point:
    """A measured candidate: its objective ``values`` by name (the proxy's score under
    ``params`` included), in its objectives' units. ``feasible``: within the bounds."""

    cfg: ArchConfig
    iteration: int
    origin: str
    values: Mapping[str, float]
    decoder_params: int
    feasible: bool

    @property
    def arch_id(self) -> str:
        return self.cfg.arch_id

    @property
    def proxy(self) -> float:
        return self.values[PROXY]


@dataclass(frozen=True)
class IterationReport:
    iteration: int
    proposed: int
    measured: int
    failed: int
    infeasible: int
    frontier_size: int
    hypervolume: float | None


#: What a resumed algorithm is told again: (iteration, proposal, outcome; None = failed).
History = Iterable[tuple[int, Proposal, Outcome | None]]
