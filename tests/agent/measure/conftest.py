"""Fixtures of the measurement-core tests: tiny models, short budgets, one shared Measurer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lts.agent.measure import Measurer
from lts.shared.config import ArchConfig
from lts.shared.schemas import MeasureSettings

#: Short protocol settings: enough runs for sane statistics, a fraction of a second each.
QUICK: dict[str, Any] = dict(
    seq_len=32, time_budget_s=0.6, warmup_runs=2, warmup_s=0.0, min_runs=6, min_time_s=0.05,
    target_rel_ci=0.05,
)  # fmt: skip


def tiny(backbone: str = "gpt2", **changes: Any) -> ArchConfig:
    """A tiny model: vocabulary 1000 in three clusters, 2 layers with different heads."""
    data: dict[str, Any] = dict(
        backbone=backbone, n_layer=2, d_model=64, n_head=[2, 4], d_inner=[128, 192],
        n_token=1000, cutoffs=[200, 500], div_val=2, d_embed=64, tgt_len=64,
    )  # fmt: skip
    data.update(changes)
    return ArchConfig.from_dict(data)


def quick(**changes: Any) -> MeasureSettings:
    return MeasureSettings(**{**QUICK, **changes})


@pytest.fixture(scope="session")
def make_arch() -> Any:
    """:func:`tiny` as a fixture."""
    return tiny


@pytest.fixture(scope="session")
def make_settings() -> Any:
    """:func:`quick` as a fixture."""
    return quick


@pytest.fixture(scope="session")
def measurer() -> Iterator[Measurer]:
    """One Measurer for the whole session (helpers start once: seconds on a busy machine)."""
    m = Measurer()
    try:
        m.start()
        yield m
    finally:
        m.close()
