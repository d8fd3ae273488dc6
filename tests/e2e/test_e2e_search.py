"""End to end: real agents on 127.0.0.1 (subprocesses), the real ``controller`` CLI.

Three agents start once for the module (about 20-30 s on two busy cores): two on this machine
with different thread counts (two devices) and a third that one test kills. The space is tiny
and every budget short, so each search takes seconds per device. The resume test runs on a
PostgreSQL store too (``store_url``; marked ``postgres``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from testkit import SERVER_START_S, agent_items

from lts.controller.search.local_agent import LocalAgent
from lts.controller.store import Store, database_url

FAST = [
    "--time-budget-s", "0.3", "--min-time-s", "0.1", "--warmup-s", "0.02",
    "--baseline-sizes", "space", "--baseline-layers", "1,3", "--final-budget-factor", "2",
    "--final-share", "1",
    "--parents", "2", "--batch-size", "4",
]  # fmt: skip
CONTROLLER = [sys.executable, "-c", "from lts.controller.cli import main; main()"]


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LocalAgent]]:
    logs = tmp_path_factory.mktemp("agents")
    started = {
        name: LocalAgent(
            name=f"e2e-{name}",
            threads=threads,
            log_path=logs / f"{name}.log",
            start_timeout_s=SERVER_START_S,
        )
        for name, threads in (("one", 1), ("two", 2), ("doomed", 1))
    }
    try:
        for agent in started.values():
            agent.launch()
        for agent in started.values():
            agent.wait_ready()
        yield started
    finally:
        for agent in started.values():
            agent.stop()


def controller(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CONTROLLER, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def job_ids(agent: LocalAgent) -> set[str]:
    return {j["id"] for j in httpx.get(f"{agent.url}/jobs?limit=1000").json()["data"]}


def measured_items(agent: LocalAgent, since: set[str]) -> Counter[tuple[str, str]]:
    """(arch_id, settings) of every item the agent measured (or tried to: failed) in jobs not
    in ``since``."""
    return agent_items(agent.url, since)[1]


def twice(taken: Counter[tuple[str, str]]) -> str:
    return f"measured more than once: {[k for k, n in taken.items() if n > 1]}"


def db_count(db: str, sql: str) -> int:
    """``SELECT count(*) ...`` on the store ``db`` (a path or a URL, as ``LTS_DB`` takes it),
    read-only for a SQLite file; 0 while the store is not created yet."""
    url = database_url(db)
    if url.startswith("sqlite:///"):
        url = f"sqlite:///file:{url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    except SQLAlchemyError:  # not created yet
        return 0
    finally:
        engine.dispose()


def wait_for(predicate, timeout: float, what: str, pause_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(pause_s)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_agents_are_two_devices(agents: dict[str, LocalAgent], env: dict[str, str]) -> None:
    one, two = agents["one"], agents["two"]
    before = {"one": job_ids(one), "two": job_ids(two)}  # not 'doomed': another test kills it
    r = controller(
        env, "search", "--agents", f"{one.url},{two.url}", "--space", env["SPACE"],
        "--iterations", "3", "--population", "6", "--seed", "1", *FAST,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    for name in ("e2e-one", "e2e-two"):
        assert f"{name}: done, iteration 3/3" in r.stdout
    assert r.stdout.count("Pareto frontier (final measurement") == 2
    assert r.stdout.count("layer-scaled baselines") == 2

    with Store.open(env["LTS_DB"]) as store:
        (search,) = store.list_searches()
        assert search.status == "done"
        devices = store.search_devices(search.id)
        assert [d.status for d in devices] == ["done", "done"]
        records = [store.get_device(d.device_id) for d in devices]
        assert records[0].fingerprint != records[1].fingerprint
        assert [r.info["defaults"]["threads"] for r in records] == [1, 2]
        roles: dict[int, dict[str, set[str]]] = {}
        for sd, agent in zip(devices, (one, two), strict=True):
            assert [h.iteration for h in store.hypervolumes(search.id, sd.device_id)] == [0, 1, 2]
            reported = store.reported(search.id, sd.device_id)
            # --cross-measure (the default): the other device's frontier measured here too
            assert {r.role for r in reported} == {"frontier", "baseline", "cross"}
            roles[sd.device_id] = {r.role: {x.arch_id for x in reported if x.role == r.role}
                                   for r in reported}  # fmt: skip
            finals = store.get_measurements(r.final_measurement_id for r in reported
                                            if r.final_measurement_id)  # fmt: skip
            assert finals  # the baselines at least: the final settings are not the search's
            assert all(m.settings["time_budget_s"] == pytest.approx(0.6) for m in finals.values())
            # Each measurement the agent took is stored once; none was taken twice.
            taken = measured_items(agent, before["one" if agent is one else "two"])
            assert set(taken.values()) == {1}, twice(taken)
            assert len(taken) == store.count_measurements(sd.device_id)
        a, b = (roles[d.device_id] for d in devices)
        assert a["cross"] and a["cross"] <= b["frontier"] and b["cross"] <= a["frontier"]

    r = controller(env, "results", "--json")
    report = json.loads(r.stdout)
    assert [d["device"] for d in report["devices"]] == ["e2e-one", "e2e-two"]
    fingerprints = [d["fingerprint"] for d in report["devices"]]
    assert fingerprints == [r.fingerprint for r in records] and len(set(fingerprints)) == 2
    assert all(d["members"] and d["baselines"] for d in report["devices"])


def test_four_objectives_on_a_real_agent(
    agents: dict[str, LocalAgent], env: dict[str, str], tmp_path: Path
) -> None:
    """Both latencies of every frontier member, measured on one build per item: the time to
    the first token (prefill) and the time per generated token (decode after a cached
    context)."""
    env = {**env, "LTS_DB": str(tmp_path / "four.sqlite")}
    r = controller(
        env, "search", "--agents", agents["one"].url, "--space", env["SPACE"],
        "--objectives", "params,latency,decode_latency,memory", "--iterations", "2",
        "--population", "6", "--seed", "4", *FAST,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "prefill latency ms" in text and "decode latency ms" in text
    report = json.loads(controller(env, "results", "--json").stdout)
    (dev,) = report["devices"]
    assert dev["objectives"] == ["params", "latency", "decode_latency", "memory"]
    assert dev["members"] and dev["baselines"]
    for m in dev["members"]:
        figures = m["objectives"]
        assert set(figures) == {"latency", "decode_latency", "memory"}
        assert figures["latency"]["value"] > 0 and figures["decode_latency"]["value"] > 0
        assert m["decode_latency_ms"] == figures["decode_latency"]["value"]
        assert figures["decode_latency"]["p10"] <= figures["decode_latency"]["p90"]
    with Store.open(env["LTS_DB"]) as store:
        (search,) = store.list_searches()
        measured = [j.measurement for j in store.candidate_joins(search.id) if j.measurement]
        assert measured and all(m.settings["decode"] is True for m in measured if m.ok)
        assert all(m.values.keys() == {"latency", "decode_latency", "memory"}
                   for m in measured if m.ok)  # fmt: skip
        # One build, two protocols: the decode step was timed after the prefill in one item.
        assert all(m.context["decode_timed_runs"] >= 1 for m in measured if m.ok)


def test_resume_after_the_controller_is_killed(
    agents: dict[str, LocalAgent], env: dict[str, str], tmp_path: Path, store_url: str
) -> None:
    """On a SQLite file and on a PostgreSQL server (``store_url``)."""
    env = {**env, "LTS_DB": store_url}
    one = agents["one"]
    before = job_ids(one)
    args = [
        "search", "--agents", one.url, "--space", env["SPACE"], "--iterations", "4",
        "--population", "8", "--seed", "2", *FAST,
    ]  # fmt: skip
    log = tmp_path / "killed-controller.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*CONTROLLER, *args], env=env, stdout=out, stderr=out)

    def third_job() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the controller exited ({proc.returncode}):\n{log.read_text()}")
        return len(job_ids(one) - before) >= 3

    try:
        # Killed the moment the agent lists a third job: often before the controller has
        # recorded that job's id (then only its idempotency key is on record), or just after.
        wait_for(third_job, timeout=180, what="a third job", pause_s=0)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    killed_at = db_count(env["LTS_DB"], "SELECT count(*) FROM measurements")
    assert db_count(env["LTS_DB"], "SELECT count(*) FROM hypervolumes") < 4  # mid-search

    r = controller(env, "search", "--resume", "1")
    assert r.returncode == 0, r.stderr
    assert "e2e-one: done, iteration 4/4" in r.stdout
    with Store.open(env["LTS_DB"]) as store:
        assert store.get_search(1).status == "done"
        # Every candidate is measured, or screened (the cost model's prediction, never a
        # measurement: it may screen from iteration 3 on when the agent's timings are steady).
        # Named when one is missing: iteration, origin and measure say which path left it.
        unmeasured = [(c.iteration, c.arch_id, c.origin, c.measure)
                      for c in store.candidates(1)
                      if c.measurement_id is None and c.measure != "screened"]  # fmt: skip
        assert not unmeasured, f"unmeasured candidates: {unmeasured}\n{r.stdout}\n{r.stderr}"
        total = store.count_measurements()
        assert total > killed_at
        taken = measured_items(one, before)
        assert set(taken.values()) == {1}, twice(taken)
        assert len(taken) == total


def test_a_killed_agent_does_not_fail_the_other_device(
    agents: dict[str, LocalAgent], env: dict[str, str]
) -> None:
    one, doomed = agents["one"], agents["doomed"]
    args = [
        "search", "--agents", f"{one.url},{doomed.url}", "--space", env["SPACE"],
        "--iterations", "3", "--population", "6", "--seed", "3", "--fail-after-s", "3", *FAST,
    ]  # fmt: skip
    proc = subprocess.Popen(
        [*CONTROLLER, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(
            lambda: (
                db_count(
                    env["LTS_DB"],
                    "SELECT count(*) FROM measurements m JOIN devices d ON m.device_id = d.id "
                    "WHERE d.name = 'e2e-doomed'",
                )
                >= 3
            ),
            timeout=180,
            what="measurements on the doomed agent",
        )
        doomed.kill()
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "did not finish on every device" in err
    assert "e2e-one: done, iteration 3/3" in out
    with Store.open(env["LTS_DB"]) as store:
        first, second = store.search_devices(1)
        assert first.status == "done"
        assert second.status == "failed" and "gave up after" in (second.message or "")
        assert store.reported(1, first.device_id)


def test_the_baselines_join_the_population_and_never_beat_the_frontier(
    agents: dict[str, LocalAgent], env: dict[str, str]
) -> None:
    """The measured baselines are members of iteration 0's population, so each baseline's
    match (the fastest frontier model with at least its decoder parameters) is at least as
    fast as the baseline: no speed-up below 1.0x. ``--parents`` is not given: 20%."""
    one = agents["one"]
    args = [
        "search", "--agents", one.url, "--space", env["SPACE"], "--iterations", "3",
        "--population", "8", "--seed", "5", "--time-budget-s", "0.3", "--min-time-s", "0.1",
        "--warmup-s", "0.02", "--baseline-sizes", "space", "--baseline-layers", "1-3",
        "--final-budget-factor", "2", "--batch-size", "4",
    ]  # fmt: skip
    r = controller(env, *args)
    assert r.returncode == 0, r.stderr
    with Store.open(env["LTS_DB"]) as store:
        (search,) = store.list_searches()
        assert search.settings["parents"] == 2  # 20% of 8, as stored
        cands = store.candidates(search.id)
        baselines = [c.arch_id for c in cands if c.iteration == -1]
        first = [c for c in cands if c.iteration == 0]
        assert len(baselines) == 3 and len(first) == 8
        assert [c.arch_id for c in first if c.origin == "baseline"] == baselines
        assert Counter(c.origin for c in first) == {"baseline": 3, "random": 5}
    report = json.loads(controller(env, "results", "--json").stdout)
    (device,) = report["devices"]
    speedups = [c["speedup"] for c in device["baselines"]]
    assert len(speedups) == 3 and all(s is not None for s in speedups), device["baselines"]
    assert min(speedups) >= 1.0, speedups


def test_parents_default_to_a_fifth_of_the_population(
    agents: dict[str, LocalAgent], env: dict[str, str]
) -> None:
    """The command that failed with "parents: must be in [0, population = 8), got 20"."""
    r = controller(env, "agents", "add", "local", agents["one"].url)
    assert r.returncode == 0, r.stderr
    r = controller(
        env, "search", "--agents", "local", "--iterations", "2", "--population", "8",
        "--no-baselines", "--space", env["SPACE"], "--time-budget-s", "0.3",
        "--min-time-s", "0.1", "--warmup-s", "0.02", "--final-budget-factor", "1",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "done, iteration 2/2" in r.stdout
    with Store.open(env["LTS_DB"]) as store:
        (search,) = store.list_searches()
        assert search.settings["parents"] == 2
    r = controller(env, "search", "--agents", "local", "--population", "8", "--parents", "8")
    assert r.returncode != 0
    assert "parents: must be in [0, population = 8), got 8" in r.stdout + r.stderr
