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
from lts.controller.client import AgentRefused
from lts.controller.commands.search import resume_hint
from lts.controller.search import runner as runner_mod
from lts.controller.store import Store

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
        "--final-share", "1",
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


# ------------------------------------------------------------------------------ pre-flight
class RefusingClient(FakeClient):
    async def device(self):  # type: ignore[override]
        raise AgentRefused(f"agent {self.label}: 401 missing or wrong bearer token (check the "
                           "agent's token: token_file in the agents file)", status=401)  # fmt: skip


def _agents(env: dict[str, str]) -> None:
    for name in ("a", "b"):
        cli.invoke(app, ["agents", "add", name, f"http://{name}:1"], env=env)


def _searches(env: dict[str, str]) -> int:
    if not Path(env["LTS_DB"]).exists():
        return 0
    with Store.open(env["LTS_DB"]) as store:
        return store.count_searches()


SMALL = ["--iterations", "2", "--population", "8", "--parents", "2", "--baseline-sizes",
         "space", "--baseline-layers", "1,2", "--time-budget-s", "0.5"]  # fmt: skip


def test_comparisons_left_to_quick_figures_say_so(env: dict[str, str]) -> None:
    """The final phase's time bound (the default share of a search that took no time) fits
    no measurement of 60 s: the baselines' table says its ratios rest on quick figures."""
    cli.invoke(app, ["agents", "add", "a", "http://a:1"], env=env)
    r = cli.invoke(app, ["search", "--agents", "a", "--space", env["SPACE"], "--iterations", "2",
                         "--population", "8", "--parents", "2", "--baseline-sizes", "space",
                         "--baseline-layers", "1,2", "--time-budget-s", "60"], env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "protocol quick: the ratios rest on quick measurements" in " ".join(r.stdout.split())
    r = cli.invoke(app, ["results", "--json"], env=env)
    (dev,) = json.loads(r.stdout)["devices"]
    matched = [b for b in dev["baselines"] if b["match"]]
    assert matched and all(b["match"]["figures"] == "search" for b in matched)


def test_a_wrong_token_is_one_line_and_stores_no_search(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It stored a failed search and printed its error four times."""
    _agents(env)
    monkeypatch.setattr(runner_mod, "default_client",
                        lambda spec: RefusingClient(FakeAgent(spec.name), spec.name))  # fmt: skip
    r = cli.invoke(app, ["search", "--agents", "a", "--space", env["SPACE"], *SMALL], env=env)
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: agents: agent a: 401"), r.output
    assert lines[0].endswith("nothing was stored")
    assert _searches(env) == 0


def test_an_agent_that_does_not_answer_is_named_at_once(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It waited the whole --fail-after-s (5 minutes by default) before failing."""
    _agents(env)
    down = FakeAgent("b")
    down.down = True
    agents = {"a": FakeAgent("a"), "b": down}
    monkeypatch.setattr(runner_mod, "default_client",
                        lambda spec: FakeClient(agents[spec.name], spec.name))  # fmt: skip
    r = cli.invoke(app, ["search", "--agents", "a,b", "--space", env["SPACE"], *SMALL], env=env)
    assert r.exit_code == 1
    assert r.output.strip() == ("error: agents: agent b: cannot reach http://b; nothing was "
                                "stored")  # fmt: skip
    assert _searches(env) == 0


def test_bounds_no_architecture_meets_are_refused_before_anything(env: dict[str, str]) -> None:
    _agents(env)
    r = cli.invoke(app, ["search", "--agents", "a", "--space", env["SPACE"], "--max-params",
                         "1000"], env=env)  # fmt: skip
    assert r.exit_code == 1 and r.output.startswith("error: max_params: 1,000 is below")
    assert not Path(env["LTS_DB"]).exists()  # checked before the store is opened
    r = cli.invoke(app, ["search", "--agents", "a", "--space", env["SPACE"], "--min-params",
                         str(10**12)], env=env)  # fmt: skip
    assert r.exit_code == 1 and "is above the largest architecture" in r.output


def test_the_resume_hint_names_the_store_and_the_agents_file(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pasted without --db, it resumed another store's search 1 and rewrote its finish."""
    from test_search_runtime import LyingAgent, _negative

    _agents(env)
    agents = {"a": FakeAgent("a"), "b": LyingAgent("b", _negative)}
    monkeypatch.setattr(runner_mod, "default_client",
                        lambda spec: FakeClient(agents[spec.name], spec.name))  # fmt: skip
    db, registry = tmp_path / "mine" / "s.sqlite", env["LTS_AGENTS_FILE"]
    quiet = {k: v for k, v in env.items() if k not in ("LTS_DB", "LTS_AGENTS_FILE")}
    r = cli.invoke(app, ["search", "--agents", "a,b", "--space", env["SPACE"], *SMALL, "--db",
                         str(db), "--agents-file", registry], env=quiet)  # fmt: skip
    assert r.exit_code == 1
    hint = f"controller search --resume 1 --db {db} --agents-file {registry}"
    assert f"fix the agent and run: {hint}" in r.output
    assert resume_hint(3, "postgresql+psycopg://u:secret@h/db", None, None) == (
        "controller search --resume 3 --db 'postgresql+psycopg://u:***@h/db'")
    token = resume_hint(3, None, None, "my token")
    assert token == "controller search --resume 3 --token-file 'my token'"


def test_resuming_a_done_search_changes_nothing(env: dict[str, str]) -> None:
    _agents(env)
    r = cli.invoke(app, ["search", "--agents", "a,b", "--space", env["SPACE"], *SMALL], env=env)
    assert r.exit_code == 0, r.output
    with Store.open(env["LTS_DB"]) as store:
        before = store.get_search(1)
    r = cli.invoke(app, ["search", "--resume", "1"], env=env)
    assert r.exit_code == 0 and "search 1 is done: nothing to resume" in r.output
    with Store.open(env["LTS_DB"]) as store:
        after = store.get_search(1)
    assert after.finished_at == before.finished_at and after.updated_at == before.updated_at
