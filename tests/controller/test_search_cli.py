"""The search commands through the CLI: options, errors at the edge, output; no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_search_runtime import SPACE, FakeAgent, FakeClient  # tests/controller is on sys.path
from typer.testing import CliRunner

from lts.controller.cli import app
from lts.controller.search import runner as runner_mod

cli = CliRunner()


def test_importing_the_cli_does_not_import_torch() -> None:
    code = "import sys, lts.controller.cli; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    agents = {"a": FakeAgent("a"), "b": FakeAgent("b", threads=2)}
    monkeypatch.setattr(
        runner_mod, "default_client", lambda spec: FakeClient(agents[spec.name], spec.name)
    )
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    return {
        "LTS_DB": str(tmp_path / "lts.sqlite"),
        "LTS_AGENTS_FILE": str(tmp_path / "agents.toml"),
        "SPACE": str(space),
    }


def test_agents_add_list_remove(env: dict[str, str]) -> None:
    r = cli.invoke(app, ["agents", "add", "a", "http://127.0.0.1:9"], env=env)
    assert r.exit_code == 0, r.output
    r = cli.invoke(app, ["agents", "list", "--json", "--timeout-s", "2"], env=env)
    (row,) = json.loads(r.stdout)["data"]
    assert row["name"] == "a" and row["reachable"] is False and "cannot reach" in row["error"]
    r = cli.invoke(app, ["agents", "add", "a", "http://127.0.0.1:9"], env=env)
    assert r.exit_code == 1 and "already" in r.output
    assert cli.invoke(app, ["agents", "remove", "a"], env=env).exit_code == 0
    r = cli.invoke(app, ["agents", "remove", "a"], env=env)
    assert r.exit_code == 1 and r.output.startswith("error:")


def test_search_results_and_searches(env: dict[str, str]) -> None:
    for name in ("a", "b"):
        cli.invoke(app, ["agents", "add", name, f"http://{name}:1"], env=env)
    args = [
        "search", "--agents", "a,b", "--space", env["SPACE"], "--iterations", "2",
        "--population", "8", "--parents", "2", "--baseline-sizes", "space",
        "--baseline-layers", "1,2", "--time-budget-s", "0.5", "--seed", "1", "--name", "t",
    ]  # fmt: skip
    r = cli.invoke(app, args, env=env)
    assert r.exit_code == 0, r.output
    assert "Pareto frontier (" in r.stdout
    assert "layer-scaled baselines" in r.stdout and "prefill latency ratio" in r.stdout
    r = cli.invoke(app, ["results", "--json", "--device", "b"], env=env)
    (dev,) = json.loads(r.stdout)["devices"]
    assert dev["status"] == "done" and dev["members"] and len(dev["baselines"]) == 2
    # every comparison rests on a full measurement: a quick match was measured again
    assert all(b["match"]["measure"] != "quick" or b["match"]["figures"] == "final"
               for b in dev["baselines"] if b["match"])  # fmt: skip
    r = cli.invoke(app, ["searches", "--json"], env=env)
    (s,) = json.loads(r.stdout)["data"]
    assert s["name"] == "t" and s["status"] == "done" and s["agents"] == ["a", "b"]
    # A resumed search keeps its stored settings; a finished one has nothing left to do.
    r = cli.invoke(app, ["search", "--resume", str(s["id"]), "--iterations", "5"], env=env)
    assert r.exit_code == 1 and "--iterations" in r.output
    r = cli.invoke(app, ["search", "--resume", str(s["id"]), "--json"], env=env)
    assert r.exit_code == 0 and json.loads(r.stdout)["search"]["status"] == "done"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search"], "name the agents"),
        (["search", "--agents", "nope"], "no agent named 'nope'"),
        (["search", "--agents", "http://x:1", "--parents", "200"], "parents"),
        (["search", "--agents", "http://x:1", "--threads", "0"], "threads"),
        (["search", "--agents", "http://x:1", "--proxy", "nope"], "unknown proxy"),
        (["search", "--resume", "42"], "no database at"),  # a read creates no database
        (["results"], "no database at"),
    ],
)
def test_user_errors_are_one_line(env: dict[str, str], args: list[str], message: str) -> None:
    r = cli.invoke(app, args, env=env)
    assert r.exit_code == 1
    assert r.output.startswith("error:") and message in r.output and "Traceback" not in r.output
