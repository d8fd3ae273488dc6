"""benchmarks/search_economy.py: two real searches on one real local agent, figures checked
for consistency (never for timing)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
from testkit import load_benchmark

from lts.shared.errors import ConfigError


def load_script() -> ModuleType:
    return load_benchmark("search_economy")


@pytest.mark.slow
def test_both_sides_run_and_their_figures_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_script()
    keep = tmp_path / "kept"
    argv = ["--space", "tiny", "--iterations", "1", "--population", "4", "--slots", "1",
            "--keep", str(keep), "--json"]  # fmt: skip
    result = bench.main(argv)
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(result))
    reference, candidate = result["sides"]
    assert reference["name"] == "reference" and candidate["name"] == "default"
    for side in (reference, candidate):
        assert side["status"] == "done"
        assert side["unresolved"] == 0
        assert side["measured"] + side["cache_hits"] + side["screened"] == side["proposed"]
        assert side["proposed"] == 4 and side["screened"] == 0
        assert side["measured"] >= 1 and side["agent_s"] > 0 and side["wall_s"] > 0
        assert side["fwd_equiv_mean"] > 1  # a measurement costs more than one forward pass
        assert 0 < side["hypervolume"] <= 1
        assert side["frontier"] and side["extrapolated_s"] > 0
        assert Path(side["db"]).is_file()
    # Same seed, same protocol: the same candidates, so the same frontier is likely but not
    # certain (noise can reorder close latencies); the union is what was re-measured.
    union = set(reference["frontier"]) | set(candidate["frontier"])
    assert result["remeasured"] == len(union)
    assert (keep / "remeasure.sqlite").is_file() and result["kept"] == str(keep)
    assert set(result["ratios"]) >= {"agent_s", "hypervolume", "extrapolated_s"}


def test_bad_inputs_are_refused_with_the_option_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_script()
    for argv, named in (
        (["--iterations", "0"], "--iterations"),
        (["--population", "1"], "--population"),
        (["--slots", "0"], "--slots"),
        (["--seed", "-1"], "--seed"),
        (["--candidate", "nope"], "--candidate"),
        (["--space", str(tmp_path / "missing.toml")], "--space"),
    ):
        with pytest.raises(SystemExit) as exc:
            bench.main(argv)
        assert exc.value.code == 2
        assert named in capsys.readouterr().err


def test_candidate_overrides_reach_the_search_config() -> None:
    bench = load_script()
    args = bench.parse_args(["--space", "tiny", "--iterations", "3", "--population", "6"])
    config = bench.side_config(args, {"time_budget_s": 0.5, "mutation_prob": 0.5})
    assert config.measure == {"time_budget_s": 0.5}
    assert config.mutation_prob == 0.5 and config.iterations == 3 and config.population == 6
    assert config.final_budget_factor == 1.0 and config.baselines is False
    with pytest.raises(ConfigError, match="population"):
        bench.side_config(args, {"population": 1})
    bench.CANDIDATES["broken"] = {"population": 1}  # refused before any agent starts
    with pytest.raises(SystemExit, match="population"):
        bench.main(["--space", "tiny", "--candidate", "broken"])
