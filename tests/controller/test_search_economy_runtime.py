"""Screening and racing in whole searches, against the in-process fake agents (fast).

The fake here measures like a real agent in what matters to these rules: a quick
measurement's median is off the full one by a few per cent (the same for an architecture
every time) and a measurement without the memory pass has no peak memory. The real agent
runs these paths in tests/e2e and benchmarks/search_economy.py.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_search_runtime as rt  # tests/controller is on sys.path
from test_search_runtime import FakeAgent, _config, _run

from lts.controller.proxies import get_proxy
from lts.controller.report import build_report
from lts.controller.search import operators
from lts.controller.search.algorithms import Bounds, Point
from lts.controller.search.config import SearchConfig
from lts.controller.search.economy import SCREENED, Economy, quick_settings
from lts.controller.search.evaluation import DeviceEvaluator
from lts.controller.search.final import dominated_rows
from lts.controller.search.runner import start_search
from lts.controller.store import Store
from lts.shared.config import ArchConfig
from lts.shared.objectives import ObjectiveSet
from lts.shared.params import count_params
from lts.shared.schemas import MeasurementResult, MeasureSettings
from lts.shared.space import SearchSpace

full_result = rt.fake_result


def fake_result(cfg: ArchConfig, settings: MeasureSettings) -> MeasurementResult:
    """Latency: a cost per decoder parameter (+-5%, the same for an architecture every time)
    and per layer (so that deep narrow models are dominated); a quick measurement (one
    warm-up run) is off by up to +-4%. Memory as the runtime tests' fake."""
    result = full_result(cfg, settings)
    median = (0.1 + count_params(cfg).decoder / 1e5 * (0.95 + 0.1 * _hash(b"", cfg))
              + 0.05 * cfg.n_layer) / settings.threads  # fmt: skip
    if settings.warmup_runs <= 1:
        median *= 0.96 + 0.08 * _hash(b"quick", cfg)
    stats = result.latency_ms.model_copy(update={"median": median, "samples": [median]})
    return result.model_copy(update={"latency_ms": stats})


def _hash(salt: bytes, cfg: ArchConfig) -> float:
    return int(hashlib.sha256(salt + cfg.arch_id.encode()).hexdigest()[:8], 16) / 2**32


@pytest.fixture(autouse=True)
def _quick_aware_fake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rt, "fake_result", fake_result)


def _search(tmp_path: Path, **changes: Any) -> tuple[Store, int, FakeAgent]:
    values = {"agents": ["a"], "iterations": 8, "population": 16, "parents": 4,
              "measure_mode": "race", **changes}  # fmt: skip
    values = {k: v for k, v in values.items() if v is not None}
    store = Store.open(tmp_path / "s.sqlite")
    search = start_search(store, _config(**values))
    agent = FakeAgent("a")
    outcome = _run(store, search.id, {"a": agent})
    assert outcome.status == "done"
    return store, search.id, agent


