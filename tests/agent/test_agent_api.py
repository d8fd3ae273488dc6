"""The agent's REST API, end to end: real ``agent serve`` processes on 127.0.0.1, measuring
real small models (both runtimes) through real worker processes, talked to with httpx."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from datetime import datetime
from itertools import pairwise

import httpx
import psutil
import pytest

from lts.agent.jobs import CANCELLED
from lts.shared.schemas import DeviceInfo, ErrorBody, Health, JobPublic, MeasurementResult

TINY = {
    "backbone": "gpt2", "n_layer": 2, "d_model": 64, "n_head": 2, "d_inner": 128,
    "n_token": 1000, "cutoffs": [200, 500],
}  # fmt: skip
TINY_XL = {**TINY, "backbone": "transxl", "n_head": [2, 4], "mem_len": 32}
#: Over the test agent's 400 MB budget: GPT-2 vocabulary, 16 layers of width 1024.
HUGE = {"backbone": "gpt2", "n_layer": 16, "d_model": 1024, "n_head": 16, "d_inner": 4096}
FAST = {"seq_len": 32, "time_budget_s": 1, "min_time_s": 0.2, "warmup_s": 0.05}
#: An item that runs for a minute unless its worker is signalled.
SLOW = {"time_budget_s": 60, "min_time_s": 60}


def item(arch: dict = TINY, **settings: object) -> dict:
    return {"arch": arch, "settings": {**FAST, **settings}}


@pytest.fixture(scope="module")
def agent(start_agent):
    """One slot; small limits so that 413/429 are cheap to reach. Some settings come from the
    environment (a lower-case log level must reach the measurement helpers upper-cased)."""
    env = {"LTS_AGENT_MAX_BODY_BYTES": "65536", "LTS_AGENT_LOG_LEVEL": "info"}
    return start_agent("--max-queue", "6", "--max-items", "4", "--memory-budget-mb", "400", env=env)


@pytest.fixture
def client(agent):
    with agent.client() as c:
        yield c


def wait_done(client: httpx.Client, job_id: str, timeout_s: float = 90) -> JobPublic:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = JobPublic.model_validate(client.get(f"/jobs/{job_id}").json())
        if job.finished_at is not None:
            return job
        time.sleep(0.1)
    pytest.fail(f"job {job_id} did not finish in {timeout_s} s")


def signal_worker_mid_item(agent, sig: signal.Signals, timeout_s: float = 60) -> None:
    """Wait until the most recent job's first item is running, then send ``sig`` to the
    agent's latency worker (inside the measurement)."""
    deadline = time.monotonic() + timeout_s
    with agent.client() as client:
        while True:
            jobs = client.get("/jobs", params={"limit": 1}).json()["data"]
            if jobs and jobs[0]["items"][0]["status"] == "running":
                break
            assert time.monotonic() < deadline, "the item never started"
            time.sleep(0.05)
    time.sleep(0.5)  # inside the measurement
    (worker,) = [
        p for p in psutil.Process(agent.process.pid).children(recursive=True)
        if "agent.measure.child" in " ".join(p.cmdline()) and "worker" in p.cmdline()
    ]  # fmt: skip
    worker.send_signal(sig)


def error(response: httpx.Response, status: int) -> ErrorBody:
    assert response.status_code == status, response.text
    return ErrorBody.model_validate(response.json())


def spans(*jobs: JobPublic) -> list[tuple[datetime, datetime]]:
    contexts = [i.result.context["queue"] for job in jobs for i in job.items if i.result]
    iso = datetime.fromisoformat
    return sorted((iso(c["started_at"]), iso(c["finished_at"])) for c in contexts)


# ------------------------------------------------------------------------------ read-only
def test_health_needs_no_token(agent):
    health = Health.model_validate(httpx.get(f"{agent.url}/health").json())
    assert health.status == "ok" and health.version and health.name


