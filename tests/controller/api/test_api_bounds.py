"""Bounds on every size a request can give: each out-of-range value is a 4xx naming the field
(never a 500), and nothing is stored or expanded for it (issue 12, points 1 and 2)."""

from __future__ import annotations

import httpx
import pytest
from apiserver import AGENT_NAME, Filled  # tests/controller/api is on sys.path

from lts.controller.store import Store

BIG = 2**63  # one past the largest SQL integer
HUGE = 2**70


def error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"detail", "field"} and body["detail"]
    return body


@pytest.mark.parametrize(
    ("path", "field"),
    [(f"/searches/{BIG}", "search_id"), (f"/searches/{HUGE}/frontier", "search_id"),
     (f"/searches/{BIG}/candidates", "search_id"), (f"/searches/{BIG}/export", "search_id"),
     (f"/searches/{BIG}/plots/latency.png", "search_id"),
     (f"/searches?offset={BIG}", "offset"), (f"/searches/1/candidates?after={BIG}", "after"),
     (f"/searches/1/export?seed={2**64}", "seed"), (f"/searches/1/export?seed={BIG}", "seed")],
)  # fmt: skip
def test_integers_beyond_64_bits_are_422(api: httpx.Client, path: str, field: str) -> None:
    assert error(api.get(path), 422)["field"] == field
    assert api.get("/health").status_code == 200  # the connection and the server are fine


@pytest.mark.parametrize(
    ("body", "field"),
    [({"seed": BIG}, "seed"), ({"seed": HUGE}, "seed"), ({"iterations": 10**12}, "iterations"),
     ({"population": HUGE}, "population"), ({"parents": 10**9}, "parents"),
     ({"baseline_layers": "1-100000000"}, "baseline_layers"),
     ({"baseline_layers": [10**9]}, "baseline_layers[0]"),
     ({"final_max_members": HUGE}, "final_max_members"), ({"max_params": HUGE}, "max_params"),
     ({"final_share": 0}, "final_share"), ({"final_share": 2}, "final_share"),
     ({"fail_after_s": 1e300}, "fail_after_s"),
     ({"space": {"backbone": "gpt2", "n_layer": {"min": 1, "max": 10**9}}}, "space.n_layer"),
     ({"space": {"backbone": "gpt2", "d_model": {"min": 64, "max": 10**12, "step": 64}}},
      "space.d_model")],
)  # fmt: skip
def test_search_sizes_are_bounded(
    api: httpx.Client, filled: Filled, body: dict, field: str
) -> None:
    with Store.open(filled.db) as store:
        before = store.count_searches()
    r = api.post("/searches", json={"agents": [AGENT_NAME], **body})
    assert error(r, 422)["field"] == field
    with Store.open(filled.db) as store:
        assert store.count_searches() == before


def test_resume_id_beyond_64_bits_is_422(api: httpx.Client) -> None:
    assert error(api.post("/searches", json={"resume": BIG}), 422)["field"] == "resume"
    assert error(api.post(f"/searches/{BIG}/stop"), 422)["field"] == "search_id"


def test_bounds_are_in_the_openapi(api: httpx.Client) -> None:
    schema = api.get("/openapi.json").json()
    create = schema["components"]["schemas"]["SearchCreate"]["properties"]
    iterations = next(o for o in create["iterations"]["anyOf"] if o.get("type") == "integer")
    assert iterations["maximum"] == 10_000
    params = schema["paths"]["/searches/{search_id}"]["get"]["parameters"]
    assert params[0]["schema"]["maximum"] == BIG - 1