def test_a_raced_search_keeps_quick_and_full_apart(
    tmp_path: Path,
) -> None:
    store, sid, agent = _search(tmp_path)
    with store:
        settings = store.get_search(sid).settings
        full = MeasureSettings(**{**agent.info.defaults.model_dump(), **settings["measure"]})
        joins = store.candidate_joins(sid)
        searched = [j for j in joins if j.candidate.iteration >= 0]
        by_measure: dict[str | None, int] = {}
        for j in searched:
            by_measure[j.candidate.measure] = by_measure.get(j.candidate.measure, 0) + 1
        assert by_measure.get("quick", 0) > 0, by_measure
        assert by_measure.get("full", 0) > 0, by_measure
        assert set(by_measure) <= {"quick", "full", SCREENED}
        for j in searched:
            c = j.candidate
            if c.measure == SCREENED:
                assert c.measurement_id is None and j.measurement is None
                assert set(c.predicted) == {"latency", "memory"}
            elif c.measure == "quick":
                assert j.measurement.settings_key == quick_settings(full).cache_key()
            else:
                assert j.measurement.settings_key == full.cache_key()
        # Every frontier member reported links the measurement the search decided on (quick
        # for one settled as a member for sure), and those measured again at the end a final
        # one with the final settings; no reported member is dominated by another.
        reported = [r for r in store.reported(sid) if r.role == "frontier"]
        assert reported
        links = {j.arch.arch_id: j.candidate.measurement_id for j in searched}
        links.update((j.arch.arch_id, j.candidate.measurement_id) for j in joins
                     if j.candidate.iteration < 0)  # a baseline may be a member  # fmt: skip
        final = SearchConfig.from_stored(settings).final_settings(full)
        device = joins[0].candidate.device_id
        finals = store.find_measurements([r.arch_id for r in reported], device, final.cache_key())
        for r in reported:
            assert r.search_measurement_id == links[r.arch_id]
            if r.final_measurement_id is not None:
                assert r.final_measurement_id == finals[r.arch_id].id
        rows = [d for d in build_report(store, sid).devices[0].frontier]
        objectives = SearchConfig.from_stored(settings).objective_set()
        values = [{"params": r.proxy, **{n: f.value for n, f in r.values.items()}} for r in rows]
        assert dominated_rows(values, objectives) == []
        # A screened candidate never reached the agent; nothing was measured twice.
        screened = {j.arch.arch_id for j in searched if j.candidate.measure == SCREENED}
        assert not screened & {a for a, _ in agent.measured}
        assert set(agent.measured.values()) == {1}
        cost = store.search_devices(sid)[0].state["cost_model"]
        assert cost["latency"]["n_scored"] > 0 and cost["memory"]["n"] > 0
        # Racing took quick measurements, some of them refined: both keys in the cache.
        quick_key = quick_settings(full).cache_key()
        keys = {k for _, k in agent.measured}
        assert full.cache_key() in keys and quick_key in keys


def test_no_screen_and_measure_full_measure_every_candidate_in_full(tmp_path: Path) -> None:
    store, sid, agent = _search(tmp_path, screen=False, measure_mode="full", iterations=4)
    with store:
        searched = [j for j in store.candidate_joins(sid) if j.candidate.iteration >= 0]
        assert {j.candidate.measure for j in searched} == {"full"}
        assert all(j.measurement is not None for j in searched)
        config = SearchConfig.from_stored(store.get_search(sid).settings)
        full = config.settings_for(agent.info.defaults)
        keys = {k for _, k in agent.measured}  # the search's and the final re-measurement's
        assert keys == {full.cache_key(), config.final_settings(full).cache_key()}


@pytest.mark.parametrize("stop_after", [30, 70])
def test_a_raced_search_resumed_mid_way_is_the_same_search(tmp_path: Path, stop_after: int) -> None:
    """Interrupted (after ``stop_after`` new measurements) and resumed, a search with
    screening and racing proposes, screens and refines what an uninterrupted one does: the
    cost model is rebuilt from the store and the held-out scores kept in the state."""
    values = {"agents": ["a"], "iterations": 7, "population": 16, "parents": 4,
              "measure_mode": "race"}  # fmt: skip

    def rows(store: Store, sid: int) -> list[tuple[Any, ...]]:
        return [(j.candidate.iteration, j.arch.arch_id, j.candidate.measure,
                 j.candidate.predicted) for j in store.candidate_joins(sid)]  # fmt: skip

    with Store.open(tmp_path / "whole.sqlite") as store:
        search = start_search(store, _config(**values))
        assert _run(store, search.id, {"a": FakeAgent("a")}).status == "done"
        expected = rows(store, search.id)
    assert {r[2] for r in expected if r[0] >= 0} >= {"quick", "full"}

    agent = FakeAgent("a")
    with Store.open(tmp_path / "split.sqlite") as store:
        search = start_search(store, _config(**values))
        seen: list[Any] = []

        async def interrupted() -> None:
            runner = rt.SearchRunner(
                store, search.id, [rt.AgentSpec("a", "http://a")], observer=seen.append,
                client_factory=lambda spec: rt.FakeClient(agent, "a"), policy=rt.FAST,
            )  # fmt: skip
            task = asyncio.create_task(runner.run())
            while not seen or seen[-1].measured < stop_after:
                await asyncio.sleep(0.001)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(interrupted())
        assert store.get_search(search.id).status == "interrupted"
        assert _run(store, search.id, {"a": agent}).status == "done"
        assert set(agent.measured.values()) == {1}, "a measurement was repeated"
        got = rows(store, search.id)
    assert got == expected


