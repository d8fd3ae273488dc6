"""What the results API shows of a search with a cost model (schema version 2): the counts of
measured, quick, full and screened candidates and the cost model's error per device, each
candidate's measure and prediction (a quick measurement's memory marked predicted), the live
frontier without screened candidates, and the exports. The store is a real SQLite file written
through the Store (:func:`testkit.screening_search`), served by a real ``controller serve``
(uvicorn, a subprocess)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from apiserver import launch_server  # tests/controller/api is on sys.path
from testkit import COST_MODEL, screening_search


@pytest.fixture(scope="module")
def screening(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, dict]]:
    home = tmp_path_factory.mktemp("screening")
    db = str(home / "lts.sqlite")
    ids = screening_search(db)
    server = launch_server(home, db, home / "agents.toml")
    try:
        with server.client(token="") as api:
            yield api, ids
    finally:
        server.stop()


def _ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, r.text
    return r.json() if r.headers["content-type"].startswith("application/json") else r.text


def test_the_search_shows_counts_and_the_cost_model(screening: tuple) -> None:
    api, ids = screening
    (dev,) = _ok(api.get(f"/searches/{ids['search']}"))["devices"]
    assert dev["status"] == "running"
    counts = {k: dev[k] for k in ("candidates", "measured", "quick", "full", "screened",
                                  "cache_hits", "failed")}  # fmt: skip
    assert counts == {"candidates": 4, "measured": 2, "quick": 1, "full": 1, "screened": 1,
                      "cache_hits": 0, "failed": 0}  # fmt: skip
    # As stored; a key the search did not write reads as null.
    assert dev["cost_model"] == {
        "errors": {"latency": COST_MODEL["latency"], "memory": COST_MODEL["memory"]},
        "quick": {**COST_MODEL["quick"], "n_scored": None},
        "margin": COST_MODEL["margin"],
    }


def test_candidates_carry_measure_prediction_and_predicted_memory(screening: tuple) -> None:
    api, ids = screening
    arch, mid = ids["arch"], ids["measurement"]
    page = _ok(api.get(f"/searches/{ids['search']}/candidates"))
    # The device is running: the page stops before the candidate not measured yet, not before
    # the screened one (it will never be measured).
    assert [c["arch_id"] for c in page["data"]] == [arch[k] for k in ("full", "quick", "screened")]
    assert page["complete"] is False and page["count"] == 4
    full, quick, screened = page["data"]
    assert full["measure"] == "full"
    assert full["predicted"] == {"values": {"latency": 1.2, "memory": 10.0}, "latency_ms": 1.2,
                                 "memory_mb": 10.0}  # fmt: skip
    assert full["measurement"] == {"id": mid["full"], "status": "done", "error": None,
                                   "values": {"latency": 1.0, "memory": 11.0}, "stand_ins": [],
                                   "latency_ms": 1.0, "peak_memory_mb": 11.0,
                                   "memory_predicted": False}  # fmt: skip
    assert quick["measure"] == "quick"
    assert quick["predicted"]["values"] == {"latency": 2.5, "memory": 7.5}
    assert quick["measurement"] == {"id": mid["quick"], "status": "done", "error": None,
                                    "values": {"latency": 2.0, "memory": 7.5},
                                    "stand_ins": ["memory"], "latency_ms": 2.0,
                                    "peak_memory_mb": 7.5, "memory_predicted": True}  # fmt: skip
    assert screened["measure"] == "screened" and screened["measurement"] is None
    assert screened["predicted"]["values"] == {"latency": 4.0, "memory": 20.0}
    rest = _ok(api.get(f"/searches/{ids['search']}/candidates?after={page['next_after']}"))
    assert rest["data"] == [] and rest["next_after"] == page["next_after"]


def test_the_live_frontier_leaves_screened_candidates_out(screening: tuple) -> None:
    api, ids = screening
    arch = ids["arch"]
    (dev,) = _ok(api.get(f"/searches/{ids['search']}/frontier"))["data"]
    members = {m["arch_id"]: m for m in dev["members"]}
    assert set(members) == {arch["full"], arch["quick"]}  # never the screened one
    quick, full = members[arch["quick"]], members[arch["full"]]
    assert (quick["peak_memory_mb"], quick["memory_predicted"], quick["measure"]) == (
        7.5, True, "quick")  # fmt: skip
    assert (quick["predicted_latency_ms"], quick["predicted_memory_mb"]) == (2.5, 7.5)
    assert quick["objectives"]["memory"] == {"value": 7.5, "p10": None, "p90": None,
                                             "predicted": 7.5, "stand_in": True}  # fmt: skip
    assert (full["peak_memory_mb"], full["memory_predicted"], full["measure"]) == (
        11.0, False, "full")  # fmt: skip


def test_exports_carry_the_new_columns(screening: tuple) -> None:
    api, ids = screening
    arch = ids["arch"]
    body = _ok(api.get(f"/searches/{ids['search']}/export?format=json"))
    rows = {r["arch_id"]: r for r in body["data"]}
    assert set(rows) == {arch["full"], arch["quick"]}
    names = ("measure", "latency_ms_predicted", "peak_memory_mb_predicted",
             "peak_memory_mb_stand_in", "peak_memory_mb")  # fmt: skip
    got = {k: rows[arch["quick"]][k] for k in names}
    assert got == {"measure": "quick", "latency_ms_predicted": 2.5,
                   "peak_memory_mb_predicted": 7.5, "peak_memory_mb_stand_in": True,
                   "peak_memory_mb": 7.5}  # fmt: skip
    text = _ok(api.get(f"/searches/{ids['search']}/export?format=csv"))
    table = {r["arch_id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert table[arch["quick"]]["peak_memory_mb_stand_in"] == "True"
    assert table[arch["quick"]]["measure"] == "quick"
    assert table[arch["full"]]["peak_memory_mb_predicted"] == "10.0"
    assert table[arch["full"]]["peak_memory_mb_stand_in"] == "False"
