"""benchmarks/headline.py: its argument bounds, and a tiny run through the real controller path
on a simulated agent (the comparison read back from the store, the true ratios at the
surrogate's noise-free values, a space variant applied to the search and its baselines)."""

from __future__ import annotations

import json

import pytest
from testkit import load_benchmark

from lts.controller.search.baselines import layer_scaled_baselines
from lts.shared.params import decoder_params
from lts.shared.space import default_space


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("headline")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backbones", "bert"], "--backbones: bert"),
        (["--budgets", "0"], "--budgets: integers from 1"),
        (["--population", "1"], "--population: from 2"),
        (["--variant", "x={"], "--variant x: not JSON"),
        (["--variant", "x=[1]"], "--variant: NAME=JSON with a JSON object"),
        (["--seeds", "0-300"], "--seeds: comma-separated integers"),
        (["--budgets", "10,20", "--seeds", ",".join(map(str, range(101)))], "at most 200"),
        (["--search-arg=--no-baselines"], "the comparison is with the baselines"),
    ],
)
def test_bad_arguments_are_refused_naming_the_flag(bench, capsys, args, message) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.parse_args(args)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_a_tiny_run_on_the_simulated_agent(bench, capsys, tmp_path) -> None:
    out = bench.main(["--backbones", "gpt2", "--budgets", "20", "--population", "10",
                      "--seeds", "0", "--variant", "default={}", "--variant",
                      'wide={"d_inner_min_factor": 3.5}', "--search-arg=--baseline-layers",
                      "--search-arg=1-2", "--search-arg=--final-share", "--search-arg=1",
                      "--keep", str(tmp_path), "--json"])  # fmt: skip
    assert json.loads(capsys.readouterr().out)["summary"] == out["summary"]
    runs = {r["variant"]: r for r in out["runs"]}
    two_layers = decoder_params(layer_scaled_baselines(default_space("gpt2"), [2])[0])
    assert set(runs) == {"default", "wide"}
    for r in runs.values():
        assert r["baseline_params"] == two_layers  # the largest baseline asked: 2 layers
        assert r["measured"] >= 10 and r["iterations"] == 2
        assert r["speedup"] > 0 and r["true_speedup"] > 0 and r["true_memory_ratio"] > 0
        assert r["protocol"] == "full/full"  # --final-share 1: both measured in the final phase
    # the variant reached the search: every candidate of "wide" has d_inner >= 3.5 d_model
    from lts.controller.search.algorithms import DEFAULT_ALGORITHM
    from lts.controller.store import Store

    store = Store.open(tmp_path / f"gpt2-wide-{DEFAULT_ALGORITHM}-20-0.sqlite")
    try:
        search = store.latest_search()
        cands = [c for c in store.candidates(search.id) if c.origin != "baseline"]
        archs = store.architectures([c.arch_id for c in cands]).values()
        assert archs and all(min(a.to_config().d_inner) >= 3.5 * a.d_model for a in archs)
    finally:
        store.close()
    assert [s["paper"] for s in out["summary"]] == [[1.3, 1.2], [1.3, 1.2]]
