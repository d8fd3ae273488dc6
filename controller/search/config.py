"""Everything that defines a search, stored with it (``searches.settings``) so it can resume."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lts.controller.proxies import get_proxy
from lts.controller.search.algorithms import DEFAULT_ALGORITHM, get_algorithm
from lts.controller.search.algorithms.base import Bounds, SearchParams
from lts.controller.search.baselines import BASELINE_SIZES, PAPER_LAYERS
from lts.shared import objectives as obj
from lts.shared.config import MAX_LAYERS
from lts.shared.errors import ConfigError, validation_error
from lts.shared.schemas import MeasureSettings, MeasureSettingsIn
from lts.shared.space import SearchSpace

if TYPE_CHECKING:
    from lts.controller.store import Store

#: The final phase's budget may not exceed the agent's limit on one measurement.
MAX_BUDGET_S = 600.0

# Bounds of what a search can be given (CLI options and ``POST /searches`` alike): far above
# any real search (the paper's: 30 iterations of 100 candidates), low enough that no request
# can make the controller expand, store or loop over more than it can hold. Each bound lives
# in its field's type below; the options of a search
# (:class:`lts.controller.search.options.SearchOptions`) reuse these types.
MAX_ITERATIONS = 10_000
MAX_POPULATION = 10_000
#: Seeds and ids are SQL integers (signed 64 bits).
MAX_SEED = 2**63 - 1
MAX_PARAMS = 10**15
MAX_FAIL_AFTER_S = 7 * 24 * 3600.0
MAX_FINAL_BUDGET_FACTOR = 100.0
MAX_AGENTS = 256

Agents = Annotated[list[Annotated[str, Field(max_length=2048)]],
                   Field(min_length=1, max_length=MAX_AGENTS)]  # fmt: skip

Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Iterations = Annotated[int, Field(ge=1, le=MAX_ITERATIONS)]
Population = Annotated[int, Field(ge=2, le=MAX_POPULATION)]
Parents = Annotated[int, Field(ge=0, le=MAX_POPULATION)]
Params = Annotated[int, Field(gt=0, le=MAX_PARAMS)]
Members = Annotated[int, Field(ge=1, le=MAX_POPULATION)]
Layers = Annotated[
    list[Annotated[int, Field(ge=1, le=MAX_LAYERS)]], Field(min_length=1, max_length=MAX_LAYERS)
]
BudgetFactor = Annotated[float, Field(ge=1.0, le=MAX_FINAL_BUDGET_FACTOR)]
Probability = Annotated[float, Field(ge=0, le=1)]
#: A share of a search's wall time (1: all of it, no bound).
Share = Annotated[float, Field(gt=0, le=1)]
Positive = Annotated[float, Field(gt=0)]
BatchSize = Annotated[int, Field(ge=1, le=256)]
FailAfter = Annotated[float, Field(gt=0, le=MAX_FAIL_AFTER_S)]
MeasureMode = Literal["quick", "race", "full"]
Start = Literal["spread", "uniform"]

ObjectiveNames = Annotated[
    list[Annotated[str, Field(max_length=32)]], Field(min_length=2, max_length=16)
]


def default_parents(population: int) -> int:
    """The parents of a population when none are given: 20% of it (the paper's 20 + 40 + 40
    split), rounded, at least 1 and below ``population``."""
    return min(max((population + 2) // 5, 1), population - 1)


class SearchConfig(BaseModel):
    """A search's definition. ``measure`` holds the measurement-setting overrides (fields not
    given take each agent's defaults); ``agents`` the agents as given (names or URLs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agents: Agents
    space: dict[str, Any]
    #: The objectives, in order, the proxy first (:mod:`lts.shared.objectives`).
    objectives: ObjectiveNames = Field(default_factory=lambda: list(obj.DEFAULT_OBJECTIVES))
    #: The search algorithm (:mod:`lts.controller.search.algorithms`).
    algorithm: Annotated[str, Field(max_length=32)] = DEFAULT_ALGORITHM
    proxy: str = "decoder_params"
    seed: Seed = 0
    iterations: Iterations = 30
    population: Population = 100
    #: Filled from ``population`` when not given (:func:`default_parents`), so that the
    #: stored settings hold the number the search used.
    parents: Parents
    mutation_prob: Probability = 0.3
    #: Iteration 0's random architectures: spread over log decoder parameters, or uniform
    #: (the paper's) (:attr:`SearchParams.start`).
    start: Start = "spread"
    frontier: str = "pareto"
    max_latency_ms: Positive | None = None
    max_decode_latency_ms: Positive | None = None
    max_memory_mb: Positive | None = None
    min_params: Params | None = None
    max_params: Params | None = None
    measure: dict[str, Any] = Field(default_factory=dict)
    final_budget_factor: BudgetFactor = 1.0
    final_max_members: Members | None = 50
    #: The final phase's time, at most this share of the device search's wall time (the
    #: iterations' time x share / (1 - share)); 1: no time bound
    #: (lts.controller.search.final_phase).
    final_share: Share = 0.15
    baselines: bool = True
    baseline_sizes: str = "paper"
    baseline_layers: Layers = Field(default_factory=lambda: list(PAPER_LAYERS))
    batch_size: BatchSize = 16
    fail_after_s: FailAfter = 300.0
    #: Skip candidates the cost model predicts dominated (lts.controller.search.economy).
    screen: bool = True
    #: ``quick``: decide on a quick measurement; ``race``: a quick measurement first, the full
    #: protocol for those whose frontier membership it leaves open; ``full``: the full
    #: protocol for every candidate (lts.controller.search.economy).
    measure_mode: MeasureMode = "quick"
    #: One population measured on every device, its objectives each device's (``latency@pi``
    #: ...; :meth:`objective_set`), instead of one search per device.
    joint: bool = False
    #: At the end of a search on several devices (not joint), measure each device's frontier
    #: on the other devices (controller.search.cross), so that devices can be compared and a
    #: model picked for all of them on real figures.
    cross_measure: bool = True

    @model_validator(mode="before")
    @classmethod
    def _resolve_parents(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("joint") and values.get("screen") is None:
            values = {**values, "screen": False}  # screening judges one device's frontier
        if isinstance(values, dict) and values.get("parents") is None:
            population = values.get("population", 100)
            if isinstance(population, int) and not isinstance(population, bool):
                values = {**values, "parents": default_parents(population)}
        return values

    @classmethod
    def build(cls, **values: Any) -> SearchConfig:
        """Validate ``values``; errors become :class:`ConfigError` naming the option."""
        try:
            config = cls(**values)
        except ValidationError as exc:
            raise validation_error(exc, "search") from None
        config.algorithm_params()  # cross-field checks (parents < population, ...)
        get_algorithm(config.algorithm)
        config.objective_set()
        config.bounds()
        config.check_joint()
        config.settings_for(MeasureSettings.model_validate({}))  # objectives fit the overrides
        config.search_space()
        get_proxy(config.proxy)  # an unknown name fails here, before anything is stored
        if config.baseline_sizes not in BASELINE_SIZES:
            raise ConfigError("baseline_sizes", f"must be one of {', '.join(BASELINE_SIZES)}")
        return config

    @classmethod
    def from_stored(cls, settings: dict[str, Any]) -> SearchConfig:
        """The definition of a stored search, written by any release: settings a release
        added since are read as what a search stored before them did (:func:`upgrade`)."""
        return cls.model_validate(upgrade(settings))

    def objective_set(self) -> obj.ObjectiveSet:
        """The objectives, with the proxy's sense (ConfigError naming ``objectives``): what
        each device measures and reports (a joint search's are :meth:`joint_objectives`)."""
        names = obj.parse(self.objectives)
        return obj.ObjectiveSet(names, get_proxy(self.proxy).higher_is_better)

    def joint_objectives(self) -> obj.ObjectiveSet:
        """A joint search's objectives: the proxy, then each measured objective per agent
        (``latency@pi``, ``memory@pi``, ``latency@laptop``, ...), agents as given."""
        return obj.ObjectiveSet.joint(self.objective_set(), self.agents)

    def joint_bounds(self) -> Bounds:
        """:meth:`bounds` for the joint objectives: each cap applies on every device."""
        b = self.bounds()
        limits = {obj.qualified(n, a): cap for a in self.agents for n, cap in b.limits.items()}
        return Bounds(limits=limits, min_params=b.min_params, max_params=b.max_params)

    def check_joint(self) -> None:
        """A joint search measures every candidate on every device: it needs two or more
        agents, and no screening or racing (both judge a candidate on one device's
        frontier)."""
        if not self.joint:
            return
        self.joint_objectives()
        if self.screen:
            raise ConfigError("screen", "--joint measures every candidate on every device: "
                                        "add --no-screen")  # fmt: skip
        if self.measure_mode == "race":
            raise ConfigError("measure_mode", "--joint does not race: use --measure quick or "
                                              "full")  # fmt: skip

    def algorithm_params(self) -> SearchParams:
        return SearchParams(
            iterations=self.iterations,
            population=self.population,
            parents=self.parents,
            mutation_prob=self.mutation_prob,
            frontier=self.frontier,
            start=self.start,
        )

    def bounds(self) -> Bounds:
        """The caps of the search's measured objectives (each objective's ``bound`` field
        here) and its decoder-parameter range; a cap on an objective the search does not
        optimise is refused."""
        limits: dict[str, float] = {}
        chosen = set(self.objectives)
        for o in obj.measured():
            cap = getattr(self, o.bound) if o.bound else None
            if cap is None:
                continue
            if o.name not in chosen:
                raise ConfigError(o.bound or o.name, f"caps {o.name}, which is not an objective "
                                  f"of this search ({','.join(self.objectives)})")  # fmt: skip
            limits[o.name] = float(cap)
        return Bounds(limits=limits, min_params=self.min_params, max_params=self.max_params)

    def search_space(self) -> SearchSpace:
        return SearchSpace.from_dict(self.space)

    def overrides(self) -> MeasureSettingsIn:
        try:
            return MeasureSettingsIn(**self.measure)
        except ValidationError as exc:
            raise validation_error(exc, "measure") from None

    def settings_for(self, defaults: MeasureSettings) -> MeasureSettings:
        """The complete measurement settings on a device with these ``defaults``: the
        overrides applied, then what the objectives need (a decode step timed, memory
        measured only where it is an objective)."""
        return self.objective_set().settings(self.overrides().resolve(defaults))

    def final_settings(self, settings: MeasureSettings) -> MeasureSettings:
        """The final phase's measurement settings: time budget and minimum time scaled by
        ``final_budget_factor`` (capped at the agent's limit; 1: the search's own)."""
        factor = self.final_budget_factor
        budget = min(settings.time_budget_s * factor, MAX_BUDGET_S)
        return settings.model_copy(
            update={
                "time_budget_s": budget,
                "min_time_s": min(settings.min_time_s * factor, budget),
            }
        )

    def rng(self, position: int) -> np.random.Generator:
        """The generator of the device at ``position`` in ``agents``: derived from the seed
        and the position only, so each device's search is reproducible on its own."""
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(position,)))


def upgrade(settings: dict[str, Any]) -> dict[str, Any]:
    """Stored search settings as this release reads them, whatever release wrote them: a
    search stored before screening and racing existed measured every candidate in full;
    one stored before objectives were chosen optimised the proxy, the latency its settings
    timed (prefill, or decode with ``metric`` decode) and peak memory; one stored before
    algorithms were chosen ran the paper's."""
    out = dict(settings)
    if "screen" not in out:
        out.update(screen=False, measure_mode="full")
    if "objectives" not in out:
        measure = out.get("measure")
        metric = measure.get("metric") if isinstance(measure, dict) else None
        latency = "decode_latency" if metric == "decode" else "latency"
        out["objectives"] = [obj.PROXY, latency, "memory"]
    out.setdefault("algorithm", "lts")
    out.setdefault("cross_measure", False)  # a search stored before it never measured across
    return out


def load_config(store: Store, search_id: int) -> SearchConfig:
    """The definition of stored search ``search_id`` (ConfigError ``resume`` when its
    settings cannot be read)."""
    search = store.get_search(search_id)
    try:
        return SearchConfig.from_stored(search.settings)
    except ValueError as exc:
        raise ConfigError("resume", f"search {search_id} has unreadable settings: {exc}") from None
