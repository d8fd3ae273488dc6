"""Infrastructure faults are never the model's result (issue 12, point 7): an item the agent
reports as failed outside the model (``fault: infrastructure``) is not cached and is measured
again; one that keeps failing so ends its device's work (resumable), never stored as the
model's failure; ``retry_failed`` measures cached failures again and replaces them. Fake
agents in process (the real agent's side is tests/agent/test_agent_faults.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_search_runtime import FAST, FakeAgent, FakeClient, _config

from lts.controller.agents import AgentSpec
from lts.controller.search.dispatch import RetryPolicy
from lts.controller.search.runner import SearchRunner, start_search
from lts.controller.store import Store
from lts.shared.space import SearchSpace


def _runner(store: Store, sid: int, agent: FakeAgent, **kwargs) -> SearchRunner:
    return SearchRunner(store, sid, [AgentSpec("a", "http://a")], policy=FAST,
                        client_factory=lambda spec: FakeClient(agent, "a"), **kwargs)  # fmt: skip


def _baseline_ids() -> list[str]:
    from lts.controller.search.baselines import layer_scaled_baselines

    cfg = _config(agents=["a"])
    space = SearchSpace.from_dict(cfg.space)
    return [c.arch_id for c in layer_scaled_baselines(space, [1, 2], "space")]


def test_an_infrastructure_fault_is_measured_again_not_cached(tmp_path: Path) -> None:
    agent = FakeAgent("a")
    first, _ = _baseline_ids()
    agent.infra_failures[first] = 2  # killed from outside twice, then measured
    with Store.open(tmp_path / "s.sqlite") as store:
        sid = start_search(store, _config(agents=["a"])).id
        outcome = asyncio.run(_runner(store, sid, agent).run())
        assert outcome.status == "done"
        key = next(iter(agent.measured))[1]  # the search's settings (the first item measured)
        measured = store.find_measurements([first], outcome.devices[0].device_id, key)
        assert measured[first].status == "done"  # the kills were never stored
        assert all(m.status == "done" for m in store.get_measurements(
            c.measurement_id for c in store.candidates(sid) if c.measurement_id
        ).values())  # fmt: skip
    assert agent.measured[(first, key)] == 3  # twice killed, then measured


def test_an_item_that_keeps_failing_outside_the_model_ends_the_device_resumably(
    tmp_path: Path,
) -> None:
    agent = FakeAgent("a")
    first, _ = _baseline_ids()
    agent.infra_failures[first] = 3
    with Store.open(tmp_path / "s.sqlite") as store:
        sid = start_search(store, _config(agents=["a"])).id
        outcome = asyncio.run(_runner(store, sid, agent).run())
        assert outcome.status == "failed"
        (sd,) = outcome.devices
        assert "failed 3 times for reasons outside the model" in sd.message
        assert "SIGKILL" in sd.message
        assert store.count_measurements() == len(agent.measured) - 1  # nothing of it stored
        assert all(m.status != "failed" for m in store.get_measurements(range(1, 1000)).values())
        # The machine is fixed: resume measures it and finishes.
        outcome = asyncio.run(_runner(store, sid, agent).run())
        assert outcome.status == "done"


def test_retry_failed_measures_failures_again_and_replaces_them(tmp_path: Path) -> None:
    agent = FakeAgent("a")
    agent.fail_if = lambda cfg: cfg.n_layer == 2  # a model failure: cached, never repeated
    with Store.open(tmp_path / "s.sqlite") as store:
        sid = start_search(store, _config(agents=["a"])).id
        assert asyncio.run(_runner(store, sid, agent).run()).status == "done"
        failed = {m.id: m for m in store.get_measurements(range(1, 1000)).values()
                  if m.status == "failed"}  # fmt: skip
        assert failed
        assert asyncio.run(_runner(store, sid, agent).run()).status == "done"  # resume: cached
        assert set(agent.measured.values()) == {1}

        agent.fail_if = lambda cfg: False  # e.g. the agent got more memory
        assert asyncio.run(_runner(store, sid, agent, retry_failed=True).run()).status == "done"
        after = store.get_measurements(failed)
        assert all(m.status == "done" and m.error is None for m in after.values())  # same ids
        retried = {(m.arch_id, m.settings_key) for m in failed.values()}
        assert all(n == (2 if k in retried else 1) for k, n in agent.measured.items())
        assert all(m.status == "done" for m in store.get_measurements(range(1, 1000)).values())


def test_the_fault_limit_is_a_policy() -> None:
    assert RetryPolicy().max_infrastructure_faults == 3
