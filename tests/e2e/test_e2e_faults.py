"""End to end, faults of the controller's run (issue 12, point 5): an agent unreachable at
start (refused before anything is stored), a missing or empty token file, SIGTERM and SIGHUP.
After each, no search is shown ``running``, and ``--resume`` completes it with no measurement
taken twice (checked on the agent's own job list). A real agent on 127.0.0.1, the real
``controller`` CLI."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from test_e2e_search import (
    CONTROLLER,
    FAST,
    controller,
    job_ids,
    measured_items,
    twice,
    wait_for,
)
from testkit import SERVER_START_S

from lts.controller.search.local_agent import LocalAgent, free_port
from lts.controller.store import Store


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAgent]:
    """An agent on a port of its own, not started; a test that needs it up calls :func:`_up`,
    the one that needs it unreachable stops it first (any test order)."""
    logs = tmp_path_factory.mktemp("faults")
    local = LocalAgent(name="e2e-faults", port=free_port(), log_path=logs / "agent.log",
                       start_timeout_s=SERVER_START_S)
    try:
        yield local
    finally:
        local.stop()


def _up(agent: LocalAgent) -> LocalAgent:
    try:
        httpx.get(f"{agent.url}/health", timeout=1)
    except httpx.TransportError:
        agent.launch()
        agent.wait_ready()
    return agent


def _searches(env: dict[str, str]) -> list[dict]:
    r = controller(env, "searches", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["data"]


def _resume_completes_without_repeats(
    env: dict[str, str], agent: LocalAgent, before: set[str], search_id: int = 1
) -> None:
    r = controller(env, "search", "--resume", str(search_id))
    assert r.returncode == 0, r.stderr
    assert [s["status"] for s in _searches(env)] == ["done"]
    with Store.open(env["LTS_DB"]) as store:
        taken = measured_items(agent, before)
        assert set(taken.values()) == {1}, twice(taken)
        assert len(taken) == store.count_measurements()


def test_an_agent_unreachable_at_start_is_refused_with_nothing_stored(
    agent: LocalAgent, env: dict[str, str]
) -> None:
    """Pre-flight: an agent that cannot be reached is named at once, in one line, and nothing
    is stored (not a stored search that fails after --fail-after-s)."""
    agent.stop()  # unreachable whatever ran before
    args = ["search", "--agents", agent.url, "--space", env["SPACE"], "--iterations", "2",
            "--population", "4", "--seed", "5", "--fail-after-s", "60", *FAST]  # fmt: skip
    r = controller(env, *args)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(f"error: agents: agent {agent.url}: cannot reach {agent.url}")
    assert _searches(env) == []
    _up(agent)
    r = controller(env, *args)
    assert r.returncode == 0, r.stderr
    assert [s["status"] for s in _searches(env)] == ["done"]


@pytest.mark.parametrize("token", ["missing", "empty"])
def test_a_bad_token_file_is_one_line_and_stores_nothing(
    agent: LocalAgent, env: dict[str, str], tmp_path: Path, token: str
) -> None:
    token_file = tmp_path / "agent.token"
    if token == "empty":
        token_file.write_text("\n")
    Path(env["LTS_AGENTS_FILE"]).write_text(
        f'[agents.good]\nurl = "{_up(agent).url}"\n\n'
        f'[agents.bad]\nurl = "http://127.0.0.1:{agent.port + 1}"\ntoken_file = "{token_file}"\n'
    )
    r = controller(env, "search", "--agents", "good,bad", "--space", env["SPACE"], *FAST)
    assert r.returncode == 1
    assert r.stderr.startswith("error: agents.bad.token_file: ") and r.stderr.count("\n") == 1
    # The tokens are read before the store is opened: not even an empty database is created.
    assert not Path(env["LTS_DB"]).exists()
    assert "no database at" in controller(env, "searches", "--json").stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_the_search_cleanly_and_resume_completes_it(
    agent: LocalAgent, env: dict[str, str], tmp_path: Path, sig: signal.Signals
) -> None:
    _up(agent)
    before = job_ids(agent)
    args = ["search", "--agents", agent.url, "--space", env["SPACE"], "--iterations", "3",
            "--population", "6", "--seed", str(10 + sig), *FAST]  # fmt: skip
    log = tmp_path / "controller.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*CONTROLLER, *args], env=env, stdout=out, stderr=out)

    busy: list[dict] = []

    def busy_job() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the controller exited ({proc.returncode}):\n{log.read_text()}")
        jobs = httpx.get(f"{agent.url}/jobs?limit=1000").json()["data"]
        busy.extend(
            job for job in jobs
            if job["id"] not in before and job["status"] == "running"
            and sum(i["status"] == "pending" for i in job["items"]) >= 2
        )  # fmt: skip
        return bool(busy)

    try:
        wait_for(busy_job, timeout=180, what="a job with items to come", pause_s=0.05)
        job = busy[0]
        proc.send_signal(sig)
        assert proc.wait(60) == 128 + sig, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert f"stopped by {sig.name}" in log.read_text()
    # The job in flight was cancelled on the agent: it measures nothing more for nobody.
    assert httpx.get(f"{agent.url}/jobs/{job['id']}").json()["status"] == "cancelled"
    (shown,) = _searches(env)
    assert shown["status"] == "interrupted"
    with Store.open(env["LTS_DB"]) as store:
        search = store.get_search(1)
        assert search.status == "interrupted" and f"stopped by {sig.name}" in search.message
    _resume_completes_without_repeats(env, agent, before)


def test_a_measurement_helper_killed_mid_search_is_measured_again_not_stored(
    agent: LocalAgent, env: dict[str, str], tmp_path: Path
) -> None:
    """SIGKILL of the agent's latency worker during a real search: the agent reports the item
    as an infrastructure fault, the controller measures it again, and the store never holds
    the kill as the model's failure."""
    _up(agent)
    assert agent.process is not None
    before = job_ids(agent)  # below: items of at least 1 s, so that the kill lands in one
    # (the full protocol for every item, the baselines too: quick ones take a fraction of that)
    args = ["search", "--agents", agent.url, "--space", env["SPACE"], "--iterations", "2",
            "--population", "4", "--seed", "21", *FAST, "--measure", "full",
            "--min-time-s", "1", "--time-budget-s", "1.5"]  # fmt: skip
    log = tmp_path / "controller.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*CONTROLLER, *args], env=env, stdout=out, stderr=out)
    try:

        def running_item() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the controller ended first:\n{log.read_text()}")
            jobs = httpx.get(f"{agent.url}/jobs?limit=1000").json()["data"]
            return any(i["status"] == "running" for j in jobs if j["id"] not in before
                       for i in j["items"])  # fmt: skip

        wait_for(running_item, timeout=180, what="an item being measured", pause_s=0.02)
        workers = [
            p for p in psutil.Process(agent.process.pid).children(recursive=True)
            if "agent.measure.child" in " ".join(p.cmdline()) and "worker" in p.cmdline()
        ]  # fmt: skip
        assert len(workers) == 1
        workers[0].send_signal(signal.SIGKILL)
        assert proc.wait(300) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    jobs = httpx.get(f"{agent.url}/jobs?limit=1000").json()["data"]
    items = [i for j in jobs if j["id"] not in before for i in j["items"]]
    killed = [i for i in items if i["fault"] == "infrastructure"]
    assert killed, f"no item reported the kill: {[i['status'] for i in items]}"
    assert all("SIGKILL" in i["error"] and "out of memory" not in i["error"] for i in killed)
    with Store.open(env["LTS_DB"]) as store:
        assert store.get_search(1).status == "done"
        device_id = store.search_devices(1)[0].device_id
        for item in killed:
            stored = store.find_measurements([item["arch_id"]], device_id,
                                             _cache_key(item["settings"]))  # fmt: skip
            assert stored[item["arch_id"]].status == "done"  # measured again, and kept
        assert not [m for m in store.get_measurements(range(1, 10_000)).values()
                    if m.error and "SIGKILL" in m.error]  # fmt: skip


def _cache_key(settings: dict) -> str:
    from lts.shared.schemas import MeasureSettings

    return MeasureSettings.model_validate(settings).cache_key()
