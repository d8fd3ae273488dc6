"""The OpenAPI documents of both services say what they really answer (issue 12, point 11):
every 422 is an ``ErrorBody``, every operation documents the 400 any request may get (a body
that does not parse, a rebound Host) and, with a body, the 413; the agent's ``GET`` and
``DELETE /jobs/{id}`` document their 401. Checked on real servers on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from apiserver import Server  # tests/controller/api is on sys.path

from lts.shared.schemas import ErrorBody


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in schema["paths"].items()
            for method, op in ops.items()]  # fmt: skip


def check_document(schema: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in json.dumps(schema)
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path, method, op in operations(schema):
        responses = op["responses"]
        assert "400" in responses, (method, path)
        if "requestBody" in op:
            assert "413" in responses, (method, path)
        for code, answer in responses.items():
            if code.startswith("4"):
                assert answer["content"]["application/json"]["schema"] == ref, (method, path, code)


def test_controller_openapi_says_what_it_answers(server: Server, api: httpx.Client) -> None:
    check_document(api.get("/openapi.json").json())
    r = api.post("/searches", content=b"\xff\xfe", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and ErrorBody.model_validate(r.json()).field == "body"
    r = api.get("/searches", headers={"Host": "rebound.example"})
    assert r.status_code == 400 and ErrorBody.model_validate(r.json()).field == "host"
    r = api.get("/searches", params={"limit": 0})
    assert r.status_code == 422 and ErrorBody.model_validate(r.json()).field == "limit"


@pytest.fixture(scope="module")
def agent_client(start_agent: Any) -> Any:
    agent = start_agent()
    with agent.client() as client:
        yield client


def test_agent_openapi_says_what_it_answers(agent_client: httpx.Client) -> None:
    schema = agent_client.get("/openapi.json").json()
    check_document(schema)
    for method in ("get", "delete"):
        assert "401" in schema["paths"]["/jobs/{job_id}"][method]["responses"]
    r = agent_client.post(
        "/jobs", content=b"\xff\xfe", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422 and ErrorBody.model_validate(r.json()).field == "body"
    r = agent_client.get("/device", headers={"Host": "rebound.example"})
    assert r.status_code == 400 and ErrorBody.model_validate(r.json()).field == "host"
    anonymous = agent_client.get("/jobs/x", headers={"Authorization": ""})
    assert anonymous.status_code == 401
