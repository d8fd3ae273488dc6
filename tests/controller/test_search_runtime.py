"""Dispatch, evaluation and the search runner against in-process fake agents (fast).

The real agents are exercised by tests/e2e; here a fake speaks the same client interface,
measures instantly (latency and memory from the config) and finishes one item per poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lts.controller.agents import AgentSpec
from lts.controller.client import AgentRefused, AgentUnavailable, JobNotFound
from lts.controller.report import build_report
from lts.controller.search.config import SearchConfig
from lts.controller.search.dispatch import AgentGone, Dispatcher, RetryPolicy
from lts.controller.search.final import dominated_rows
from lts.controller.search.runner import DeviceProgress, SearchRunner, start_search
from lts.controller.search.small_spaces import TINY_SPACE
from lts.controller.store import Store
from lts.shared.config import ArchConfig
from lts.shared.errors import SearchConflict
from lts.shared.objectives import ObjectiveSet
from lts.shared.params import count_params
from lts.shared.schemas import (
    DeviceInfo,
    JobItemCreate,
    JobItemPublic,
    JobPublic,
    JobsPublic,
    LatencyStats,
    MeasurementResult,
    MeasureSettings,
)

FAST = RetryPolicy(first_delay_s=0.005, max_delay_s=0.02, fail_after_s=5.0, poll_s=0.001)
SPACE = TINY_SPACE


def _stats(v: float) -> LatencyStats:
    return LatencyStats(median=v, p10=v, p90=v, mean=v, min=v, cv=0.0, n=1, samples=[v])


def fake_result(cfg: ArchConfig, settings: MeasureSettings) -> MeasurementResult:
    """As an agent answers: the latency its settings time (a decode step too where asked),
    the peak memory where the memory pass runs."""
    noise = int(hashlib.sha256(cfg.arch_id.encode()).hexdigest()[:8], 16) / 2**32
    latency = (0.1 + count_params(cfg).decoder / 1e5 * (0.8 + 0.4 * noise)) / settings.threads
    decode = 0.05 + 0.02 * cfg.n_layer * (0.5 + noise) + count_params(cfg).total / 1e7
    memory = 2.0 + count_params(cfg).total * 4 / 2**20
    return MeasurementResult(
        arch_id=cfg.arch_id,
        latency_ms=_stats(decode if settings.metric == "decode" else latency),
        decode_latency_ms=_stats(decode) if settings.decode else None,
        peak_memory_mb=memory if settings.measure_memory else None,
        settings=settings,
    )  # fmt: skip


class Killed(BaseException):
    """The controller process dies here (SIGKILL: no handler, no clean-up runs)."""


class FakeAgent:
    """One fake device. ``down``: every call fails as unreachable; ``bad``: arch ids refused
    with 422 at submission; ``fail_if(cfg)``: the measurements that fail; ``lose_answers``:
    how many of the next submissions are taken but their answer is lost (a timeout);
    ``kill_after_submit``: the next submission is taken and then the controller dies;
    ``infra_failures[arch_id]``: how many times that item fails outside the model next.
    Submissions with a key are idempotent, as on the real agent."""

    def __init__(self, name: str = "fake", threads: int = 1) -> None:
        self.info = DeviceInfo(
            name=name, fingerprint=f"fp-{name}-{threads}", hostname=name, os="linux",
            machine="x86_64", cpu_model="fake", cores_logical=2, memory_total_mb=1024.0,
            defaults=MeasureSettings(threads=threads),
        )  # fmt: skip
        self.jobs: dict[str, dict[str, Any]] = {}
        self.measured: Counter[tuple[str, str]] = Counter()
        self.submitted: list[int] = []
        self.max_open = 0
        self.down = False
        self.bad: set[str] = set()
        self.fail_if: Any = lambda cfg: False
        self.infra_failures: Counter[str] = Counter()  # arch id -> faults outside the model
        self.lose_answers = 0
        self.kill_after_submit = False
        self.keys: dict[str, str] = {}
        self._ids = itertools.count()

    def open_jobs(self) -> int:
        return sum(j["status"] in ("queued", "running") for j in self.jobs.values())

    def public(self, job_id: str) -> JobPublic:
        job = self.jobs[job_id]
        items = [JobItemPublic(**item) for item in job["items"]]
        return JobPublic(
            id=job_id, status=job["status"], key=job["key"], created_at="now", items=items
        )

    def submit(self, items: list[JobItemCreate], key: str | None = None) -> JobPublic:
        if key in self.keys:
            assert self.jobs[self.keys[key]]["sent"] == items, "one key, other items"
            return self.public(self.keys[key])
        for i, item in enumerate(items):
            if ArchConfig.from_dict(item.arch).arch_id in self.bad:
                raise AgentRefused("422 invalid", status=422, field=f"items[{i}].arch.n_head")
        job_id = f"job{next(self._ids)}"
        if key is not None:
            self.keys[key] = job_id
        self.jobs[job_id] = {
            "status": "queued",
            "key": key,
            "sent": items,
            "requests": [
                (ArchConfig.from_dict(it.arch), it.settings.resolve(self.info.defaults))
                for it in items
            ],
            "items": [{"index": i, "status": "pending"} for i in range(len(items))],
        }
        self.submitted.append(len(items))
        self.max_open = max(self.max_open, self.open_jobs())
        return self.public(job_id)

    def advance(self, job_id: str) -> None:
        """Measure the job's next pending item (one per poll)."""
        job = self.jobs[job_id]
        for item, (cfg, settings) in zip(job["items"], job["requests"], strict=True):
            if item["status"] != "pending":
                continue
            job["status"] = "running"
            self.measured[(cfg.arch_id, settings.cache_key())] += 1
            if self.infra_failures[cfg.arch_id] > 0:
                self.infra_failures[cfg.arch_id] -= 1
                item.update(status="failed", error="worker killed by signal 9 (SIGKILL)",
                            fault="infrastructure", arch_id=cfg.arch_id)  # fmt: skip
            elif self.fail_if(cfg):
                item.update(status="failed", error="worker crashed", fault="model",
                            arch_id=cfg.arch_id)  # fmt: skip
            else:
                result = fake_result(cfg, settings)
                item.update(status="done", result=result, arch_id=cfg.arch_id)
            break
        if all(i["status"] != "pending" for i in job["items"]):
            job["status"] = "done"

    def cancel(self, job_id: str) -> JobPublic:
        job = self.jobs[job_id]
        for item in job["items"]:
            if item["status"] == "pending":
                item.update(
                    status="rejected", error="cancelled before it started", fault="cancelled"
                )
        job["status"] = "cancelled"
        return self.public(job_id)


