"""The contract every runtime keeps: run against torch and ONNX Runtime alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from testkit import assert_fp32_close

from lts.agent.measure import Measurer
from lts.agent.measure.runners import prepare
from lts.shared.errors import ConfigError, MeasurementError
from lts.shared.schemas import MeasurementResult, MeasureSettings

RUNTIMES = ["torch", "onnxruntime"]


def check_sane(result: MeasurementResult, settings: MeasureSettings, arch_id: str) -> None:
    lat = result.latency_ms
    assert result.arch_id == arch_id
    assert result.settings == settings  # echoed back exactly
    assert lat.n == len(lat.samples) >= 1
    assert 0 < lat.min <= lat.p10 <= lat.median <= lat.p90 <= max(lat.samples)
    assert lat.mean > 0 and lat.cv >= 0
    assert lat.median < 1000  # a tiny model: milliseconds, not seconds
    ctx = result.context
    assert ctx["runtime"] == settings.runtime and ctx["threads"] == settings.threads
    assert ctx["warmup_runs"] >= 1  # fewer than asked only when half the budget is spent
    assert ctx["timed_runs"] == lat.n
    assert ctx["stop_reason"] in ("converged", "budget", "max_runs")
    assert ctx["build_s"] > 0 and ctx["busy"] in (True, False)
    assert len(ctx["load_avg_before"]) == 3 and ctx["started_at"] <= ctx["finished_at"]
    assert ctx["versions"]["torch"] and ctx["versions"]["onnxruntime"]
    if settings.runtime == "onnxruntime":
        assert ctx["export_s"] > 0 and ctx["exporter"] in ("torchscript", "dynamo")
    if settings.measure_memory:
        assert result.peak_memory_mb is not None and result.peak_memory_mb > 0
        assert "VmHWM" in result.memory["method"]
    # The whole result survives the wire (JSON) unchanged.
    assert MeasurementResult.model_validate_json(result.model_dump_json()) == result


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("output", ["last", "all"])
def test_prefill_gives_sane_stats_for_both_outputs(
    measurer: Measurer, make_arch: Any, make_settings: Any, runtime: str, output: str
) -> None:
    cfg = make_arch()  # heterogeneous heads: 2 then 4
    settings = make_settings(runtime=runtime, output=output)
    check_sane(measurer.measure(cfg, settings), settings, cfg.arch_id)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("backbone", ["gpt2", "transxl"])
def test_decode_gives_sane_stats(
    measurer: Measurer, make_arch: Any, make_settings: Any, runtime: str, backbone: str
) -> None:
    cfg = make_arch(backbone, n_head=[4, 2], d_inner=[256, 128], mem_len=48)
    settings = make_settings(runtime=runtime, metric="decode")
    result = measurer.measure(cfg, settings)
    check_sane(result, settings, cfg.arch_id)
    assert result.context["decode_cache_len"] == settings.seq_len - 1  # then the new token


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_transxl_prefill_with_two_threads(
    measurer: Measurer, make_arch: Any, make_settings: Any, runtime: str
) -> None:
    """Heterogeneous Transformer-XL; 2 threads in the worker and in the forked memory child
    (whose parent never started a thread pool: no fork deadlock)."""
    cfg = make_arch("transxl", n_head=[8, 2], div_val=1)
    settings = make_settings(runtime=runtime, threads=2)
    result = measurer.measure(cfg, settings)
    check_sane(result, settings, cfg.arch_id)
    assert result.context["torch_threads"] == 2


def test_settings_that_cannot_apply_are_refused_before_building(
    measurer: Measurer, make_arch: Any, make_settings: Any
) -> None:
    cfg = make_arch(tgt_len=32)
    with pytest.raises(ConfigError) as err:
        measurer.measure(cfg, make_settings(metric="decode", seq_len=33))
    assert err.value.field == "seq_len"
    with pytest.raises(ConfigError):
        measurer.measure(cfg, make_settings(seq_len=33))
    with pytest.raises(ConfigError, match="seq_len >= 2"):
        measurer.measure(cfg, make_settings(metric="decode", seq_len=1))
    with pytest.raises(MeasurementError, match="not supported"):
        measurer.measure(cfg, make_settings(runtime="onnxruntime", device="cuda"))


@pytest.mark.parametrize("backbone", ["gpt2", "transxl"])
@pytest.mark.parametrize(("metric", "output"), [("prefill", "all"), ("decode", "last")])
def test_onnxruntime_computes_what_torch_computes(
    tmp_path: Path, make_arch: Any, make_settings: Any, backbone: str, metric: str, output: str
) -> None:
    """The exported graph is the same model: same log-probs for the same random weights."""
    cfg = make_arch(backbone, n_head=[4, 2])
    outs = {}
    for runtime in RUNTIMES:
        settings = make_settings(runtime=runtime, metric=metric, output=output, seq_len=12)
        prepared = prepare(cfg, settings, export_dir=tmp_path, init="random")
        outs[runtime] = prepared.runner.run()
        prepared.runner.close()
    rows = 12 if output == "all" else 1
    assert outs["torch"].shape == outs["onnxruntime"].shape == (1, rows, cfg.n_token)
    assert_fp32_close(outs["onnxruntime"], outs["torch"], f"{backbone} {metric} {output}")
    # Real log-probabilities: each row sums to one.
    np.testing.assert_allclose(np.exp(outs["torch"]).sum(-1), 1.0, atol=1e-4)
