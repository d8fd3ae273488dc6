"""One read model: ``controller results --json``, the API's search and frontier and (through
the API) the dashboard show the same counts and the same frontier rows of a search, built once
(:mod:`lts.controller.report` and :mod:`lts.controller.report.views`). The dashboard's side
is checked in its browser tests (its tiles are the API's counts)."""

from __future__ import annotations

import json

import httpx
from apiserver import Filled  # tests/controller/api is on sys.path
from typer.testing import CliRunner

from lts.controller.cli import app

#: The device header: progress and counts, as every view shows them.
HEADER = (
    "position", "agent", "device", "device_id", "fingerprint", "status", "message",
    "iterations_done", "iterations", "candidates", "measured", "quick", "full", "screened",
    "cache_hits", "failed", "cost_model", "hypervolume", "frontier_size", "objectives",
)  # fmt: skip


def test_the_cli_and_the_api_show_one_report(api: httpx.Client, filled: Filled) -> None:
    sid = filled.search_id
    r = CliRunner().invoke(app, ["results", str(sid), "--db", filled.db, "--json"])
    assert r.exit_code == 0, r.output
    cli = json.loads(r.stdout)
    frontier = api.get(f"/searches/{sid}/frontier").json()
    detail = api.get(f"/searches/{sid}").json()
    assert cli["search"]["id"] == frontier["search_id"] == detail["id"] == sid
    # The frontier, row for row and figure for figure, with its comparisons.
    assert cli["devices"] == frontier["data"]
    # The header of each device: the same in the search's detail and in its frontier.
    for head, front in zip(detail["devices"], frontier["data"], strict=True):
        assert {k: head[k] for k in HEADER} == {k: front[k] for k in HEADER}
    # The counts add up the one way: proposed = measured anew + cache hits + screened (+ the
    # candidates still to measure, none in a finished search).
    for d in frontier["data"]:
        assert d["candidates"] == d["measured"] + d["cache_hits"] + d["screened"]
        assert d["quick"] + d["full"] == d["measured"]
        assert d["frontier_size"] >= 1 and len(d["members"]) >= 1
