"""``controller space`` and ``controller params`` through the real CLI (in process and as a
subprocess of the installed console script)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from testkit import console_script
from typer.testing import CliRunner

from lts.controller.cli import app
from lts.controller.search.operators import sample
from lts.controller.tables import read_table
from lts.shared.config import ArchConfig
from lts.shared.params import count_params, decoder_params
from lts.shared.space import default_space

GPT2_TABLE = "random_GPT2_wt103.jsonl"
TABLE_NAMES = {
    "decoder": "nonembedding",
    "embedding": "AdaEmb",
    "attention": "Attn",
    "feed_forward": "FFN",
    "total": "total",
}


@pytest.fixture()
def cli(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # Rich tables at full width
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return run


def assert_one_line_error(result) -> None:
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output


def small_config(**changes) -> dict:
    cfg = {"backbone": "gpt2", "n_layer": 2, "d_model": 128, "n_head": 2, "d_inner": 256}
    cfg.update(changes)
    return cfg


# ----------------------------------------------------------------------------------- space
def test_space_prints_genes_exact_size_and_samples(cli) -> None:
    result = cli("space", "--backbone", "gpt2")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Search space: gpt2 (heterogeneous)" in out
    for text in ("n_layer", "2..16 step 1", "128..1024 step 64", "256..4096 step 64", "2, 4, 8"):
        assert text in out
    assert f"{default_space('gpt2').size():,}" in out and "10^37.52" in out
    rng = np.random.default_rng(0)  # the default seed
    for _ in range(3):
        cfg = sample(default_space("gpt2"), rng)
        assert cfg.arch_id in out and f"{decoder_params(cfg):,}" in out


def test_space_json_is_exact_and_reproducible(cli) -> None:
    result = cli(
        "space", "--backbone", "transxl", "--homogeneous", "--samples", "5", "--seed", 11, "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    space = default_space("transxl", homogeneous=True)
    assert data["size"] == space.size() == 285525
    assert data["space"] == space.to_dict()
    rng = np.random.default_rng(11)
    expected = [sample(space, rng) for _ in range(5)]
    assert [s["arch_id"] for s in data["samples"]] == [c.arch_id for c in expected]
    for drawn, cfg in zip(data["samples"], expected, strict=True):
        assert ArchConfig.from_dict(drawn["config"]) == cfg
        assert drawn["decoder_params"] == decoder_params(cfg)


def test_a_space_of_thousands_of_digits_is_shown_by_its_magnitude(cli, tmp_path) -> None:
    """Python writes integers of at most 4,300 digits; a space of 1,024 layers is larger."""
    path = tmp_path / "deep.json"
    path.write_text(json.dumps({"backbone": "gpt2", "n_layer": {"min": 1, "max": 1024},
                                "d_model": [64], "n_head": [2], "d_inner": {"min": 128,
                                "max": 65536, "step": 16}}))  # fmt: skip
    result = cli("space", "--space", path, "--samples", "0", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["size"] is None and data["size_log10"] > 3000
    shown = cli("space", "--space", path, "--samples", "0")
    assert shown.exit_code == 0 and "(~ 10^" in shown.stdout


def test_space_reads_a_space_file(cli, tmp_path) -> None:
    path = tmp_path / "space.toml"
    path.write_text('backbone = "gpt2"\nn_layer = [2, 3]\nd_model = [128]\nd_inner = [256, 512]\n')
    result = cli("space", "--space", path, "--json", "--samples", "0")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # 3 d_embed x 3 div_val x (k^2 + k^3), k = 3 heads x 2 d_inner per layer
    assert data["size"] == 9 * (6**2 + 6**3)
    assert data["samples"] == []


def test_space_file_errors_are_one_line(cli, tmp_path) -> None:
    path = tmp_path / "space.toml"
    path.write_text('backbone = "gpt2"\nn_head = [3]\n')
    result = cli("space", "--space", path)
    assert_one_line_error(result)
    assert "n_head" in result.stderr
    assert_one_line_error(cli("space", "--space", tmp_path / "missing.toml"))


# ---------------------------------------------------------------------------------- params
@pytest.mark.parametrize("table", [GPT2_TABLE, "random_TransXL_lm1b.jsonl"])
def test_params_json_equals_the_published_table_row_by_row(cli, tables_dir, table) -> None:
    result = cli("params", tables_dir / table, "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    rows = read_table(tables_dir / table)
    assert len(lines) == len(rows) > 100
    for line, row in zip(lines, rows, strict=True):
        assert line["id"] == row.id
        assert line["arch_id"] == row.arch.arch_id
        assert set(line["params"]) == {*TABLE_NAMES, "softmax"}
        for ours, theirs in TABLE_NAMES.items():
            assert line["params"][ours] == row.params[theirs], (row.id, ours)


def test_params_table_shows_every_row(cli, tables_dir) -> None:
    result = cli("params", tables_dir / GPT2_TABLE)
    assert result.exit_code == 0, result.output
    for row in read_table(tables_dir / GPT2_TABLE):
        assert row.id in result.stdout and row.arch.arch_id in result.stdout
    assert f"{read_table(tables_dir / GPT2_TABLE)[0].params['total']:,}" in result.stdout


def test_params_of_one_config_file(cli, tmp_path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(small_config()))
    result = cli("params", path, "--json")
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in result.stdout.splitlines()]
    cfg = ArchConfig.from_dict(small_config())
    counts = count_params(cfg)
    assert line["id"] == 0 and line["arch_id"] == cfg.arch_id
    assert line["params"] == {k: getattr(counts, k) for k in line["params"]}
    assert line["params"]["total"] == counts.total


def test_params_of_a_list_file_reports_invalid_entries_after_all_rows(cli, tmp_path) -> None:
    path = tmp_path / "list.json"
    configs = [small_config(), small_config(n_head=3), 7, small_config(backbone="transxl")]
    path.write_text(json.dumps(configs))
    result = cli("params", path, "--json")
    assert result.exit_code == 1
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == [0, 1, 2, 3]
    assert "n_head[0]" in lines[1]["error"] and "arch_id" not in lines[1]
    assert "error" in lines[2]
    assert lines[3]["arch_id"] == ArchConfig.from_dict(small_config(backbone="transxl")).arch_id
    assert result.stderr.strip() == "error: 2 of 4 architectures are invalid"
    table = cli("params", path)
    assert table.exit_code == 1
    assert "invalid" in table.stdout and "n_head[0]" in table.stdout


def test_params_backbone_option_supplies_a_missing_backbone(cli, tmp_path) -> None:
    path = tmp_path / "bare.json"
    bare = small_config()
    del bare["backbone"]
    path.write_text(json.dumps(bare))
    result = cli("params", path, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"].startswith("backbone:")
    result = cli("params", path, "--json", "--backbone", "transxl")
    assert result.exit_code == 0, result.output
    expected = ArchConfig.from_dict(bare, backbone="transxl")
    assert json.loads(result.stdout)["arch_id"] == expected.arch_id


@pytest.mark.parametrize(
    "content", [None, "{not json", "", '"a string"', '{"id": "x", "arch": {}}\n{broken\n']
)
def test_params_bad_files_are_a_one_line_error(cli, tmp_path, content) -> None:
    path = tmp_path / "input.json"
    if content is not None:
        path.write_text(content)
    assert_one_line_error(cli("params", path, "--json"))


# ------------------------------------------------------------------------------ subprocess
def test_the_installed_console_script(tables_dir, tmp_path) -> None:
    command = console_script("controller")
    done = subprocess.run(
        [*command, "params", str(tables_dir / GPT2_TABLE), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in done.stdout.splitlines()]
    rows = read_table(tables_dir / GPT2_TABLE)
    assert [line["params"]["decoder"] for line in lines] == [
        row.params["nonembedding"] for row in rows
    ]
    bad = subprocess.run(
        [*command, "params", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: ")
    assert "Traceback" not in bad.stderr
