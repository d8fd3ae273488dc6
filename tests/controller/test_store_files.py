"""The store's and the agents file's files: created owner-only (0600); read commands on a
missing database say so and create nothing; a bad ``--db`` path and a corrupted row are one
clear line (issue 12, points 9 and 10)."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lts.controller.agents import AgentsFile, AgentSpec
from lts.controller.cli import app
from lts.controller.search.config import SearchConfig
from lts.controller.search.runner import start_search
from lts.controller.store import Store
from lts.shared.space import default_space

cli = CliRunner()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def one_line_error(args: list[str]) -> str:
    r = cli.invoke(app, args)
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    return lines[0]


def test_database_and_agents_files_are_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "new" / "lts.sqlite"
    with Store.open(db) as store:
        start_search(store, SearchConfig.build(agents=["a"], space=default_space("gpt2").to_dict()))
    assert mode(db) == 0o600
    for journal in db.parent.glob("lts.sqlite-*"):  # SQLite gives them the database's mode
        assert mode(journal) == 0o600, journal
    registry = AgentsFile(tmp_path / "cfg" / "agents.toml")
    registry.add(AgentSpec("pi", "http://127.0.0.1:9", token_file="~/pi.token"))
    assert mode(registry.path) == 0o600


@pytest.mark.parametrize(
    "args",
    [["results"], ["results", "3"], ["searches"], ["plot", "1"], ["export", "1"],
     ["search", "--resume", "1"]],
)  # fmt: skip
def test_read_commands_on_a_missing_database_create_nothing(
    tmp_path: Path, args: list[str]
) -> None:
    db = tmp_path / "missing" / "lts.sqlite"
    line = one_line_error([*args, "--db", str(db)])
    assert f"no database at {db}" in line
    assert not db.parent.exists()


def test_a_db_path_under_a_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    db = tmp_path / "afile" / "sub" / "lts.sqlite"
    line = one_line_error(["search", "--agents", "http://127.0.0.1:9", "--db", str(db)])
    assert f"{tmp_path / 'afile'} is a file, not a folder" in line


def test_a_corrupted_row_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "lts.sqlite"
    with Store.open(db) as store:
        start_search(store, SearchConfig.build(agents=["a"], space=default_space("gpt2").to_dict()))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE searches SET settings = '{broken'")
    for args in (["results", "1"], ["searches"]):
        line = one_line_error([*args, "--db", str(db)])
        assert "is corrupted: a JSON column does not parse" in line