class FakeClient:
    def __init__(self, agent: FakeAgent, label: str = "fake") -> None:
        self.agent = agent
        self.label = label
        self.url = f"http://{label}"

    def _check(self) -> None:
        if self.agent.down:
            raise AgentUnavailable(f"agent {self.label}: cannot reach {self.url}")

    async def device(self) -> DeviceInfo:
        await asyncio.sleep(0)
        self._check()
        return self.agent.info

    async def submit(self, items: list[JobItemCreate], key: str | None = None) -> JobPublic:
        await asyncio.sleep(0)
        self._check()
        job = self.agent.submit(items, key)
        if self.agent.kill_after_submit:
            self.agent.kill_after_submit = False
            raise Killed
        if self.agent.lose_answers:
            self.agent.lose_answers -= 1
            raise AgentUnavailable(f"agent {self.label}: no answer to POST /jobs in time")
        return job

    async def jobs(self, limit: int = 100, key: str | None = None) -> JobsPublic:
        await asyncio.sleep(0)
        self._check()
        ids = [self.agent.keys[key]] if key in self.agent.keys else []
        if key is None:
            ids = list(reversed(self.agent.jobs))
        data = [self.agent.public(i) for i in ids[:limit]]
        return JobsPublic(data=data, count=len(data))

    async def job(
        self, job_id: str, *, since: int = 0, samples: bool = True, items: int | None = None
    ) -> JobPublic:
        """Like an agent that predates ``since`` and ``samples``: the whole job, every time."""
        await asyncio.sleep(0)
        self._check()
        if job_id not in self.agent.jobs:
            raise JobNotFound(f"no job {job_id}")
        self.agent.advance(job_id)
        return self.agent.public(job_id)

    async def cancel(self, job_id: str) -> JobPublic:
        self._check()
        return self.agent.cancel(job_id)

    async def aclose(self) -> None:
        pass


