"""Bounds on the sizes a command line can give: one line ``error: FIELD: ...`` and exit 1,
never a traceback, and nothing created (issue 12, point 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lts.controller.cli import app

cli = CliRunner()
BIG = str(2**63)
URL = "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("args", "field"),
    [(["search", "--agents", URL, "--seed", BIG], "seed"),
     (["search", "--agents", URL, "--iterations", str(10**12)], "iterations"),
     (["search", "--agents", URL, "--population", str(2**70)], "population"),
     (["search", "--agents", URL, "--parents", str(10**9)], "parents"),
     (["search", "--agents", URL, "--baseline-layers", "1-100000000"], "baseline_layers"),
     (["search", "--agents", URL, "--final-max-members", BIG], "final_max_members"),
     (["search", "--agents", URL, "--final-share", "0"], "final_share"),
     (["search", "--agents", URL, "--final-share", "1.5"], "final_share"),
     (["search", "--resume", BIG], "resume"),
     (["results", BIG], "search_id"), (["plot", BIG], "search_id"),
     (["export", BIG], "search_id"), (["export", "1", "--seed", str(2**64)], "seed")],
)  # fmt: skip
def test_out_of_range_is_one_line(tmp_path: Path, args: list[str], field: str) -> None:
    db = tmp_path / "sub" / "lts.sqlite"
    r = cli.invoke(app, [*args, "--db", str(db)])
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}: "), r.output
    assert not db.parent.exists()  # checked before the store is opened
