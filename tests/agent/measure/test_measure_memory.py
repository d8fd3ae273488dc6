"""Peak memory against parameter bytes and the output tensor; the estimate bounds it."""

from __future__ import annotations

from typing import Any

import pytest

from lts.agent.measure import Measurer, estimate_memory_mb
from lts.agent.measure.memory import reset_peak
from lts.shared.params import count_params

MB = 2**20
#: What the torch memory pass may add beyond weights and output: activations of these short
#: sequences, allocator and library scratch (measured here: 1-6 MB), with a margin.
OVERHEAD_MB = 8.0


def sizes(make_arch: Any) -> list[Any]:
    return [
        make_arch(d_model=128, d_embed=128, d_inner=[512, 512]),
        make_arch(d_model=256, d_embed=256, d_inner=[1024, 1024]),
        make_arch(n_layer=4, d_model=384, d_embed=384, n_head=[2, 4, 8, 4], d_inner=[1536] * 4),
    ]


def weights_mb(cfg: Any) -> float:
    return 4 * count_params(cfg).total / MB


def output_mb(cfg: Any, settings: Any) -> float:
    rows = settings.seq_len if settings.output == "all" else 1
    return 4 * settings.batch_size * rows * cfg.n_token / MB


def test_clear_refs_is_available_here() -> None:
    """The protocol this machine's figures rest on (Linux VmHWM reset)."""
    assert reset_peak()


def test_peak_memory_tracks_weights_and_output(
    measurer: Measurer, make_arch: Any, make_settings: Any
) -> None:
    settings = make_settings(output="all", time_budget_s=0.3)
    peaks = []
    for cfg in sizes(make_arch):
        result = measurer.measure(cfg, settings)
        w, o = weights_mb(cfg), output_mb(cfg, settings)
        peak = result.peak_memory_mb
        assert w + o <= peak <= 1.1 * w + 6 * o + OVERHEAD_MB, (w, o, peak)
        assert result.memory["unit"] == "MiB (2**20 bytes)"
        assert estimate_memory_mb(cfg, settings) >= max(peak, result.context["worker_peak_rss_mb"])
        peaks.append(peak)
    assert peaks == sorted(peaks) and peaks[0] < peaks[-1] / 4


def test_a_large_output_is_counted(measurer: Measurer, make_arch: Any, make_settings: Any) -> None:
    """20000 x 64 log-probs (4.9 MB) for all positions, against one row for the last."""
    cfg = make_arch(n_token=20000, cutoffs=[4000, 10000], tgt_len=64)
    peaks = {}
    for output in ("last", "all"):
        settings = make_settings(output=output, seq_len=64, time_budget_s=0.3)
        result = measurer.measure(cfg, settings)
        w, o = weights_mb(cfg), output_mb(cfg, settings)
        assert w + o <= result.peak_memory_mb <= 1.1 * w + 6 * o + OVERHEAD_MB
        peaks[output] = result.peak_memory_mb
    assert peaks["all"] - peaks["last"] >= 0.9 * 4 * 64 * 20000 / MB


@pytest.mark.parametrize("metric", ["prefill", "decode"])
def test_estimate_bounds_the_onnxruntime_path(
    measurer: Measurer, make_arch: Any, make_settings: Any, metric: str
) -> None:
    """ONNX Runtime's worker holds the torch model and the export; its session the graph."""
    cfg = sizes(make_arch)[2]
    settings = make_settings(runtime="onnxruntime", metric=metric, time_budget_s=0.3)
    result = measurer.measure(cfg, settings)
    w = weights_mb(cfg)
    # Every weight is in the session (the export keeps one initialiser per parameter).
    assert result.peak_memory_mb >= w
    assert result.context["worker_peak_rss_mb"] >= w
    estimate = estimate_memory_mb(cfg, settings)
    assert estimate >= max(result.peak_memory_mb, result.context["worker_peak_rss_mb"])


def test_memory_pass_can_be_skipped(measurer: Measurer, make_arch: Any, make_settings: Any) -> None:
    result = measurer.measure(make_arch(), make_settings(measure_memory=False))
    assert result.peak_memory_mb is None
    assert result.memory["method"].startswith("not measured")


def test_estimate_grows_with_what_it_counts(make_arch: Any, make_settings: Any) -> None:
    cfg = make_arch()
    base = estimate_memory_mb(cfg, make_settings())
    assert estimate_memory_mb(cfg, make_settings(output="all", seq_len=64)) > base
    assert estimate_memory_mb(cfg, make_settings(batch_size=8)) > base
    assert estimate_memory_mb(cfg, make_settings(runtime="onnxruntime")) > base
    bigger = make_arch(d_model=512, d_embed=512, d_inner=[2048, 2048])
    assert estimate_memory_mb(bigger, make_settings()) > base + weights_mb(bigger) / 2


def test_the_fork_server_forks_without_thread_pools(measurer: Measurer) -> None:
    """Its only other thread is onnxruntime's idle one (created at import, parked on a
    futex): no OpenMP or intra-op pool that a forked child could deadlock on."""
    info = measurer.helper_info["forkserver"]
    assert info["threads"] <= 2
    assert info["rss_mb"] > 100  # the runtimes are imported and warm: not counted per item
