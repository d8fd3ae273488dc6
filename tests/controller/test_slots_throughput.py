"""benchmarks/slots_throughput.py: the same candidates on one real local agent with 1 and 2
slots, figures checked for consistency (never for timing)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
from testkit import load_benchmark

QUICK = ["--time-budget-s", "0.2", "--min-time-s", "0.1", "--warmup-s", "0.02",
         "--warmup-runs", "1", "--min-runs", "2", "--no-memory"]  # fmt: skip


def load_script() -> ModuleType:
    return load_benchmark("slots_throughput")


@pytest.mark.slow
def test_both_runs_measure_every_candidate_and_their_figures_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_script()
    argv = ["--space", "tiny", "--count", "4", "--batch-size", "2", *QUICK,
            "--keep", str(tmp_path / "kept"), "--json"]  # fmt: skip
    result = bench.main(argv)
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(result))
    one, two = result["runs"]
    assert (one["slots"], two["slots"]) == (1, 2) and result["jobs_in_flight"] == "streaming"
    assert result["settings"]["measure_memory"] is False
    for run in (one, two):
        assert run["measured"] == 4 and run["failed"] == 0  # fresh stores: no cache hit
        assert run["agent_s"] > 0 and run["wall_s"] > 0
        assert run["candidates_per_hour"] == pytest.approx(4 / run["wall_s"] * 3600, rel=0.01)
        assert run["agent_s_per_candidate"] == pytest.approx(run["agent_s"] / 4, abs=0.01)
        assert Path(run["db"]).is_file()
    ratio = two["candidates_per_hour"] / one["candidates_per_hour"]
    assert result["throughput_ratio"] == pytest.approx(ratio, abs=0.001)
    assert result["contention_of"] == 4 and result["contention_median"] > 0


def test_bad_inputs_are_refused_with_the_option_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_script()
    for argv, named in (
        (["--count", "0"], "--count"),
        (["--batch-size", "0"], "--batch-size"),
        (["--seed", "-1"], "--seed"),
        (["--space", "nope"], "--space"),
        (["--time-budget-s", "0"], "--time-budget-s"),
        (["--min-runs", "0"], "--min-runs"),
        (["--warmup-s", "-1"], "--warmup-s"),
    ):
        with pytest.raises(SystemExit) as exc:
            bench.main(argv)
        assert exc.value.code == 2
        assert named in capsys.readouterr().err


def test_the_candidates_are_distinct_and_follow_the_seed() -> None:
    bench = load_script()
    space = bench.space_of(bench.parse_args(["--space", "tiny"]))
    first = [c.arch_id for c in bench.candidates(space, 8, 0)]
    assert len(set(first)) == 8
    assert first == [c.arch_id for c in bench.candidates(space, 8, 0)]
    assert first != [c.arch_id for c in bench.candidates(space, 8, 1)]
    with pytest.raises(SystemExit, match="--count"):
        bench.candidates(space, space.size() + 1, 0)
