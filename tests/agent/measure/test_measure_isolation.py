"""Crashes, time limits and pinning: the item fails with a reason, the Measurer goes on."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import pytest

from lts.agent.measure import Measurer
from lts.agent.measure.child import failure
from lts.shared.errors import ConfigError, InfrastructureFault, MeasurementError


def test_a_worker_that_aborts_fails_the_item_and_the_next_one_succeeds(
    measurer: Measurer, make_arch: Any, make_settings: Any
) -> None:
    """SIGABRT (what a crashing native library raises on itself) mid-item: the model's
    failure, with the signal named."""
    cfg = make_arch()
    measurer.measure(cfg, make_settings(measure_memory=False))
    before = measurer.worker_pid
    assert before is not None
    aborter = threading.Timer(1.0, os.kill, args=(before, signal.SIGABRT))
    aborter.start()
    try:
        with pytest.raises(MeasurementError, match=r"killed by signal 6 \(SIGABRT"):
            measurer.measure(cfg, make_settings(time_budget_s=4.0, target_rel_ci=1e-9))
    finally:
        aborter.cancel()
    result = measurer.measure(cfg, make_settings())
    assert result.latency_ms.n > 0 and result.peak_memory_mb is not None
    assert measurer.worker_pid not in (None, before)  # a fresh worker
    assert result.context["worker_reused"] is False


def test_an_item_past_its_time_limit_fails_and_the_next_one_succeeds(
    measurer: Measurer, make_arch: Any, make_settings: Any
) -> None:
    cfg = make_arch()
    # A 5 s budget that never converges, against a 1 s limit.
    slow = make_settings(time_budget_s=5.0, min_time_s=5.0, target_rel_ci=1e-9)
    measurer.fixed_time_limit_s = 1.0
    try:
        with pytest.raises(MeasurementError, match="timed out after 1 s"):
            measurer.measure(cfg, slow)
    finally:
        measurer.fixed_time_limit_s = None
    assert measurer.time_limit_s(cfg, slow) > slow.time_budget_s
    result = measurer.measure(cfg, make_settings())
    assert result.latency_ms.n > 0


def test_a_pinned_measurer_runs_its_worker_on_its_cores(make_arch: Any, make_settings: Any) -> None:
    cpu = sorted(os.sched_getaffinity(0))[-1]
    with Measurer(cpus=[cpu]) as pinned:
        result = pinned.measure(make_arch(), make_settings(measure_memory=False))
        assert os.sched_getaffinity(pinned.worker_pid) == {cpu}
        assert pinned.forkserver_pid is None  # not started: no memory pass was asked for
    assert result.context["cpu_affinity"] == [cpu]
    assert pinned.worker_pid is None  # closed


def test_a_closed_measurer_refuses_work(make_arch: Any, make_settings: Any) -> None:
    m = Measurer()
    m.close()
    with pytest.raises(InfrastructureFault, match="closed"):
        m.measure(make_arch(), make_settings())


def test_cuda_without_a_gpu_is_a_clear_failure(
    measurer: Measurer, make_arch: Any, make_settings: Any
) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(MeasurementError, match="not supported: device 'cuda'"):
        measurer.measure(make_arch(), make_settings(device="cuda"))
    assert measurer.measure(make_arch(), make_settings(measure_memory=False)).latency_ms.n > 0


def test_a_worker_killed_mid_item_fails_it_and_the_next_one_succeeds(
    measurer: Measurer, make_arch: Any, make_settings: Any
) -> None:
    """SIGKILL from outside (the kernel's out-of-memory count did not move): an
    infrastructure fault, not called out of memory."""
    cfg = make_arch()
    measurer.measure(cfg, make_settings(measure_memory=False))
    pid = measurer.worker_pid
    assert pid is not None
    killer = threading.Timer(1.0, os.kill, args=(pid, signal.SIGKILL))
    killer.start()
    try:
        with pytest.raises(InfrastructureFault, match=r"killed by signal 9 \(SIGKILL; not by the"):
            measurer.measure(cfg, make_settings(time_budget_s=4.0, target_rel_ci=1e-9))
    finally:
        killer.cancel()
    assert measurer.measure(cfg, make_settings()).peak_memory_mb is not None


def test_worker_failures_are_classified() -> None:
    assert failure(MemoryError()).kind == "memory"
    assert failure(RuntimeError("DefaultCPUAllocator: can't allocate memory")).kind == "memory"
    assert failure(ConfigError("seq_len", "too long")).field == "seq_len"
    assert failure(ValueError("boom")).message == "worker error (ValueError: boom)"
    assert failure(OSError(24, "Too many open files")).kind == "infrastructure"
