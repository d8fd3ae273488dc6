"""Everything that defines a search, stored with it (``searches.settings``) so it can resume."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from controller.search.algorithm import Bounds, SearchParams
from controller.search.baselines import BASELINE_SIZES, PAPER_LAYERS
from shared.errors import ConfigError
from shared.proxies import get_proxy
from shared.schemas import MeasureSettings, MeasureSettingsIn
from shared.space import SearchSpace

#: The final re-measurement's budget may not exceed the agent's limit on one measurement.
MAX_BUDGET_S = 600.0


class SearchConfig(BaseModel):
    """A search's definition. ``measure`` holds the measurement-setting overrides (fields not
    given take each agent's defaults); ``agents`` the agents as given (names or URLs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agents: list[str] = Field(min_length=1)
    space: dict[str, Any]
    proxy: str = "decoder_params"
    seed: int = Field(0, ge=0, le=2**63 - 1)
    iterations: int = Field(30, ge=1)
    population: int = Field(100, ge=2)
    parents: int = Field(20, ge=0)
    mutation_prob: float = Field(0.3, ge=0, le=1)
    frontier: str = "pareto"
    max_latency_ms: float | None = Field(None, gt=0)
    max_memory_mb: float | None = Field(None, gt=0)
    min_params: int | None = Field(None, gt=0)
    max_params: int | None = Field(None, gt=0)
    measure: dict[str, Any] = Field(default_factory=dict)
    final_budget_factor: float = Field(5.0, ge=1.0)
    final_max_members: int | None = Field(50, ge=1)
    baselines: bool = True
    baseline_sizes: str = "paper"
    baseline_layers: list[int] = Field(default_factory=lambda: list(PAPER_LAYERS))
    batch_size: int = Field(16, ge=1, le=256)
    fail_after_s: float = Field(300.0, gt=0)

    @classmethod
    def build(cls, **values: Any) -> SearchConfig:
        """Validate ``values``; errors become :class:`ConfigError` naming the option."""
        try:
            config = cls(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "search"
            raise ConfigError(field, err["msg"]) from None
        config.algorithm()  # cross-field checks (parents < population, ...)
        config.bounds()
        config.overrides()
        config.search_space()
        get_proxy(config.proxy)  # an unknown name fails here, before anything is stored
        if config.baseline_sizes not in BASELINE_SIZES:
            raise ConfigError("baseline_sizes", f"must be one of {', '.join(BASELINE_SIZES)}")
        return config

    def algorithm(self) -> SearchParams:
        return SearchParams(
            iterations=self.iterations,
            population=self.population,
            parents=self.parents,
            mutation_prob=self.mutation_prob,
            frontier=self.frontier,
        )

    def bounds(self) -> Bounds:
        return Bounds(
            max_latency_ms=self.max_latency_ms,
            max_memory_mb=self.max_memory_mb,
            min_params=self.min_params,
            max_params=self.max_params,
        )

    def search_space(self) -> SearchSpace:
        return SearchSpace.from_dict(self.space)

    def overrides(self) -> MeasureSettingsIn:
        try:
            return MeasureSettingsIn(**self.measure)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(".".join(str(p) for p in err["loc"]), err["msg"]) from None

    def settings_for(self, defaults: MeasureSettings) -> MeasureSettings:
        """The complete measurement settings on a device with these ``defaults``."""
        return self.overrides().resolve(defaults)

    def final_settings(self, settings: MeasureSettings) -> MeasureSettings:
        """The final re-measurement's settings: time budget and minimum time scaled by
        ``final_budget_factor`` (capped at the agent's limit)."""
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
