"""benchmarks/agent_repeatability.py: a tiny real run (real Measurers, real torch models),
its figures checked for consistency with each other (never for timing)."""

from __future__ import annotations

import json
import os
import statistics
from types import ModuleType
from typing import Any

import pytest
from scipy import stats
from testkit import load_benchmark

from lts.agent.measure.latency import latency_stats
from lts.controller.search import economy
from lts.controller.search.small_spaces import TINY_SPACE
from lts.shared.schemas import MeasurementResult, MeasureSettings
from lts.shared.space import SearchSpace

ESTIMATORS = ("median", "min", "trimmed20")


def load_script() -> ModuleType:
    return load_benchmark("agent_repeatability")


def check_agreement(row: dict[str, Any], a: list[float], b: list[float]) -> None:
    """``row`` is what the script reports for passes ``a`` and ``b``: recomputed here."""
    rel = [abs(x - y) / min(x, y) for x, y in zip(a, b, strict=True)]
    assert row["rel_diff_median"] == pytest.approx(statistics.median(rel))
    assert row["rel_diff_max"] == pytest.approx(max(rel))
    assert 0 <= row["rel_diff_median"] <= row["rel_diff_max"]
    if row["spearman"] is None:  # undefined: one pass ranks every arch the same
        assert len(set(a)) < 2 or len(set(b)) < 2
    else:
        assert row["spearman"] == pytest.approx(stats.spearmanr(a, b).statistic)
        assert -1 <= row["spearman"] <= 1


def check_arm(arm: dict[str, Any], archs: list[str]) -> None:
    per_arch = arm["per_arch"]
    assert sorted(per_arch) == sorted(archs)
    assert arm["measurements"] == 2 * len(archs)
    assert 0 <= arm["busy_flagged"] <= arm["measurements"]
    ests = [e for pair in per_arch.values() for e in pair]
    assert arm["median_cv"] == pytest.approx(statistics.median(e["cv"] for e in ests))
    assert arm["median_n"] == statistics.median(e["n"] for e in ests)
    assert arm["min_n"] == min(e["n"] for e in ests) >= 1
    assert sum(arm["stop_reasons"].values()) == len(ests)
    assert set(arm["stop_reasons"]) <= {"converged", "budget", "max_runs"}
    for e in ests:
        assert e["n"] >= 1 and e["at_s"] > 0
        for prefix in ("", "ref_"):  # every estimator lies within the samples' range
            assert 0 < e[f"{prefix}min"] <= e[f"{prefix}median"]
            assert e[f"{prefix}min"] <= e[f"{prefix}trimmed20"]
    assert set(arm["estimators"]) == {*ESTIMATORS, *(f"{n}/ref" for n in ESTIMATORS)}
    for name in ESTIMATORS:
        a, b = ([per_arch[x][i][name] for x in archs] for i in (0, 1))
        check_agreement(arm["estimators"][name], a, b)
        a, b = (
            [per_arch[x][i][name] / per_arch[x][i][f"ref_{name}"] for x in archs] for i in (0, 1)
        )
        check_agreement(arm["estimators"][f"{name}/ref"], a, b)
    ref_medians = []
    for i, p in enumerate(arm["passes"]):
        assert p["wall_s"] >= 0 and len(p["load_before"]) == len(p["load_after"]) == 3
        assert 0 <= p["freq_readings"] <= 2 * len(archs)
        if p["freq_mhz"] is not None:
            assert 0 < p["freq_mhz"]["min"] <= p["freq_mhz"]["max"]
        ref = p["reference_median_ms"]
        refs = [per_arch[x][i]["ref_median"] for x in archs]
        assert (ref["min"], ref["max"]) == (min(refs), max(refs))
        assert ref["median"] == pytest.approx(statistics.median(refs))
        assert ref["max_over_min"] == pytest.approx(max(refs) / min(refs))
        assert ref["pearson_with_time"] is None or -1 <= ref["pearson_with_time"] <= 1
        ref_medians.append(ref["median"])
    assert arm["reference_pass2_over_pass1"] == pytest.approx(ref_medians[1] / ref_medians[0])