def test_screening_sends_nothing_a_measured_frontier_dominates_for_sure(tmp_path: Path) -> None:
    """Once the cost model has an error estimate, a candidate predicted (with its margin)
    to be dominated by a frontier member is not measured; without a frontier nothing is."""
    agent = FakeAgent("a")
    client = rt.FakeClient(agent, "a")
    space = SearchSpace.from_dict(rt.SPACE)
    rng = np.random.default_rng(0)
    cfgs = list({c.arch_id: c for c in (operators.sample(space, rng) for _ in range(400))}.values())
    assert len(cfgs) >= 65
    proxy = get_proxy("decoder_params")

    async def scenario(store: Store) -> None:
        dispatcher = rt.Dispatcher(client, rt.FAST)
        info = await client.device()
        device = store.upsert_device("a", info, "http://a")
        evaluator = DeviceEvaluator(store, device, dispatcher)
        settings = info.defaults.model_copy(update={"time_budget_s": 0.5})
        economy = Economy(store=store, evaluator=evaluator, settings=settings, proxy=proxy,
                          objectives=ObjectiveSet(), bounds=Bounds(),
                          measure_mode="full")  # fmt: skip
        learned = await economy.evaluate(cfgs[:40], [])  # no frontier: nothing screened
        assert {j.measure for j in learned.values()} == {"full"}
        assert economy.cost.margin("latency") is not None
        best = cfgs[0]  # as a member beating every candidate (any proxy, ~0 cost)
        member = Point(cfg=best, iteration=0, origin="random",
                       values={"params": 1e15, "latency": 1e-3, "memory": 1e-3},
                       decoder_params=1, feasible=True)  # fmt: skip
        before = sum(agent.measured.values())
        judged = await economy.evaluate(cfgs[40:60], [member])
        assert {j.measure for j in judged.values()} == {SCREENED}
        assert all(j.evaluation is None and j.outcome.error == SCREENED for j in judged.values())
        assert all(None not in j.predicted.values() for j in judged.values())
        assert sum(agent.measured.values()) == before  # nothing reached the agent
        assert economy.counts["screened"] == len(judged) > 5
        # Screening off: measured.
        economy.screening = False
        judged = await economy.evaluate(cfgs[60:65], [member])
        assert {j.measure for j in judged.values()} == {"full"}

    with Store.open(tmp_path / "s.sqlite") as store:
        asyncio.run(scenario(store))


def test_the_default_decides_on_quick_measurements(tmp_path: Path) -> None:
    """``measure_mode`` quick (the default): every new candidate is measured once, quickly,
    the baselines too (the final phase takes their comparisons in full); only the final
    re-measurement uses other settings."""
    store, sid, agent = _search(tmp_path, measure_mode=None, iterations=4)
    with store:
        config = SearchConfig.from_stored(store.get_search(sid).settings)
        assert config.measure_mode == "quick"
        full = config.settings_for(agent.info.defaults)
        joins = store.candidate_joins(sid)
        for j in joins:
            if j.candidate.iteration < 0 or j.candidate.measure != SCREENED:
                assert j.measurement.settings_key == quick_settings(full).cache_key()
            if j.candidate.iteration >= 0 and j.candidate.measure != SCREENED:
                assert j.candidate.measure == "quick"
        keys = {k for _, k in agent.measured}
        final = config.final_settings(full).cache_key()
        assert keys == {quick_settings(full).cache_key(), final}
        # The baselines' comparisons were measured again (no time bound in these tests).
        reported = store.reported(sid)
        assert all(r.final_measurement_id for r in reported if r.role == "baseline")
        assert set(agent.measured.values()) == {1}