def _items(n: int) -> list[JobItemCreate]:
    cfgs = [
        ArchConfig.from_dict({**{k: v for k, v in SPACE.items() if k in ("n_token", "cutoffs")},
                              "backbone": "gpt2", "n_layer": 1 + i % 3, "d_model": 64,
                              "n_head": 2, "d_inner": 128 + 64 * (i // 3)})
        for i in range(n)
    ]  # fmt: skip
    return [JobItemCreate(arch=c.to_dict()) for c in cfgs]


# ------------------------------------------------------------------------------ dispatcher
@pytest.mark.parametrize(("max_jobs", "open_at_most"), [(None, 2), (1, 1)])
def test_jobs_in_flight_in_batches_and_every_item_once(
    max_jobs: int | None, open_at_most: int
) -> None:
    """The next job goes out once those in flight hold at most ``slots`` pending items (so
    two are open at the job boundaries); ``max_jobs=1``: one job at a time."""
    agent = FakeAgent()
    got: list[int] = []
    dispatcher = Dispatcher(FakeClient(agent), FAST, batch_size=4, slots=2, max_jobs=max_jobs)
    asyncio.run(dispatcher.run(_items(9), lambda i, item: got.append(i)))
    assert sorted(got) == list(range(9))
    assert agent.submitted == [4, 4, 1] and agent.max_open == open_at_most
    assert dispatcher.current_jobs == []


def test_every_job_is_reported_by_key_before_it_is_sent() -> None:
    agent = FakeAgent()
    reports: list[list[tuple[str, str | None]]] = []
    sent_after: list[int] = []  # how many reports had been made when each job was sent

    class Watched(FakeClient):
        async def submit(self, items: list[JobItemCreate], key: str | None = None) -> JobPublic:
            assert (key, None) in reports[-1], "a job went out before its key was recorded"
            sent_after.append(len(reports))
            return await super().submit(items, key)

    dispatcher = Dispatcher(
        Watched(agent), FAST, batch_size=3, slots=2,
        on_jobs=lambda jobs: reports.append([(j.key, j.job_id) for j in jobs]),
    )  # fmt: skip
    asyncio.run(dispatcher.run(_items(12), lambda i, item: None))
    assert len(sent_after) == 4 and reports[-1] == []
    assert max(len(r) for r in reports) >= 2  # several in flight at once
    ids = {job_id for r in reports for _, job_id in r if job_id}
    assert ids == set(agent.jobs)  # each job reported with its id once the agent took it


def test_refused_item_is_rejected_and_the_rest_measured() -> None:
    agent = FakeAgent()
    items = _items(5)
    agent.bad = {ArchConfig.from_dict(items[2].arch).arch_id}
    got: dict[int, str] = {}
    dispatcher = Dispatcher(FakeClient(agent), FAST, batch_size=8)
    asyncio.run(dispatcher.run(items, lambda i, item: got.__setitem__(i, item.status)))
    assert got == {0: "done", 1: "done", 2: "rejected", 3: "done", 4: "done"}


def test_a_stop_cancels_every_job_in_flight() -> None:
    agent = FakeAgent()

    async def scenario() -> None:
        dispatcher = Dispatcher(FakeClient(agent), FAST, batch_size=3, slots=2)
        task = asyncio.create_task(dispatcher.run(_items(12), lambda i, item: None))
        while agent.open_jobs() < 2 and not task.done():
            await asyncio.sleep(0)
        task.cancel()  # what a stop does; the device search then cancels the jobs in flight
        with pytest.raises(asyncio.CancelledError):
            await task
        assert dispatcher.current_jobs == list(agent.jobs)  # both, oldest first
        await dispatcher.cancel_current()

    asyncio.run(scenario())
    assert [job["status"] for job in agent.jobs.values()] == ["cancelled", "cancelled"]
    assert len(agent.submitted) == 2


@pytest.mark.parametrize("batch_size", [8, 2])  # one job in flight, or several
def test_forgotten_job_is_sent_again_without_repeats(batch_size: int) -> None:
    agent = FakeAgent()
    got: list[int] = []

    def on_item(i: int, item: JobItemPublic) -> None:
        got.append(i)
        if len(got) == 2:
            agent.jobs.clear()  # the agent restarted and lost its jobs

    dispatcher = Dispatcher(FakeClient(agent), FAST, batch_size=batch_size)
    asyncio.run(dispatcher.run(_items(6), on_item))
    assert sorted(got) == list(range(6))


def test_a_lost_answer_to_a_submission_measures_nothing_twice() -> None:
    agent = FakeAgent()
    agent.lose_answers = 2  # the agent takes the job; the controller hears nothing, retries
    got: list[int] = []
    asyncio.run(
        Dispatcher(FakeClient(agent), FAST, batch_size=4).run(
            _items(6), lambda i, item: got.append(i)
        )
    )
    assert sorted(got) == list(range(6))
    assert agent.submitted == [4, 2]
    assert set(agent.measured.values()) == {1}


def test_outage_waits_then_resumes() -> None:
    agent = FakeAgent()
    events: list[str | None] = []

    async def scenario() -> None:
        agent.down = True
        dispatcher = Dispatcher(FakeClient(agent), FAST, on_waiting=events.append)
        task = asyncio.create_task(dispatcher.run(_items(3), lambda i, item: None))
        await asyncio.sleep(0.1)
        agent.down = False
        await task

    asyncio.run(scenario())
    assert len(events) == 2 and events[0] and "cannot reach" in events[0] and events[1] is None


def test_hard_failure_after_the_configured_time() -> None:
    agent = FakeAgent()
    agent.down = True
    policy = RetryPolicy(first_delay_s=0.01, max_delay_s=0.02, fail_after_s=0.1, poll_s=0.001)
    with pytest.raises(AgentGone, match="gave up after"):
        asyncio.run(Dispatcher(FakeClient(agent), policy).run(_items(2), lambda i, it: None))


# ---------------------------------------------------------------------------------- runner
def _config(**changes: Any) -> SearchConfig:
    values: dict[str, Any] = {
        "agents": ["a", "b"],
        "space": SPACE,
        "seed": 3,
        "iterations": 4,
        "population": 10,
        "parents": 3,
        "baseline_sizes": "space",
        "baseline_layers": [1, 2],
        "final_budget_factor": 2.0,
        "final_share": 1.0,  # no time bound: a fake agent's search takes no time
        "measure": {"time_budget_s": 0.5},
    }
    return SearchConfig.build(**{**values, **changes})


def _run(
    store: Store,
    search_id: int,
    agents: dict[str, FakeAgent],
    observer: Any = None,
) -> Any:
    specs = [AgentSpec(name, f"http://{name}") for name in agents]
    runner = SearchRunner(
        store,
        search_id,
        specs,
        observer=observer,
        client_factory=lambda spec: FakeClient(agents[spec.name], spec.name),
        policy=FAST,
    )
    return asyncio.run(runner.run())


def _candidates(store: Store, search_id: int) -> list[tuple[int, str, int, str]]:
    return [(c.device_id, c.origin, c.iteration, c.arch_id) for c in store.candidates(search_id)]


def test_search_on_two_devices_stores_everything(tmp_path: Path) -> None:
    agents = {"a": FakeAgent("a", threads=1), "b": FakeAgent("b", threads=2)}
    with Store.open(tmp_path / "s.sqlite") as store:
        search = start_search(store, _config())
        outcome = _run(store, search.id, agents)
        assert outcome.status == "done"
        assert {d.status for d in outcome.devices} == {"done"}
        for sd in outcome.devices:
            assert sd.iteration_done == 3
            hvs = store.hypervolumes(search.id, sd.device_id)
            assert [h.iteration for h in hvs] == [0, 1, 2, 3]
            reported = store.reported(search.id, sd.device_id)
            roles = Counter(r.role for r in reported)
            assert roles["baseline"] == 2 and roles["frontier"] >= 1
            # The final settings (twice the budget) differ from the search's: the baselines
            # and the members their comparisons pick are measured again.
            assert all(r.final_measurement_id for r in reported if r.role == "baseline")
            assert all(r.final_measurement_id != r.search_measurement_id for r in reported
                       if r.final_measurement_id)  # fmt: skip
            (dev,) = build_report(store, search.id, sd.agent).devices
            assert all(c.match is None or c.match.figures == "final" for c in dev.comparisons)
        # Every measurement was taken once, on its own device.
        for agent in agents.values():
            assert set(agent.measured.values()) == {1}
        assert store.count_measurements() == sum(len(a.measured) for a in agents.values())


def test_the_final_phase_keeps_to_its_share_of_the_search_time(tmp_path: Path) -> None:
    """The default share (15%) of a fake agent's search (no time at all) fits no final
    measurement of 60 s: the search ends at once, on its search-time figures, and what it
    reports is still a frontier of them (no row dominated)."""
    agents = {"a": FakeAgent("a")}
    with Store.open(tmp_path / "s.sqlite") as store:
        config = _config(agents=["a"], final_share=0.15, measure={"time_budget_s": 60.0})
        search = start_search(store, config)
        seen: list[DeviceProgress] = []
        outcome = _run(store, search.id, agents, observer=seen.append)
        assert outcome.status == "done"
        (sd,) = outcome.devices
        reported = store.reported(search.id, sd.device_id)
        assert reported and not any(r.final_measurement_id for r in reported)
        assert all(r.search_measurement_id for r in reported)
        final = agents["a"].measured
        assert not any(json.loads(key)["time_budget_s"] == 120.0 for _, key in final)
        last = seen[-1]
        assert last.phase == "done" and last.final_total == last.final_done == 0
        (dev,) = build_report(store, search.id, "a").devices
        objectives = ObjectiveSet()
        rows = [{n: m.value(n) for n in objectives.names} for m in dev.frontier]
        assert rows and dominated_rows(rows, objectives) == []
        assert {m.figures for m in dev.frontier} == {"search"}


def test_resume_after_interruption_repeats_nothing(tmp_path: Path, store_url: str) -> None:
    agents = {"a": FakeAgent("a"), "b": FakeAgent("b", threads=2)}
    with Store(store_url) as store:
        search = start_search(store, _config())
        seen: list[DeviceProgress] = []

        async def interrupted() -> None:
            runner = SearchRunner(
                store, search.id, [AgentSpec(n, f"http://{n}") for n in agents],
                observer=seen.append,
                client_factory=lambda spec: FakeClient(agents[spec.name], spec.name),
                policy=FAST,
            )  # fmt: skip
            task = asyncio.create_task(runner.run())
            while sum(p.measured for p in seen[-2:]) < 17:
                await asyncio.sleep(0.001)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(interrupted())
        assert store.get_search(search.id).status == "interrupted"
        outcome = _run(store, search.id, agents)
        assert outcome.status == "done"
        for agent in agents.values():
            assert set(agent.measured.values()) == {1}, "a measurement was repeated"
        resumed = _candidates(store, search.id)

    fresh = {"a": FakeAgent("a"), "b": FakeAgent("b", threads=2)}
    with Store.open(tmp_path / "fresh.sqlite") as store:
        search = start_search(store, _config())
        _run(store, search.id, fresh)
        assert _candidates(store, search.id) == resumed  # the same search, interrupted or not


def _unseeded(self: Any) -> list[ArchConfig]:
    return []  # what a search stored before the baselines were seeded ran


@pytest.mark.parametrize("stop_after", [5, 17])  # in iteration 0, or after it
def test_a_search_stored_before_seeding_resumes_as_it_began(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop_after: int
) -> None:
    """A search whose iteration 0 was stored without the baselines (before they were seeded)
    resumes without them: the same candidates as had it never stopped under the old rule."""
    from lts.controller.search.device_search import DeviceSearch

    def interrupted_then_resumed(store: Store, agents: dict[str, FakeAgent]) -> int:
        search = start_search(store, _config())
        seen: list[DeviceProgress] = []

        async def interrupted() -> None:
            runner = SearchRunner(
                store, search.id, [AgentSpec(n, f"http://{n}") for n in agents],
                observer=seen.append,
                client_factory=lambda spec: FakeClient(agents[spec.name], spec.name),
                policy=FAST,
            )  # fmt: skip
            task = asyncio.create_task(runner.run())
            while sum(p.measured for p in seen[-2:]) < stop_after:
                await asyncio.sleep(0.001)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        with monkeypatch.context() as old:
            old.setattr(DeviceSearch, "_seeds", _unseeded)
            asyncio.run(interrupted())
        assert store.get_search(search.id).status == "interrupted"
        assert _run(store, search.id, agents).status == "done"  # resumed by today's code
        return search.id

    with Store.open(tmp_path / "resumed.sqlite") as store:
        sid = interrupted_then_resumed(store, {"a": FakeAgent("a"), "b": FakeAgent("b")})
        resumed = _candidates(store, sid)
    assert not [c for c in resumed if c[1] == "baseline" and c[2] >= 0]
    with Store.open(tmp_path / "old.sqlite") as store, monkeypatch.context() as old:
        old.setattr(DeviceSearch, "_seeds", _unseeded)
        search = start_search(store, _config())
        _run(store, search.id, {"a": FakeAgent("a"), "b": FakeAgent("b")})
        assert _candidates(store, search.id) == resumed


def test_a_seeded_search_starts_iteration_0_with_its_baselines(tmp_path: Path) -> None:
    agents = {"a": FakeAgent("a")}
    with Store.open(tmp_path / "s.sqlite") as store:
        search = start_search(store, _config(agents=["a"]))
        _run(store, search.id, agents)
        cands = store.candidates(search.id)
    baselines = [c.arch_id for c in cands if c.iteration == -1]
    first = [c for c in cands if c.iteration == 0]
    assert [c.arch_id for c in first[:2]] == baselines and len(first) == 10
    assert [c.origin for c in first] == ["baseline"] * 2 + ["random"] * 8
    assert all(c.cache_hit for c in first[:2])  # measured once, at iteration -1
    assert set(agents["a"].measured.values()) == {1}


def test_a_controller_killed_right_after_submitting_repeats_nothing(tmp_path: Path) -> None:
    """Killed after the agent took a job and before its id was recorded: the restarted
    controller finds the job by the key it recorded first, and measures nothing twice."""
    agents = {"a": FakeAgent("a")}
    with Store.open(tmp_path / "s.sqlite") as store:
        search = start_search(store, _config(agents=["a"]))
        submitted = agents["a"].submitted

        def kill_on_third_job(progress: DeviceProgress) -> None:
            agents["a"].kill_after_submit = len(submitted) == 2

        with pytest.raises(Killed):
            _run(store, search.id, agents, observer=kill_on_third_job)
        (sd,) = store.search_devices(search.id)
        *earlier, last = sd.state["inflight"]  # the jobs in flight, oldest first
        assert last["job"] is None and last["job_key"] in agents["a"].keys  # taken, unrecorded
        assert all(job["job"] in agents["a"].jobs for job in earlier)
        for job in sd.state["inflight"]:  # each recorded with the settings its items were sent with
            sent = agents["a"].jobs[agents["a"].keys[job["job_key"]]]["requests"]
            assert {settings.cache_key() for _, settings in sent} == {job["key"]}
        assert len(submitted) == 3 and agents["a"].open_jobs() >= 1

        outcome = _run(store, search.id, agents)
        assert outcome.status == "done"
        assert set(agents["a"].measured.values()) == {1}, "a measurement was repeated"
        assert store.count_measurements() == len(agents["a"].measured)


def test_a_search_run_by_a_live_process_is_refused_untouched(tmp_path: Path) -> None:
    agents = {"a": FakeAgent("a")}
    with Store.open(tmp_path / "s.sqlite") as store:
        search = start_search(store, _config(agents=["a"]))
        before = store.search_devices(search.id)
        # This very process (alive) holds it, as another runner would.
        store.acquire_lease(search.id, "other", socket.gethostname(), os.getpid(), lambda h: False)
        with pytest.raises(SearchConflict, match=f"process {os.getpid()}"):
            _run(store, search.id, agents)
        assert store.search_devices(search.id) == before and store.candidates(search.id) == []
        assert agents["a"].submitted == [] and store.lease(search.id).owner == "other"


def test_a_killed_or_silent_holder_is_taken_over(store_url: str) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    with Store(store_url) as store:
        for holder in ((socket.gethostname(), int(dead.stdout)), ("elsewhere", 1)):
            search = start_search(store, _config(agents=["a"], iterations=2))
            store.acquire_lease(search.id, "gone", *holder, lambda h: False)
            if holder[0] == "elsewhere":  # alive for all we know, but silent for too long
                time.sleep(0.3)
            specs = [AgentSpec("a", "http://a")]
            runner = SearchRunner(store, search.id, specs, policy=FAST,
                                  client_factory=lambda spec: FakeClient(FakeAgent("a")),
                                  heartbeat_s=0.05, stale_after_s=0.2)  # fmt: skip
            assert asyncio.run(runner.run()).status == "done"
            assert store.lease(search.id) is None  # released at the end


def test_a_runner_whose_lease_is_taken_over_stops_without_writing(store_url: str) -> None:
    """A controller that was not heard from (a laptop asleep) and whose search another
    controller took over stops at its next heartbeat and leaves the records alone."""
    agents = {"a": FakeAgent("a")}
    with Store(store_url) as store:
        search = start_search(store, _config(agents=["a"], iterations=50))

        def intrude(progress: DeviceProgress) -> None:
            while progress.measured == 3 and store.lease(search.id).owner != "intruder":
                # (refused when a heartbeat lands between its read and its update: again)
                with contextlib.suppress(SearchConflict):
                    store.acquire_lease(search.id, "intruder", "elsewhere", 1, lambda h: True)

        runner = SearchRunner(store, search.id, [AgentSpec("a", "http://a")], observer=intrude,
                              client_factory=lambda spec: FakeClient(agents["a"]), policy=FAST,
                              heartbeat_s=0.02, stale_after_s=0.5)  # fmt: skip
        with pytest.raises(SearchConflict, match="taken over by another controller"):
            asyncio.run(runner.run())
        assert store.get_search(search.id).status == "running"  # not marked interrupted
        assert [d.status for d in store.search_devices(search.id)] == ["running"]
        assert store.lease(search.id).owner == "intruder"


def test_a_dead_agent_fails_only_its_device(tmp_path: Path) -> None:
    agents = {"a": FakeAgent("a"), "b": FakeAgent("b", threads=2)}
    agents["b"].down = True
    policy = RetryPolicy(first_delay_s=0.01, max_delay_s=0.02, fail_after_s=0.2, poll_s=0.001)
    with Store.open(tmp_path / "s.sqlite") as store:
        search = start_search(store, _config())
        specs = [AgentSpec(n, f"http://{n}") for n in agents]
        runner = SearchRunner(
            store, search.id, specs, policy=policy,
            client_factory=lambda spec: FakeClient(agents[spec.name], spec.name),
        )  # fmt: skip
        outcome = asyncio.run(runner.run())
        a, b = outcome.devices
        assert a.status == "done" and a.iteration_done == 3
        assert b.status == "failed" and "gave up after" in (b.message or "")
        assert outcome.status == "failed" and "b:" in (store.get_search(search.id).message or "")
        # The agent comes back: resuming finishes the failed device only; a measures nothing
        # but the cross step's share (b's frontier, each model once, with the final settings).
        agents["b"].down = False
        before = Counter(agents["a"].measured)
        outcome = _run(store, search.id, agents)
        assert outcome.status == "done"
        new = agents["a"].measured - before
        a_id = store.search_devices(search.id)[0].device_id
        cross = {r.arch_id for r in store.reported(search.id, a_id) if r.role == "cross"}
        assert cross and {arch for arch, _ in new} <= cross and set(new.values()) <= {1}


class LyingAgent(FakeAgent):
    """Measures like :class:`FakeAgent`, then reports ``lie(item)`` instead (review
    2026-12-07, F5: negative figures, swapped results)."""

    def __init__(self, name: str, lie: Any) -> None:
        super().__init__(name)
        self.lie = lie

    def advance(self, job_id: str) -> None:
        super().advance(job_id)
        for item in self.jobs[job_id]["items"]:
            if item.get("result") is not None and not item.get("lied"):
                self.lie(item)
                item["lied"] = True


def _negative(item: dict[str, Any]) -> None:
    result = item["result"]
    stats = result.latency_ms.model_copy(update={"median": -1000.0})
    item["result"] = result.model_copy(update={"latency_ms": stats})


def _swapped(item: dict[str, Any]) -> None:
    other = ArchConfig.from_dict({**TINY_SPACE_ONE, "n_layer": 3})
    item["arch_id"] = other.arch_id


TINY_SPACE_ONE = {"backbone": "gpt2", "d_model": 64, "n_head": 2, "d_inner": 128,
                  "n_token": SPACE["n_token"], "cutoffs": SPACE["cutoffs"]}  # fmt: skip


@pytest.mark.parametrize(("lie", "message"), [(_negative, "latency median of -1000.0 ms"),
                                              (_swapped, "with the result of")])  # fmt: skip
def test_a_lying_agent_fails_only_its_device_and_stores_nothing_untrue(
    tmp_path: Path, lie: Any, message: str
) -> None:
    agents = {"a": FakeAgent("a"), "b": LyingAgent("b", lie)}
    with Store.open(tmp_path / "s.sqlite") as store:
        search = start_search(store, _config())
        outcome = _run(store, search.id, agents)
        a, b = outcome.devices
        assert a.status == "done"
        assert b.status == "failed" and message in (b.message or "")
        assert (b.message or "").count("\n") == 0  # one line
        assert store.count_measurements(b.device_id) == 0  # nothing of b's answers kept
        assert store.count_measurements(a.device_id) > 0


def test_failures_are_cached_off_the_frontier_and_the_cache_is_shared(tmp_path: Path) -> None:
    agent = FakeAgent("a")
    agent.fail_if = lambda cfg: cfg.n_layer == 3
    with Store.open(tmp_path / "s.sqlite") as store:
        first = start_search(store, _config(agents=["a"], baselines=False))
        assert _run(store, first.id, {"a": agent}).status == "done"
        cands = store.candidates(first.id)
        ms = store.get_measurements(c.measurement_id for c in cands if c.measurement_id)
        failed = [m for m in ms.values() if m.status == "failed"]
        assert failed and all(m.error == "worker crashed" for m in failed)
        archs = store.architectures(r.arch_id for r in store.reported(first.id))
        assert archs and all(a.n_layer != 3 for a in archs.values())
        # Another search on the same store reuses the cache (failures included): nothing is
        # measured twice.
        second = start_search(store, _config(agents=["a"], seed=4, baselines=False))
        assert _run(store, second.id, {"a": agent}).status == "done"
        assert set(agent.measured.values()) == {1}
        assert any(c.cache_hit for c in store.candidates(second.id))


def test_the_same_device_twice_is_refused(tmp_path: Path) -> None:
    agent = FakeAgent("a")
    with Store.open(tmp_path / "s.sqlite") as store:
        search = start_search(store, _config(agents=["a", "a2"], iterations=1, baselines=False))
        specs = [AgentSpec("a", "http://a"), AgentSpec("a", "http://a2")]
        runner = SearchRunner(
            store, search.id, specs, policy=FAST,
            client_factory=lambda spec: FakeClient(agent, spec.url),
        )  # fmt: skip
        outcome = asyncio.run(runner.run())
        first, second = outcome.devices
        assert first.status == "done"
        assert second.status == "failed" and "same device" in (second.message or "")


def test_the_joint_final_phase_keeps_to_its_share_of_the_search_time(tmp_path: Path) -> None:
    """The same bound in a joint search: 15% of a fake agents' search fits no 60 s final
    measurement on either device, so nothing is measured again and every device reports the
    joint frontier on its search-time figures; with no bound (share 1) the comparisons are
    measured again on both devices."""
    for share, measured_again in ((0.15, False), (1.0, True)):
        agents = {"a": FakeAgent("a"), "b": FakeAgent("b", threads=2)}
        with Store.open(tmp_path / f"joint-{share}.sqlite") as store:
            config = _config(joint=True, final_share=share, measure={"time_budget_s": 60.0})
            search = start_search(store, config)
            seen: list[DeviceProgress] = []
            outcome = _run(store, search.id, agents, observer=seen.append)
            assert outcome.status == "done"
            finals = set()
            for sd in outcome.devices:
                reported = store.reported(search.id, sd.device_id)
                assert reported and all(r.search_measurement_id for r in reported)
                finals.add(any(r.final_measurement_id for r in reported))
            assert finals == {measured_again}
            for agent in agents.values():  # the final settings: twice the budget
                again = [k for _, k in agent.measured if json.loads(k)["time_budget_s"] == 120.0]
                assert bool(again) is measured_again
            last = [p for p in seen if p.phase == "done"]
            assert last and all(p.final_total == p.final_done for p in last)