def test_a_rebound_host_name_gets_nothing(client):
    """The agent listens on 127.0.0.1: a request naming another host (DNS rebinding) is 400."""
    assert error(client.get("/device", headers={"Host": "evil.example:8900"}), 400).field == "host"
    assert client.get("/device", headers={"Host": "localhost:8900"}).status_code == 200


def test_device_describes_the_machine(client):
    device = DeviceInfo.model_validate(client.get("/device").json())
    assert len(device.fingerprint) == 16 and device.cores_logical >= 1
    assert device.memory_total_mb > 0 and device.cpu_model and device.machine
    assert device.versions["torch"] and device.versions["agent"]
    assert device.defaults.threads == 1 and device.defaults.runtime == "torch"
    assert device.slots == 1
    assert client.get("/device").json()["fingerprint"] == device.fingerprint


def test_openapi_docs_are_served(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/device", "/jobs", "/jobs/{job_id}", "/measure"} <= set(paths)


@pytest.mark.parametrize("token", ["", "wrong-token"])
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/device"), ("GET", "/jobs"), ("POST", "/jobs"), ("GET", "/jobs/x"),
     ("DELETE", "/jobs/x"), ("POST", "/measure")],
)  # fmt: skip
def test_missing_or_wrong_token_is_401(agent, method, path, token):
    with agent.client(token=token) as c:
        response = c.request(method, path, json={"items": [item()]})
    assert "wrong bearer token" in error(response, 401).detail
    assert response.headers["WWW-Authenticate"] == "Bearer"


def _raw(agent, head: list[str], body: bytes = b"") -> bytes:
    """Send a request head (and the start of a body) on a raw socket; the first bytes of the
    answer, which must come without the rest of the body being sent."""
    host, port = agent.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(("\r\n".join([*head, f"Host: {host}:{port}", "", ""])).encode() + body)
        return sock.recv(65536)


def test_a_body_without_the_token_is_refused_before_it_is_read(agent):
    """Review 2026-12-07, F1: the agent buffered up to 1 MiB of any body, token or not."""
    for head in (["POST /jobs HTTP/1.1", "Content-Length: 1048576"],
                 ["POST /measure HTTP/1.1", "Transfer-Encoding: chunked"],
                 ["POST /jobs HTTP/1.1", "Content-Length: 100",
                  "Authorization: Bearer not-the-token"]):  # fmt: skip
        answer = _raw(agent, head, b" " * 1000)
        assert answer.startswith(b"HTTP/1.1 401"), (head, answer[:200])