@pytest.mark.slow
def test_a_tiny_run_reports_consistent_figures(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_script()
    pin = max(os.sched_getaffinity(0))
    argv = ["--space", "tiny", "--archs", "3", "--budget", "0.3", "--seq-len", "32",
            "--protocol", "quick", "--reference", "--pin", str(pin), "--json"]  # fmt: skip
    if len(os.sched_getaffinity(0)) >= 2:
        argv.append("--parallel")
    result = bench.main(argv)
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(result))

    config = result["config"]
    archs = config["archs"]
    assert len(set(archs)) == 3
    assert config["reference"] == SearchSpace.from_dict(TINY_SPACE).middle().arch_id
    settings = config["settings"]
    assert (settings["warmup_runs"], settings["min_runs"], settings["min_time_s"]) == (1, 6, 0.0)
    assert settings["time_budget_s"] == 0.3 and settings["target_rel_ci"] == 0.10
    assert settings["measure_memory"] is False and config["reference_settings"] == settings
    assert list(result["arms"]) == ["unpinned", f"core {pin}"]
    for arm in result["arms"].values():
        check_arm(arm, archs)
    assert len(result["load_before"]) == len(result["load_after"]) == 3

    par = result["parallel"]
    if par is not None:
        assert len(par["cores"]) == 2 and par["wall_s"] > 0
        ratio = par["ratio_to_sequential"]
        assert 0 < ratio["min"] <= ratio["median"] <= ratio["max"]
        for key in ("slot_vs_slot", "sequential_vs_slot1"):
            assert 0 <= par[key]["rel_diff_median"] <= par[key]["rel_diff_max"]


def test_the_estimators_read_the_raw_samples() -> None:
    bench = load_script()
    samples_s = [0.010, 0.011, 0.012, 0.013, 0.014, 0.015, 0.016, 0.017, 0.018, 0.100]
    result = MeasurementResult(
        arch_id="x", latency_ms=latency_stats(samples_s), settings=MeasureSettings()
    )
    e = bench.estimates(bench.Timed(result, result, 1.0))
    assert e["median"] == pytest.approx(result.latency_ms.median) == pytest.approx(14.5)
    assert e["min"] == pytest.approx(10.0)
    assert e["trimmed20"] == pytest.approx(14.5)  # 12..17 ms: the outlier is cut off
    assert e["ref_median"] == e["median"] and e["n"] == 10


def test_quick_settings_follow_the_search_protocol() -> None:
    bench = load_script()
    full = MeasureSettings(time_budget_s=10, target_rel_ci=0.02, seq_len=64, measure_memory=False)
    quick = bench.quick_settings(full)
    assert quick == economy.quick_settings(full)  # the search's own protocol
    assert (quick.warmup_runs, quick.warmup_s, quick.min_runs, quick.min_time_s) == (1, 0, 6, 0)
    assert quick.time_budget_s == economy.QUICK_BUDGET_S and quick.target_rel_ci == 0.10
    assert quick.measure_memory is False and quick.seq_len == 64
    small = bench.quick_settings(full.model_copy(update={"time_budget_s": 0.3}))
    assert small.time_budget_s == 0.3


def test_bad_inputs_are_refused_with_the_option_named(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_script()
    for argv, named in (
        (["--archs", "2"], "--archs"),
        (["--archs", "501"], "--archs"),
        (["--budget", "0"], "--budget"),
        (["--budget", "61"], "--budget"),
        (["--seq-len", "5000"], "--seq-len"),
        (["--seed", "-1"], "--seed"),
        (["--pin", "100000"], "--pin"),
        (["--protocol", "fast"], "--protocol"),
        (["--space", "huge"], "--space"),
    ):
        with pytest.raises(SystemExit) as exc:
            bench.main(argv)
        assert exc.value.code == 2
        assert named in capsys.readouterr().err
