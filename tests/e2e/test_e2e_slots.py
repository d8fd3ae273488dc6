"""End to end, an agent with two slots (issue 10, item 6): the dispatcher keeps both busy
across job boundaries, and a controller killed with two jobs in flight resumes without
measuring anything twice or losing anything. One real ``agent serve --slots 2`` on 127.0.0.1
for the module; the real dispatcher and the real ``controller`` CLI."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from test_e2e_search import CONTROLLER, controller, job_ids, measured_items, twice, wait_for
from testkit import SERVER_START_S

from lts.controller.client import AgentClient
from lts.controller.search.dispatch import Dispatcher, InFlight
from lts.controller.search.local_agent import LocalAgent
from lts.controller.search.operators import sample
from lts.controller.search.small_spaces import TINY_SPACE
from lts.controller.store import Store, database_url
from lts.shared.schemas import JobItemCreate, JobItemPublic, MeasureSettingsIn
from lts.shared.space import SearchSpace

#: Short measurements, long enough (about half a second each) that an idle slot would show.
QUICK = {"time_budget_s": 0.4, "warmup_runs": 1, "warmup_s": 0.05, "min_runs": 3,
         "min_time_s": 0.3, "measure_memory": False}  # fmt: skip


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAgent]:
    logs = tmp_path_factory.mktemp("slots")
    local = LocalAgent(name="e2e-slots", log_path=logs / "agent.log", extra=["--slots", "2"],
                       start_timeout_s=SERVER_START_S)
    with local:
        yield local


def _when(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def test_two_slots_stay_busy_across_job_boundaries(agent: LocalAgent) -> None:
    rng = np.random.default_rng(5)
    space = SearchSpace.from_dict(TINY_SPACE)
    cfgs = list({c.arch_id: c for c in (sample(space, rng) for _ in range(40))}.values())[:8]
    assert len(cfgs) == 8
    items = [JobItemCreate(arch=c.to_dict(), settings=MeasureSettingsIn(**QUICK)) for c in cfgs]
    got: dict[int, JobItemPublic] = {}
    reports: list[list[InFlight]] = []

    def on_item(index: int, item: JobItemPublic) -> None:
        assert index not in got, f"item {index} delivered twice"
        got[index] = item

    async def run() -> None:
        async with AgentClient(agent.url, label="slots") as client:
            info = await client.device()
            assert info.slots == 2
            dispatcher = Dispatcher(
                client, batch_size=2, slots=info.slots, on_jobs=lambda j: reports.append(list(j))
            )
            await dispatcher.run(items, on_item)

    asyncio.run(run())
    assert sorted(got) == list(range(8)) and all(i.status == "done" for i in got.values())
    job_of = {i: i // 2 for i in got}  # batches of 2 in order (none was refused or re-sent)
    assert len({j.job_id for r in reports for j in r if j.job_id}) == 4
    assert max(len(r) for r in reports) >= 2, "never more than one job in flight"
    spans = {}
    for i, item in got.items():
        assert item.result is not None
        queue = item.result.context["queue"]
        spans[i] = (queue["slot"], _when(queue["started_at"]), _when(queue["finished_at"]))
    assert {slot for slot, _, _ in spans.values()} == {0, 1}
    # Items of different jobs ran at once (with one job in flight they never can).
    across = [(i, j) for i in spans for j in spans if job_of[i] < job_of[j]
              and spans[j][1] < spans[i][2] and spans[i][1] < spans[j][2]]  # fmt: skip
    assert across, f"no two items of different jobs overlapped: {spans}"
    # Each slot went from one item straight to the next, job boundaries included: the next
    # item was waiting (a fraction of a millisecond here; with one job in flight, 30-220 ms
    # at each boundary, the wait for the other slot's item, the poll and the submission).
    for slot in (0, 1):
        mine = sorted((start, end, i) for i, (s, start, end) in spans.items() if s == slot)
        for (_, end, i), (start, _, j) in itertools.pairwise(mine):
            assert start - end < 0.05, (
                f"slot {slot} idled {start - end:.3f} s between item {i} (job {job_of[i]}) "
                f"and item {j} (job {job_of[j]}); spans: {spans}"
            )


def _inflight(db: str) -> list[dict[str, Any]]:
    """The jobs in flight the store holds for the search's device (read-only)."""
    url = database_url(db)
    engine = create_engine(f"sqlite:///file:{url.removeprefix('sqlite:///')}?mode=ro&uri=true")
    try:
        with engine.connect() as conn:
            state = conn.execute(text("SELECT state FROM search_devices")).scalar_one_or_none()
    except SQLAlchemyError:  # not created yet
        return []
    finally:
        engine.dispose()
    inflight = json.loads(state).get("inflight") if state else None
    return inflight or []


def test_a_controller_killed_with_two_jobs_in_flight_resumes_without_repeats(
    agent: LocalAgent, env: dict[str, str], tmp_path: Path
) -> None:
    before = job_ids(agent)
    args = [
        "search", "--agents", agent.url, "--space", env["SPACE"], "--iterations", "2",
        "--population", "8", "--seed", "4", "--batch-size", "2", "--no-baselines",
        "--final-budget-factor", "1", "--time-budget-s", "0.4", "--min-time-s", "0.3",
        "--warmup-s", "0.05",
    ]  # fmt: skip
    log = tmp_path / "killed-controller.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*CONTROLLER, *args], env=env, stdout=out, stderr=out)

    def two_jobs_in_flight() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the controller exited ({proc.returncode}):\n{log.read_text()}")
        return sum(job["job"] is not None for job in _inflight(env["LTS_DB"])) >= 2

    try:
        wait_for(two_jobs_in_flight, timeout=180, what="two jobs in flight", pause_s=0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    left = _inflight(env["LTS_DB"])
    assert len(left) >= 2 and len({job["job_key"] for job in left}) == len(left)

    r = controller(env, "search", "--resume", "1")
    assert r.returncode == 0, r.stderr
    with Store.open(env["LTS_DB"]) as store:
        assert store.get_search(1).status == "done"
        (sd,) = store.search_devices(1)
        assert not sd.state.get("inflight")  # collected
        assert all(c.measurement_id is not None for c in store.candidates(1))
        taken = measured_items(agent, before)
        assert set(taken.values()) == {1}, twice(taken)  # nothing measured twice
        assert len(taken) == store.count_measurements()  # nothing measured was lost
