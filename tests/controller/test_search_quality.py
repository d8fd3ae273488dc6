"""benchmarks/search_quality.py: scoring on one normalisation, a tiny run of the direct
backend, and the agent backend's refusal while ``controller search --algorithm`` is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from testkit import load_benchmark

SURROGATE = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "surrogate-cpu.json"


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("search_quality")


def _run(algorithm: str, rows: list[list[float]], noisy: bool = False) -> dict:
    return {"algorithm": algorithm, "noisy": noisy, "seed": 0, "cpu_s": 1.0,
            "objectives": ["params", "latency", "memory"], "evaluations": rows}  # fmt: skip


def test_scores_share_one_normalisation_and_a_dominating_run_scores_higher(bench) -> None:
    # rows: params, told latency, told memory, true latency, true memory
    weak = [[1e6, 10, 10, 10, 10], [2e6, 20, 20, 20, 20], [3e6, 30, 30, 30, 30]]
    strong = [[1e6, 9, 9, 9, 9], [2e6, 18, 18, 18, 18], [3e6, 27, 27, 27, 27]]
    out = bench.score([_run("weak", weak), _run("strong", strong)], [2, 3], grid=1)
    by = {m["algorithm"]: m for m in out["methods"]}
    assert by["strong"]["budgets"]["3"]["hv_mean"] > by["weak"]["budgets"]["3"]["hv_mean"]
    assert by["strong"]["evals_to_99"]["median"] == 3 and by["weak"]["evals_to_99"]["reached"] == 0
    assert by["weak"]["cpu_s_per_1000"] == pytest.approx(1000 / 3)
    assert out["normalisation"]["ideal"] == [-3e6, 9.0, 9.0]


def test_a_noisy_run_is_scored_at_the_true_values_of_the_frontier_it_saw(bench) -> None:
    # the second point looks dominated (told 50) but is better in truth: it is not scored
    rows = [[1e6, 10, 10, 10, 10], [1e6, 50, 10, 5, 10]]
    front = bench.frontier_at(__import__("numpy").array(rows, dtype=float), 2, 3)
    assert front.tolist() == [[-1e6, 10.0, 10.0]]


@pytest.mark.slow
def test_the_benchmark_runs_tiny_on_the_direct_backend(bench, capsys, tmp_path) -> None:
    runs = tmp_path / "runs.jsonl"
    args = ["--algorithms", "random,nsga2,tpe", "--seeds", "2", "--budgets", "20,40",
            "--population", "10", "--grid", "10", "--surrogate", str(SURROGATE), "--runs",
            str(runs), "--json"]  # fmt: skip
    bench.main(args)
    out = json.loads(capsys.readouterr().out)
    assert len(out["methods"]) == 6  # 3 algorithms, noise-free and noisy
    for m in out["methods"]:
        assert m["seeds"] == 2 and m["evaluations"] == 40
        for b in ("20", "40"):
            assert 0 < m["budgets"][b]["hv_mean"] <= 1.1**3
        assert m["cpu_s_per_1000"] >= 0
    assert len(runs.read_text().splitlines()) == 12
    bench.main([*args, "--report-only"])  # scored again from the runs file, nothing rerun
    assert json.loads(capsys.readouterr().out)["methods"] == out["methods"]


@pytest.mark.slow
def test_the_agent_backend_runs_through_a_simulating_agent(bench, capsys, tmp_path) -> None:
    """The real path: ``agent serve --simulate``, ``controller search --algorithm``, the store
    read back; the evaluations it scores are the search's measurements, in their order."""
    runs = tmp_path / "runs.jsonl"
    bench.main(["--backend", "agent", "--algorithms", "random", "--seeds", "1", "--budgets",
                "20", "--population", "10", "--no-noisy", "--surrogate", str(SURROGATE),
                "--runs", str(runs), "--json"])  # fmt: skip
    (m,) = json.loads(capsys.readouterr().out)["methods"]
    assert m["seeds"] == 1 and m["evaluations"] == 20
    assert 0 < m["budgets"]["20"]["hv_mean"] <= 1.1**3
    (run,) = [json.loads(line) for line in runs.read_text().splitlines()]
    assert run["backend"] == "agent" and len(run["evaluations"]) == 20
    assert run["cpu_s"] > 0  # the controller's process, a child of the benchmark