def test_a_body_on_a_read_is_refused_and_a_cross_site_write_too(agent):
    auth = f"Authorization: Bearer {agent.token}"
    answer = _raw(agent, ["GET /device HTTP/1.1", auth, "Content-Length: 1048576"], b" " * 100)
    assert answer.startswith(b"HTTP/1.1 400")
    with agent.client() as c:
        forged = c.post("/jobs", json={"items": [item()]}, headers={"Sec-Fetch-Site": "cross-site"})
        assert error(forged, 403).field == "origin"
        assert c.get("/jobs", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200


def test_wrong_tokens_back_off_on_the_agent_too():
    from types import SimpleNamespace

    from fastapi import HTTPException

    from lts.agent.api.deps import check_token
    from lts.shared.tokens import AuthBackoff

    agent = SimpleNamespace(token="the-agent-token-0123", backoff=AuthBackoff(free=2))
    for _ in range(3):
        with pytest.raises(HTTPException) as info:
            check_token(agent, "a-wrong-token", "10.0.0.9")  # type: ignore[arg-type]
        assert info.value.status_code == 401
    with pytest.raises(HTTPException) as info:
        check_token(agent, "the-agent-token-0123", "10.0.0.9")  # type: ignore[arg-type]
    assert info.value.status_code == 429 and info.value.headers["Retry-After"] == "1"
    check_token(agent, "the-agent-token-0123", "10.0.0.8")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- measurements
def test_job_measures_real_models_with_both_runtimes(client):
    items = [item(TINY, runtime="torch"), item(TINY_XL, runtime="onnxruntime")]
    response = client.post("/jobs", json={"items": items})
    assert response.status_code == 202, response.text
    queued = JobPublic.model_validate(response.json())
    assert queued.status in ("queued", "running") and len(queued.items) == 2
    job = wait_done(client, queued.id)
    assert job.status == "done", job
    for got, runtime in zip(job.items, ("torch", "onnxruntime"), strict=True):
        assert got.status == "done", got.error
        result = got.result
        assert result.settings.runtime == runtime and result.settings.seq_len == 32
        assert got.settings == result.settings
        assert result.arch_id == got.arch_id
        assert 0 < result.latency_ms.min <= result.latency_ms.median
        assert result.latency_ms.n == len(result.latency_ms.samples) >= 1
        assert result.peak_memory_mb is not None and result.peak_memory_mb > 0
    listed = client.get("/jobs").json()
    assert listed["data"][0]["id"] == job.id and listed["count"] >= 1


def test_two_concurrent_jobs_are_measured_one_after_the_other(client):
    ids: list[str] = []

    def submit(seed: int) -> None:
        response = client.post("/jobs", json={"items": [item(seed=seed), item(seed=seed + 1)]})
        ids.append(response.json()["id"])

    threads = [threading.Thread(target=submit, args=(s,)) for s in (10, 20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    jobs = [wait_done(client, job_id) for job_id in ids]
    assert all(i.status == "done" for job in jobs for i in job.items), jobs
    intervals = spans(*jobs)
    assert len(intervals) == 4
    for (_, end), (start, _) in pairwise(intervals):
        assert end <= start, f"two measurements overlapped: {intervals}"
    # The threads race to submit: the agent's order is its created_at, not our list's order.
    first, second = sorted(jobs, key=lambda job: job.created_at)
    assert first.created_at < second.created_at
    assert spans(first)[-1][1] <= spans(second)[0][0]


def test_worker_crash_fails_that_item_and_the_agent_keeps_serving(agent, client):
    """SIGABRT of the latency worker mid-measurement (what a native library that crashes
    raises on itself): the item fails as the model's, the next one is measured."""
    response = client.post("/jobs", json={"items": [item(seed=7, **SLOW), item(seed=1)]})
    signal_worker_mid_item(agent, signal.SIGABRT)
    job = wait_done(client, response.json()["id"])
    crashed, after = job.items
    assert crashed.status == "failed" and crashed.error and crashed.started
    assert crashed.fault == "model" and "SIGABRT" in crashed.error  # it crashed on this model
    assert after.fault is None
    assert crashed.settings is not None and crashed.settings.seed == 7
    assert after.status == "done" and after.result is not None
    assert client.get("/health").status_code == 200
    # A poll asks for what changed since the version it saw, without samples by default.
    seen = client.get(f"/jobs/{job.id}", params={"since": job.version}).json()
    assert seen["version"] == job.version and seen["items"] == []
    light = JobPublic.model_validate(
        client.get(f"/jobs/{job.id}", params={"since": crashed.version, "samples": False}).json()
    )
    assert [i.index for i in light.items] == [1]
    assert light.items[0].result.latency_ms.samples == []
    assert light.items[0].result.latency_ms.n == len(after.result.latency_ms.samples)


def test_a_worker_killed_from_outside_is_an_infrastructure_fault(agent, client):
    """SIGKILL of the latency worker mid-measurement (the kernel's out-of-memory count did not
    move): the item fails as ``infrastructure``, is not called out of memory, and the next
    item is measured by a fresh worker."""
    response = client.post("/jobs", json={"items": [item(seed=11, **SLOW), item(seed=12)]})
    signal_worker_mid_item(agent, signal.SIGKILL)
    job = wait_done(client, response.json()["id"])
    killed, after = job.items
    assert killed.status == "failed" and killed.fault == "infrastructure", killed
    assert "SIGKILL" in killed.error and "out of memory" not in killed.error
    assert after.status == "done" and after.fault is None


def test_over_budget_model_is_rejected_with_the_reason(client):
    response = client.post("/jobs", json={"items": [item(HUGE)]})
    assert response.status_code == 202
    job = JobPublic.model_validate(response.json())
    assert job.status == "done" and job.items[0].status == "rejected"
    assert "over this agent's memory budget of 400 MB" in job.items[0].error
    assert job.items[0].fault == "model"
    assert job.items[0].result is None


def test_a_model_too_large_to_estimate_is_rejected_not_built(client):
    """Its memory estimate overflows a float: the budget check still refuses it (it used to
    be skipped, and the build failed as "internal error: OverflowError")."""
    vast = {**TINY, "n_layer": 1, "d_model": 2**520, "d_inner": 2**520, "d_embed": 64}
    response = client.post("/jobs", json={"items": [item(vast)]})
    assert response.status_code == 202, response.text
    (rejected,) = JobPublic.model_validate(response.json()).items
    assert rejected.status == "rejected" and "more memory than" in rejected.error
    assert "OverflowError" not in rejected.error


def test_cancel_drops_what_has_not_started(client):
    response = client.post("/jobs", json={"items": [item(seed=s) for s in (1, 2, 3)]})
    job_id = response.json()["id"]
    cancelled = JobPublic.model_validate(client.delete(f"/jobs/{job_id}").json())
    assert cancelled.status == "cancelled"
    assert [i.status for i in cancelled.items][1:] == ["rejected", "rejected"]
    assert cancelled.items[2].error == CANCELLED
    assert cancelled.items[2].fault == "cancelled"
    final = wait_done(client, job_id)
    assert final.status == "cancelled" and final.items[0].status in ("done", "rejected")
    assert error(client.delete("/jobs/no-such-job"), 404).detail
    assert error(client.get("/jobs/no-such-job"), 404).detail


def test_measure_is_synchronous_and_reports_failures(agent, client):
    response = client.post("/measure", json=item(output="all"))
    assert response.status_code == 200, response.text
    result = MeasurementResult.model_validate(response.json())
    assert result.settings.output == "all" and result.latency_ms.median > 0
    assert result.context["queue"]["slot"] == 0
    aborter = threading.Thread(target=signal_worker_mid_item, args=(agent, signal.SIGABRT))
    aborter.start()
    crashed = error(client.post("/measure", json=item(**SLOW)), 502)
    aborter.join()
    assert "measurement failed" in crashed.detail
    assert error(client.post("/measure", json=item(HUGE)), 422).field == "arch"
    bad = error(client.post("/measure", json=item({**TINY, "n_head": [2, 3]})), 422)
    assert bad.field == "arch.n_head[1]"


# ---------------------------------------------------------------------------------- limits
def test_invalid_architecture_refuses_the_whole_batch_naming_the_field(client):
    kept = client.get("/jobs").json()["count"]
    items = [item(), item({**TINY, "n_head": [2, 3]})]
    body = error(client.post("/jobs", json={"items": items}), 422)
    assert body.field == "items[1].arch.n_head[1]" and "divisible" in body.detail
    body = error(client.post("/jobs", json={"items": [item({**TINY, "n_layers": 2})]}), 422)
    assert body.field == "items[0].arch.n_layers"
    body = error(client.post("/jobs", json={"items": [item({**TINY, "n_layer": 10**9})]}), 422)
    assert body.field == "items[0].arch.n_layer"
    body = error(client.post("/jobs", json={"items": [item({**TINY, "tgt_len": 16})]}), 422)
    assert body.field == "items[0].settings.seq_len" and "tgt_len = 16" in body.detail
    assert client.get("/jobs").json()["count"] == kept  # nothing was queued


@pytest.mark.parametrize(
    ("settings", "field"),
    [({"threads": 0}, "items[0].settings.threads"),
     ({"threads": 64}, "items[0].settings.threads"),  # more than a slot's CPUs
     ({"runtime": "tvm"}, "items[0].settings.runtime"),
     ({"device": "cuda"}, "items[0].settings.device"),  # no GPU on the test agent
     ({"bogus": 1}, "items[0].settings.bogus")],
)  # fmt: skip
def test_bad_settings_are_422_naming_the_field(client, settings, field):
    body = error(client.post("/jobs", json={"items": [item(**settings)]}), 422)
    assert body.field == field


def test_malformed_requests_are_422(client):
    assert error(client.post("/jobs", json={"items": []}), 422).field == "items"
    assert error(client.post("/jobs", json={"jobs": []}), 422).field in ("items", "jobs")
    bad_json = client.post(
        "/jobs", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert error(bad_json, 422).field == "body"


def test_too_many_items_is_413(client):
    body = error(client.post("/jobs", json={"items": [item()] * 5}), 413)
    assert "at most 4 per job" in body.detail


def test_too_big_body_is_413_with_or_without_content_length(client):
    big = json.dumps({"items": [item({**TINY, "pad": "x" * 70_000})]}).encode()
    assert "at most 65536" in error(client.post("/jobs", content=big), 413).detail

    def chunks():
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    assert error(client.post("/jobs", content=chunks()), 413).detail  # chunked, no length


def test_full_queue_is_429(client):
    first = client.post("/jobs", json={"items": [item(seed=s) for s in range(4)]})
    assert first.status_code == 202
    try:
        response = client.post("/jobs", json={"items": [item()] * 4})  # 4 + 4 (or 3 + 4) > 6
        body = error(response, 429)
        assert "queue full" in body.detail and "limit is 6" in body.detail
        assert response.headers["Retry-After"]
    finally:
        client.delete(f"/jobs/{first.json()['id']}")
        wait_done(client, first.json()["id"])


def test_a_repeated_submission_with_a_key_answers_the_first_job(client):
    body = {"items": [item(seed=31)], "key": "search-1.dev-2:job-7"}
    first = client.post("/jobs", json=body)
    assert first.status_code == 202 and first.json()["key"] == body["key"]
    again = client.post("/jobs", json=body)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    conflict = error(client.post("/jobs", json={**body, "items": [item(seed=32)]}), 409)
    assert body["key"] in conflict.detail
    found = client.get("/jobs", params={"key": body["key"]}).json()
    assert [j["id"] for j in found["data"]] == [first.json()["id"]]
    assert client.get("/jobs", params={"key": "unknown"}).json()["data"] == []
    assert error(client.post("/jobs", json={**body, "key": "no spaces"}), 422).field == "key"
    assert error(client.get("/jobs", params={"key": "x" * 65}), 422).field == "key"
    done = wait_done(client, first.json()["id"])
    assert [i.status for i in done.items] == ["done"]


# ----------------------------------------------------------------------------------- slots
def test_two_slots_measure_at_once_on_disjoint_cores(start_agent, agent):
    two = start_agent("--slots", "2")
    with two.client() as c:
        device = c.get("/device").json()
        assert device["slots"] == 2
        with agent.client() as one:  # same machine, other settings: another device
            assert device["fingerprint"] != one.get("/device").json()["fingerprint"]
        job = wait_done(c, c.post("/jobs", json={"items": [item(), item(seed=1)]}).json()["id"])
    assert [i.status for i in job.items] == ["done", "done"], job
    contexts = [i.result.context["queue"] for i in job.items]
    assert sorted(ctx["slot"] for ctx in contexts) == [0, 1]
    cpus = [set(ctx["cpus"]) for ctx in contexts]
    assert cpus[0] and cpus[1] and not cpus[0] & cpus[1]
    (_, end), (start, _) = spans(job)
    assert start < end, "with two slots the two items should have run at once"
