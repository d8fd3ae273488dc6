"""Fixtures of the measurement-core tests: tiny models, short budgets, one shared Measurer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from agent.measure import Measurer
from agent.measure.local import ABORT_ENV
from shared.config import ArchConfig
from shared.schemas import MeasureSettings

#: The seed that makes the shared Measurer's worker abort (LTS_AGENT_TEST_ABORT_SEED).
ABORT_SEED = 987654

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
    """One Measurer for the whole session (helpers start once: seconds on a busy machine).

    Every worker it starts (a fresh one after each failure too) has the test-only abort
    switch armed for :data:`ABORT_SEED`: the variable stays set until the session ends.
    """
    old = os.environ.get(ABORT_ENV)
    os.environ[ABORT_ENV] = str(ABORT_SEED)
    m = Measurer()
    try:
        m.start()
        yield m
    finally:
        m.close()
        if old is None:
            os.environ.pop(ABORT_ENV, None)
        else:
            os.environ[ABORT_ENV] = old
