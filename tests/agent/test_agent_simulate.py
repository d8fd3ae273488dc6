"""``agent serve --simulate FILE``: the real API answered from a surrogate device."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from testkit import small_surrogate

from lts.agent.simulate import SimulatedMeasurer, protocol_s
from lts.shared.schemas import DeviceInfo, JobPublic, MeasurementResult, MeasureSettings
from lts.shared.space import default_space

SURROGATE = small_surrogate()
CFG = default_space("gpt2").middle()


def test_the_measurer_answers_the_surrogate_for_the_settings() -> None:
    m = SimulatedMeasurer(SURROGATE, "abc")
    s = MeasureSettings(seed=4)
    want = SURROGATE.answer(CFG, s)
    r = m.measure(CFG, s)
    assert r.latency_ms.median == want["prefill"] and r.latency_ms.n == 1
    assert r.peak_memory_mb == want["memory"] and r.decode_latency_ms is None
    assert r.context["simulated"] is True and "simulated" in r.memory["method"]
    both = m.measure(CFG, s.model_copy(update={"decode": True}))
    assert both.decode_latency_ms is not None
    assert both.decode_latency_ms.median == want["decode"]
    decode = m.measure(CFG, s.model_copy(update={"metric": "decode", "measure_memory": False}))
    assert decode.latency_ms.median == want["decode"] and decode.peak_memory_mb is None
    a, b = m.measure(CFG, s), m.measure(CFG, s)  # the same answer (item_s aside)
    assert a.model_copy(update={"context": {}}) == b.model_copy(update={"context": {}})


def test_speed_sleeps_that_share_of_the_protocol_time() -> None:
    s = MeasureSettings(time_budget_s=2.0, warmup_s=0.05, min_time_s=0.1, warmup_runs=1,
                        min_runs=2)  # fmt: skip
    r = SimulatedMeasurer(SURROGATE, "abc", speed=0.01).measure(CFG, s)
    assert r.context["slept_s"] == pytest.approx(0.01 * protocol_s(r.latency_ms.median, s),
                                                 abs=1e-6)  # fmt: skip
    assert protocol_s(1e6, s) == 2.0  # the budget caps it


def _wait(client, job_id: str) -> JobPublic:
    for _ in range(600):
        job = JobPublic.model_validate(client.get(f"/jobs/{job_id}").json())
        if job.finished_at is not None:
            return job
        time.sleep(0.1)
    pytest.fail("the job did not finish")


def test_serve_simulate_answers_jobs_and_says_it_is_simulated(start_agent, tmp_path: Path):
    path = tmp_path / "device.json"
    path.write_text(json.dumps(SURROGATE.to_dict()))
    agent = start_agent("--simulate", str(path), "--slots", "1")
    with agent.client() as c:
        device = DeviceInfo.model_validate(c.get("/device").json())
        assert device.cpu_model.startswith("simulated: surrogate 'test'")
        assert device.versions["simulated"]
        items = [{"arch": CFG.to_dict(), "settings": {"seed": 7, "decode": True}},
                 {"arch": CFG.to_dict(), "settings": {"metric": "decode"}}]  # fmt: skip
        created = c.post("/jobs", json={"items": items, "key": "sim-1"})
        assert created.status_code == 202, created.text
        job = _wait(c, created.json()["id"])
        assert [i.status for i in job.items] == ["done", "done"]
        first = job.items[0].result
        assert isinstance(first, MeasurementResult)
        want = SURROGATE.answer(CFG, first.settings)
        assert first.latency_ms.median == pytest.approx(want["prefill"])
        assert first.decode_latency_ms is not None
        assert first.decode_latency_ms.median == pytest.approx(want["decode"])
        assert first.peak_memory_mb == pytest.approx(want["memory"])
        assert c.post("/jobs", json={"items": items, "key": "sim-1"}).status_code == 200
        assert c.get("/device", headers={"Authorization": ""}).status_code == 401


def test_serve_refuses_a_file_that_is_not_a_surrogate(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    done = subprocess.run([sys.executable, "-m", "lts.agent.cli", "serve", "--no-auth",
                           "--simulate", str(bad)], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 1
    assert "not a surrogate file" in done.stderr and "Traceback" not in done.stderr


def test_a_simulating_agent_has_no_host_memory_budget_unless_given(monkeypatch, tmp_path):
    """Simulating builds nothing, so the host's free memory (here: almost none) must not
    reject the simulated device's items; a budget given on the command line still holds."""
    from lts.agent import device
    from lts.agent.main import memory_budget_mb
    from lts.agent.settings import Settings

    monkeypatch.setattr(device, "available_memory_mb", lambda: 10.0)
    path = tmp_path / "device.json"
    path.write_text(json.dumps(SURROGATE.to_dict()))
    assert memory_budget_mb(Settings(simulate=path, no_auth=True)) == float("inf")
    assert memory_budget_mb(Settings(simulate=path, no_auth=True, memory_budget_mb=300)) == 300
    assert memory_budget_mb(Settings(no_auth=True)) == pytest.approx(5.0)  # half of 10, 1 slot
