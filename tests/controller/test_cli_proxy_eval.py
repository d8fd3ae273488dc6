"""``controller proxy-eval`` through the real CLI (in process and as a subprocess)."""

from __future__ import annotations

import json
import subprocess

import pytest
from testkit import console_script
from typer.testing import CliRunner

from lts.controller.cli import app
from lts.controller.proxies.evaluate import CR_LEVELS

GPT2 = "random_GPT2_wt103.jsonl"
TRANSXL = "random_TransXL_lm1b.jsonl"


@pytest.fixture()
def cli(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def run(*args: object):
        return runner.invoke(app, ["proxy-eval", *(str(a) for a in args)])

    return run


def assert_result_shape(out: dict, table: str, rows: int, proxies: list[str]) -> None:
    assert set(out) == {"table", "rows", "proxies"}
    assert out["table"].endswith(table) and out["rows"] == rows
    assert list(out["proxies"]) == proxies
    for entry in out["proxies"].values():
        assert set(entry) == {"spearman", "common_ratio", "seconds", "failed"}
        assert list(entry["common_ratio"]) == [str(k) for k in CR_LEVELS]
        assert entry["seconds"] >= 0 and entry["failed"] == 0


def test_json_reports_src_and_cr_per_proxy(cli, tables_dir):
    result = cli("--table", tables_dir / GPT2, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert_result_shape(out, GPT2, 200, ["decoder_params", "total_params"])
    decoder = out["proxies"]["decoder_params"]
    assert round(decoder["spearman"], 3) == 0.967
    assert decoder["common_ratio"]["100"] == 1.0


def test_limit_and_proxy_selection(cli, tables_dir):
    result = cli(
        "--table", tables_dir / TRANSXL, "--json", "--limit", "25", "--proxies", "decoder_params"
    )
    assert result.exit_code == 0, result.output
    assert_result_shape(json.loads(result.stdout), TRANSXL, 25, ["decoder_params"])


def test_low_cost_proxies_run_from_the_cli(cli, tmp_path):
    arch = {
        "n_layer": 2,
        "d_model": 64,
        "n_head": 2,
        "d_inner": 160,
        "d_embed": 64,
        "div_val": 2,
        "n_token": 1000,
        "cutoffs": [200, 500],
        "tgt_len": 32,
    }
    table = tmp_path / "tiny.jsonl"
    lines = [
        {
            "id": f"m{i}",
            "backbone": bb,
            "arch": {**arch, "d_inner": 160 + 64 * i},
            "valid_ppl": 50.0 - i,
        }
        for i, bb in enumerate(["gpt2", "transxl", "gpt2", "transxl"])
    ]
    table.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = cli("--table", table, "--json", "--proxies", "grad_norm,jacob_cov")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert_result_shape(out, "tiny.jsonl", 4, ["grad_norm", "jacob_cov"])


def test_human_table_and_plot(cli, tables_dir, tmp_path):
    png = tmp_path / "fig.png"
    result = cli("--table", tables_dir / GPT2, "--limit", "30", "--plot", png)
    assert result.exit_code == 0, result.output
    assert "decoder_params" in result.stdout and "SRC" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_invalid_rows_are_reported_not_dropped(cli, tmp_path):
    table = tmp_path / "mixed.jsonl"
    good = {"backbone": "gpt2", "arch": {"n_layer": 2, "d_model": 64, "n_head": 2, "d_inner": 128}}
    table.write_text(
        json.dumps({"id": "a", **good, "valid_ppl": 30.0})
        + "\n"
        + json.dumps(
            {"id": "broken", "backbone": "gpt2", "arch": {"n_layer": 0}, "valid_ppl": 31.0}
        )
        + "\n"
        + json.dumps({"id": "b", **good, "valid_ppl": 32.0})
        + "\n"
    )
    result = cli("--table", table, "--json", "--proxies", "decoder_params")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["rows"] == 3 and out["proxies"]["decoder_params"]["failed"] == 1
    assert "1 row(s) not scored by decoder_params" in result.stderr
    assert "broken" in result.stderr and "n_layer" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table", "/nonexistent/table.jsonl"], "table.jsonl"),
        (["--proxies", "nope"], "proxies: unknown proxy 'nope'"),
    ],
)
def test_user_errors_are_one_line(cli, tables_dir, args, message):
    if "--table" not in args:
        args = ["--table", tables_dir / GPT2, *args]
    result = cli(*args)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.output


def test_real_subprocess(tables_dir):
    cmd = console_script("controller")
    ok = subprocess.run(
        [*cmd, "proxy-eval", "--table", str(tables_dir / GPT2), "--limit", "50", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert_result_shape(json.loads(ok.stdout), GPT2, 50, ["decoder_params", "total_params"])
    bad = subprocess.run(
        [*cmd, "proxy-eval", "--table", "/nonexistent.jsonl", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and bad.stdout == ""
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
