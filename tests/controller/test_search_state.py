"""A device search's stored state: typed, versioned, every older shape read through its
upgrade steps."""

from __future__ import annotations

import pytest

from lts.controller.search.state import STATE_VERSION, DeviceState, StoredJob, load_state
from lts.shared.errors import ConfigError


def test_an_empty_state_is_a_new_one() -> None:
    assert load_state({}) == DeviceState() == load_state(None)
    assert DeviceState().version == STATE_VERSION


def test_the_unversioned_shape_is_upgraded() -> None:
    """Before versions: one job in flight as a dict, the held-out scores by quantity, an
    algorithm state without its algorithm's name (the paper's was the only one)."""
    old = {
        "algorithm": {"iteration": 3, "rng": {"state": 1}, "chosen": {"a": 2}},
        "inflight": {"job_key": "k1", "job": "j1", "key": "{}"},
        "cost_model": {"latency": {"n": 4}},
        "cost_scores": {"latency_scores": [0.1], "memory_scores": [0.2, 0.3], "quick": [0.05]},
    }
    state = load_state(old)
    assert state.version == STATE_VERSION
    assert state.inflight == [StoredJob(job_key="k1", job="j1", key="{}")]
    assert state.algorithm == {"algorithm": "lts", "iteration": 3, "rng": {"state": 1},
                               "chosen": {"a": 2}}  # fmt: skip
    assert state.cost_scores == {"scores": {"latency": [0.1], "memory": [0.2, 0.3]},
                                 "quick": [0.05]}  # fmt: skip
    assert state.cost_model == {"latency": {"n": 4}}
    # a list of jobs, and no job, read as well
    listed = load_state({**old, "inflight": [old["inflight"], {"key": "{}"}]})
    assert [j.job for j in listed.inflight] == ["j1", None]
    assert load_state({**old, "inflight": None}).inflight == []


def test_the_current_shape_round_trips() -> None:
    state = DeviceState(algorithm={"algorithm": "nsga2", "iteration": 1},
                        inflight=[StoredJob(job_key="k", key="{}")])  # fmt: skip
    assert load_state(state.to_json()) == state


def test_a_newer_or_broken_state_is_refused_with_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="newer than this release"):
        load_state({"version": STATE_VERSION + 1})
    with pytest.raises(ConfigError, match="cannot be read"):
        load_state({"version": STATE_VERSION, "inflight": "not a list"})
