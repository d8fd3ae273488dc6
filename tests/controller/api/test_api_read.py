"""Read endpoints of ``controller serve`` over HTTP, against the store of a real search."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import math
from pathlib import Path

import httpx
import pytest
from apiserver import AGENT_NAME, DEVICE_NAME, Filled  # tests/controller/api is on sys.path

from lts.controller.report import build_report
from lts.controller.store import Store
from lts.shared.config import ArchConfig
from lts.shared.params import count_params


def error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"detail", "field"} and body["detail"]
    return body


def test_health_and_openapi(api: httpx.Client) -> None:
    r = api.get("/health", headers={"Authorization": ""})
    assert r.status_code == 200 and r.json()["status"] == "ok"
    paths = api.get("/openapi.json").json()["paths"]
    for path in ("/searches", "/searches/{search_id}", "/searches/{search_id}/frontier",
                 "/searches/{search_id}/candidates", "/searches/{search_id}/stop",
                 "/architectures/{arch_id}", "/architectures/{arch_id}/measurements",
                 "/devices", "/agents", "/health"):  # fmt: skip
        assert path in paths
    assert api.get("/docs").status_code == 200


def test_searches_are_paginated(api: httpx.Client, filled: Filled) -> None:
    everything = api.get("/searches", params={"limit": 1000}).json()
    ids = [s["id"] for s in everything["data"]]
    assert ids == sorted(ids) and everything["count"] == len(ids) >= 3
    assert {filled.search_id, *filled.interrupted} <= set(ids)
    first, second = api.get("/searches?limit=2").json(), api.get("/searches?offset=2&limit=2")
    assert [s["id"] for s in first["data"]] == ids[:2] and first["count"] == len(ids)
    assert [s["id"] for s in second.json()["data"]] == ids[2:4]
    beyond = api.get("/searches", params={"offset": len(ids)}).json()
    assert beyond == {"data": [], "count": len(ids)}
    row = next(s for s in everything["data"] if s["id"] == filled.search_id)
    assert row["name"] == "filled" and row["status"] == "done" and row["agents"] == [AGENT_NAME]
    assert row["iterations"] == 2 and row["background"] is False and row["finished_at"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=1001", "limit"), ("offset=-1", "offset"),
     ("limit=ten", "limit")],
)  # fmt: skip
def test_bad_pages_are_422_naming_the_field(api: httpx.Client, query: str, field: str) -> None:
    body = error(api.get(f"/searches?{query}"), 422)
    assert body["field"] == field and body["detail"].startswith(f"{field}: ")


def test_search_detail(api: httpx.Client, filled: Filled) -> None:
    s = api.get(f"/searches/{filled.search_id}").json()
    assert s["status"] == "done" and s["progress"] == 1.0 and s["background"] is False
    assert s["settings"]["population"] == 4 and s["settings"]["agents"] == [AGENT_NAME]
    (dev,) = s["devices"]
    assert dev["agent"] == AGENT_NAME and dev["device"] == AGENT_NAME
    assert dev["status"] == "done" and dev["iterations_done"] == dev["iterations"] == 2
    with Store.open(filled.db) as store:
        proposed = [c for c in store.candidates(filled.search_id) if c.iteration >= 0]
    assert dev["candidates"] == len(proposed) > 0 and dev["frontier_size"] >= 1
    assert [h["iteration"] for h in s["hypervolume"]] == [0, 1]
    assert all(h["device"] == AGENT_NAME and h["n_measured"] > 0 for h in s["hypervolume"])
    assert dev["hypervolume"] == s["hypervolume"][-1]["hypervolume"]


@pytest.mark.parametrize(
    "path",
    ["/searches/999", "/searches/999/frontier", "/searches/999/candidates",
     "/architectures/0123456789abcdef", "/architectures/0123456789abcdef/measurements"],
)  # fmt: skip
def test_unknown_ids_are_404(api: httpx.Client, path: str) -> None:
    assert "no " in error(api.get(path), 404)["detail"]


def test_non_numeric_search_id_is_422(api: httpx.Client) -> None:
    assert error(api.get("/searches/abc"), 422)["field"] == "search_id"


def test_frontier_reports_the_final_figures(api: httpx.Client, filled: Filled) -> None:
    body = api.get(f"/searches/{filled.search_id}/frontier").json()
    assert body["status"] == "done" and body["count"] == 1
    (dev,) = body["data"]
    with Store.open(filled.db) as store:
        report = build_report(store, filled.search_id).devices[0]
        ms = store.get_measurements(i for m in dev["members"] for i in (
            m["search_measurement_id"], m["final_measurement_id"]) if i)  # fmt: skip
    assert dev["device"] == AGENT_NAME and dev["status"] == "done"
    assert dev["candidates"] == report.counts.proposed
    assert dev["objectives"] == ["params", "latency", "memory"]
    # The same frontier and comparisons as `controller results` prints.
    assert [m["arch_id"] for m in dev["members"]] == [r.arch_id for r in report.frontier]
    assert [b["baseline"]["n_layer"] for b in dev["baselines"]] == [1, 3]
    for c, b in zip(report.comparisons, dev["baselines"], strict=True):
        assert b["speedup"] == pytest.approx(c.speedup) if c.speedup else b["speedup"] is None
        assert b["baseline"]["figures"] == "final"  # final settings differ: measured again
        assert b["match"] is None or b["match"]["figures"] == "final"
    for m in dev["members"]:
        cfg = ArchConfig.from_dict(m["config"])
        assert cfg.arch_id == m["arch_id"]
        assert m["params"] == count_params(cfg).as_dict()
        assert m["decoder_params"] == m["params"]["decoder"]
        assert m["total_params"] == m["params"]["total"]
        final = ms.get(m["final_measurement_id"])
        during = ms[m["search_measurement_id"]]
        shown = final if m["figures"] == "final" else during
        assert shown.status == "done" and m["latency_ms"] == shown.values["latency"] > 0
        assert m["objectives"]["latency"]["value"] == m["latency_ms"]
        assert m["peak_memory_mb"] == shown.values["memory"]
        assert final is None or final.id != during.id
    finals = [i for i in (m["final_measurement_id"] for m in dev["members"]) if i]
    assert finals  # the members the comparisons pick, at least
    assert dev["final_settings"]["time_budget_s"] == pytest.approx(0.6)  # 2 x the search's
    assert dev["search_settings"]["time_budget_s"] == pytest.approx(0.3)
    # The device by name (a named agent's device takes its name), twice: built, then from
    # memory; gzip-compressed for a client that asks for it (httpx does), plain otherwise.
    for encoding in ("gzip", "gzip", "identity"):
        again = api.get(f"/searches/{filled.search_id}/frontier", params={"device": AGENT_NAME},
                        headers={"Accept-Encoding": encoding})  # fmt: skip
        assert again.headers.get("Content-Encoding") == (encoding if encoding == "gzip" else None)
        assert again.json() == body


@pytest.mark.parametrize(("device", "message"), [("nope", "no device named 'nope'"), ("", "")])
def test_frontier_of_an_unknown_device_is_422(
    api: httpx.Client, filled: Filled, device: str, message: str
) -> None:
    body = error(api.get(f"/searches/{filled.search_id}/frontier?device={device}"), 422)
    assert body["field"] == "device" and message in body["detail"]


def test_candidates_cursor_pages_through_everything(api: httpx.Client, filled: Filled) -> None:
    url = f"/searches/{filled.search_id}/candidates"
    seen, after, pages = [], 0, 0
    while True:
        page = api.get(url, params={"after": after, "limit": 3}).json()
        pages += 1
        assert len(page["data"]) <= 3 and page["search_status"] == "done"
        seen.extend(page["data"])
        if page["complete"]:
            break
        assert page["next_after"] > after
        after = page["next_after"]
    with Store.open(filled.db) as store:
        stored = store.candidates(filled.search_id)  # one device: in the order recorded
    assert page["count"] == len(seen) == len(stored) and pages == math.ceil(len(stored) / 3)
    seqs = [c["seq"] for c in seen]
    assert seqs == sorted(set(seqs))
    assert [(c["iteration"], c["arch_id"]) for c in seen] == [
        (c.iteration, c.arch_id) for c in stored
    ]
    assert {c["origin"] for c in seen[:2]} == {"baseline"}
    assert all(c["measurement"]["status"] == "done" for c in seen)
    assert all(c["device"] == AGENT_NAME and c["decoder_params"] > 0 for c in seen)
    # Past the end: nothing, the cursor stays; by device name: the same candidates.
    end = api.get(url, params={"after": seqs[-1]}).json()
    assert end["data"] == [] and end["next_after"] == seqs[-1] and end["complete"] is True
    mine = api.get(url, params={"device": AGENT_NAME, "limit": 100}).json()
    assert [c["seq"] for c in mine["data"]] == seqs


@pytest.mark.parametrize(
    ("query", "field"),
    [("after=-1", "after"), ("limit=0", "limit"), ("limit=5000", "limit"),
     ("device=nope", "device"), ("after=x", "after")],
)  # fmt: skip
def test_bad_cursor_values_are_422(
    api: httpx.Client, filled: Filled, query: str, field: str
) -> None:
    body = error(api.get(f"/searches/{filled.search_id}/candidates?{query}"), 422)
    assert body["field"] == field


def test_architecture_and_its_measurements(api: httpx.Client, filled: Filled) -> None:
    front = api.get(f"/searches/{filled.search_id}/frontier").json()["data"][0]
    member = next(m for m in front["members"] if m["final_measurement_id"])
    arch = api.get(f"/architectures/{member['arch_id']}").json()
    assert ArchConfig.from_dict(arch["config"]).arch_id == member["arch_id"]
    assert arch["params"] == member["params"] and arch["measurements"] == 2
    ms = api.get(f"/architectures/{member['arch_id']}/measurements").json()
    assert ms["count"] == 2 and all(m["samples"] is None for m in ms["data"])
    assert all("samples" not in stats for m in ms["data"] for stats in m["stats"].values())
    ids = {m["id"] for m in ms["data"]}
    assert ids == {member["search_measurement_id"], member["final_measurement_id"]}
    m = ms["data"][0]
    assert m["device"] == AGENT_NAME and m["latency"]["n"] >= 1 and m["context"]
    assert m["values"]["latency"] == m["latency_ms"] and m["stats"]["latency"]["n"] >= 1
    full = api.get(f"/architectures/{member['arch_id']}/measurements?samples=true").json()
    assert all(len(m["samples"]) == m["latency"]["n"] for m in full["data"])
    assert all(m["stats"]["latency"]["samples"] == m["samples"] for m in full["data"])
    assert error(api.get(f"/architectures/{'x' * 65}"), 422)["field"] == "arch_id"


def test_devices(api: httpx.Client, filled: Filled) -> None:
    body = api.get("/devices").json()
    (dev,) = body["data"]
    with Store.open(filled.db) as store:
        assert dev["measurements"] == store.count_measurements(dev["id"]) > 0
    assert dev["name"] == AGENT_NAME and dev["url"] == filled.agent_url
    assert dev["info"]["fingerprint"] == dev["fingerprint"] and body["count"] == 1


def test_agents_with_live_status(api: httpx.Client, filled: Filled) -> None:
    body = api.get("/agents").json()
    assert body["file"] == str(filled.agents_file) and body["count"] == 2
    agents = {a["name"]: a for a in body["data"]}
    up, down = agents[AGENT_NAME], agents["down"]
    assert up["reachable"] is True and up["auth"] == "token_file"
    assert up["device"]["name"] == DEVICE_NAME and up["url"] == filled.agent_url
    assert down["reachable"] is False and down["device"] is None and down["error"]
    assert "token" not in str(body).replace("token_file", "")  # no secret in the answer


def test_docker_smoke_reads_this_api(api: httpx.Client, filled: Filled) -> None:
    """scripts/docker-smoke checks a compose stack's frontier with ``check_frontier``: run on
    this API's real answer, so a renamed field fails here rather than in the Docker smoke."""
    path = Path(__file__).resolve().parents[3] / "scripts" / "docker-smoke"
    loader = importlib.machinery.SourceFileLoader("docker_smoke", str(path))
    spec = importlib.util.spec_from_loader("docker_smoke", loader)
    assert spec is not None
    smoke = importlib.util.module_from_spec(spec)
    loader.exec_module(smoke)
    body = api.get(f"/searches/{filled.search_id}/frontier").json()
    summary = smoke.check_frontier(body, {AGENT_NAME})
    (status, members, device) = summary[AGENT_NAME]
    assert status == "done" and members == len(body["data"][0]["members"]) >= 1
    assert device == AGENT_NAME
    with pytest.raises(smoke.Failed, match="expected the devices"):
        smoke.check_frontier(body, {AGENT_NAME, "agent-2"})
