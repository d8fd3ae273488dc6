"""Starting and stopping searches over ``controller serve``: tokens, validation, a real
background search on the session's agent that progresses, stops and resumes."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest
from apiserver import AGENT_NAME, FAST, Filled, Server, launch_server, wait_for

from lts.controller.store import Store


def error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    return r.json()


@pytest.mark.parametrize("token", ["", "wrong-token"])
def test_mutations_need_the_token(server: Server, filled: Filled, token: str) -> None:
    with Store.open(filled.db) as store:
        before = store.count_searches()  # the session's store: other tests add searches
    with server.client(token=token) as anon:
        r = anon.post("/searches", json={"agents": [AGENT_NAME], **FAST})
        assert error(r, 401)["detail"] == "missing or wrong bearer token"
        assert r.headers["WWW-Authenticate"] == "Bearer"
        error(anon.post(f"/searches/{filled.search_id}/stop"), 401)
        assert anon.get("/searches").status_code == 200  # reads are open on loopback
    with Store.open(filled.db) as store:
        assert store.count_searches() == before  # nothing was started


def test_a_server_without_a_token_refuses_mutations(filled: Filled) -> None:
    server = launch_server(filled.home, filled.db, filled.agents_file)
    try:
        with server.client() as client:
            body = error(client.post("/searches", json={"agents": [AGENT_NAME]}), 403)
            assert "--token-file" in body["detail"] and "LTS_CONTROLLER_TOKEN" in body["detail"]
            error(client.post(f"/searches/{filled.search_id}/stop"), 403)
            assert client.get(f"/searches/{filled.search_id}").status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("body", "status", "field", "message"),
    [
        ({"agents": [AGENT_NAME], "iterations": 0}, 422, "iterations", "greater than"),
        ({"agents": [AGENT_NAME], "bogus": 1}, 422, "bogus", "not permitted"),
        ({"agents": ["nope"]}, 422, "agents", "no agent named 'nope'"),
        ({}, 422, "agents", "name the agents"),
        ({"agents": [AGENT_NAME], "population": 4, "parents": 10}, 422, "parents", ""),
        ({"agents": [AGENT_NAME], "population": 8, "parents": 8}, 422, "parents", "got 8"),
        ({"agents": [AGENT_NAME], "threads": 0}, 422, "threads", ""),
        ({"agents": [AGENT_NAME], "space": {"n_layer": [1]}}, 422, "backbone", "required"),
        ({"agents": [AGENT_NAME], "baseline_layers": "3-1"}, 422, "baseline_layers", ""),
        ({"agents": [AGENT_NAME], "device_type": "tpu"}, 422, "device_type", "cpu"),
        ({"resume": 1, "iterations": 5}, 422, "resume", "drop iterations"),
        ({"resume": 999}, 404, None, "no search with id 999"),
        ({"resume": 1}, 409, None, "search 1 is done"),
        ({"agents": [AGENT_NAME], "max_params": 1000}, 422, "max_params",
         "below the smallest architecture of the space"),
    ],
)  # fmt: skip
def test_bad_bodies_are_refused_with_the_field(
    api: httpx.Client, body: dict, status: int, field: str | None, message: str
) -> None:
    answer = error(api.post("/searches", json=body), status)
    assert answer["field"] == field and message in answer["detail"]


def test_a_search_whose_agent_does_not_answer_is_refused_with_nothing_stored(
    api: httpx.Client, filled: Filled
) -> None:
    """Pre-flight: an agent down (or refusing its token) is named at once, in one line."""
    with Store.open(filled.db) as store:
        before = store.count_searches()
    answer = error(api.post("/searches", json={"agents": [AGENT_NAME, "down"], **FAST}), 422)
    assert answer["field"] == "agents" and "agent down: cannot reach" in answer["detail"]
    assert answer["detail"].endswith("nothing was stored") and "\n" not in answer["detail"]
    with Store.open(filled.db) as store:
        assert store.count_searches() == before


def test_invalid_json_and_stopping_what_does_not_run(api: httpx.Client, filled: Filled) -> None:
    r = api.post("/searches", content=b"{", headers={"Content-Type": "application/json"})
    assert error(r, 422)["field"] == "body"
    assert "no search with id 999" in error(api.post("/searches/999/stop"), 404)["detail"]
    r = api.post(f"/searches/{filled.search_id}/stop")
    assert "not running in this server" in error(r, 409)["detail"]


def _progress(api: httpx.Client, sid: int) -> int:
    return api.get(f"/searches/{sid}").json()["devices"][0]["iterations_done"]


def test_a_search_started_over_the_api_progresses_stops_and_resumes(
    api: httpx.Client, server: Server, filled: Filled
) -> None:
    body = {"agents": [AGENT_NAME], **FAST, "iterations": 50, "seed": 7,
            "baseline_layers": "1", "name": "over-the-api"}  # fmt: skip
    del body["parents"]  # the default: 20% of the population (4), at least 1
    r = api.post("/searches", json=body)
    assert r.status_code == 202, r.text
    sid = r.json()["id"]
    assert r.headers["Location"] == f"/searches/{sid}"
    assert r.json()["status"] == "running" and r.json()["background"] is True
    wait_for(lambda: _progress(api, sid) >= 1, 180, "the first iteration")
    detail = api.get(f"/searches/{sid}").json()
    assert detail["background"] is True and detail["hypervolume"] and detail["progress"] > 0
    assert detail["settings"]["measure"]["time_budget_s"] == 0.3
    assert detail["settings"]["parents"] == 1  # stored resolved
    assert sid in {s["id"] for s in api.get("/searches?limit=1000").json()["data"]}
    assert api.get("/health").json()["running"] == 1
    page = api.get(f"/searches/{sid}/candidates").json()
    assert page["data"] and page["complete"] is False and page["search_status"] == "running"
    assert all(c["measurement"] is not None for c in page["data"])  # none before it is measured

    stopped = api.post(f"/searches/{sid}/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "interrupted" and stopped.json()["background"] is False
    done_at_stop = _progress(api, sid)
    assert api.get("/health").json()["running"] == 0
    assert api.get(f"/searches/{sid}").json()["devices"][0]["status"] == "interrupted"
    assert error(api.post(f"/searches/{sid}/stop"), 409)

    # Resumed: it goes on from where it stopped (same settings, same search).
    r = api.post("/searches", json={"resume": sid})
    assert r.status_code == 202 and r.json()["id"] == sid, r.text
    assert r.json()["status"] == "running" and r.json()["background"] is True  # not the old one
    assert error(api.post("/searches", json={"resume": sid}), 409)  # already running
    # Nor may another process run it: the CLI is refused, and writes nothing.
    cli = subprocess.run(
        [sys.executable, "-c", "from lts.controller.cli import main; main()", "search", "--resume",
         str(sid), "--db", str(filled.db), "--agents-file", str(filled.agents_file)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 1, cli.stderr
    assert f"search {sid} is being run by process {server.process.pid}" in cli.stderr
    assert api.get(f"/searches/{sid}").json()["status"] == "running"
    wait_for(lambda: _progress(api, sid) > done_at_stop, 180, "an iteration after resuming")
    assert api.post(f"/searches/{sid}/stop").json()["status"] == "interrupted"
    with Store.open(filled.db) as store:
        assert store.get_search(sid).name == "over-the-api"
        links = [c.measurement_id for c in store.candidates(sid) if c.iteration < done_at_stop]
        assert links and all(links)  # every candidate of a completed iteration was measured


def test_stopping_the_server_interrupts_its_searches(filled: Filled) -> None:
    server = launch_server(filled.home, filled.db, filled.agents_file, "--no-auth")
    try:
        with server.client() as client:  # --no-auth: no token needed to start one
            body = {"agents": [AGENT_NAME], **FAST, "iterations": 50, "seed": 11,
                    "baseline_layers": [1]}  # fmt: skip
            r = client.post("/searches", json=body)
            assert r.status_code == 202, r.text
            sid = r.json()["id"]
            wait_for(
                lambda: client.get(f"/searches/{sid}/candidates").json()["data"],
                180,
                "the first measurements",
            )
    finally:
        code = server.stop()  # SIGTERM: uvicorn shuts down, then exits by the same signal
    assert code in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.log.read_text()
    with Store.open(filled.db) as store:
        search = store.get_search(sid)
        assert search.status == "interrupted", search
        assert f"--resume {sid}" in (search.message or "")
