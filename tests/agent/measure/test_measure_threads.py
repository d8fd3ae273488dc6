"""The helpers hold no runtime thread pools, and a 1-thread measurement uses one core.

A fork server that holds an OpenMP worker when it forks can deadlock its child (seen with
torch 2.9 on Cortex-A72/A76: every memory pass timed out), and a pool that a library starts on
its own makes "1 thread" use more than one core. Threads and CPU time are read from outside
the helpers, through ``/proc/<pid>/`` (under qemu-user that is the host's view of the emulated
process, the same for the helpers and for the baseline, so the test runs there unchanged: the
aarch64 smoke test runs it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lts.agent.measure import Measurer
from lts.agent.measure.helper_process import child_env

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")

#: Wide enough that torch would split its matrix products across threads if it had any.
WIDE = dict(n_layer=2, d_model=256, n_head=[4, 4], d_inner=[1024, 1024], d_embed=256)


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of every thread of ``pid`` (fields 14 and 15 of stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def baseline_threads() -> int:
    """Threads of an interpreter started like a helper that has only imported onnxruntime
    (whose import leaves one idle thread of its own; under qemu-user add qemu's)."""
    code = "import sys, onnxruntime; print('ready', flush=True); sys.stdin.read()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # let any thread the import started show up
        return thread_count(proc.pid)
    finally:
        proc.communicate(timeout=60)


@pytest.fixture(scope="module")
def fresh() -> Iterator[Measurer]:
    """A Measurer of its own: its helpers have run nothing but their warm-up."""
    with Measurer(start_timeout_s=600) as measurer:
        measurer.start()
        yield measurer


def test_helpers_start_with_one_thread_per_runtime() -> None:
    env = child_env()
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["ONEDNN_JIT_PROFILE"] == "0"


def test_helpers_hold_no_runtime_threads(fresh: Measurer) -> None:
    """After importing torch and onnxruntime and running a model, the worker and the fork
    server have exactly the threads of an interpreter that only imported onnxruntime."""
    base = baseline_threads()
    assert fresh.worker_pid and fresh.forkserver_pid
    assert thread_count(fresh.forkserver_pid) == base
    assert thread_count(fresh.worker_pid) == base


def test_one_thread_uses_one_core(fresh: Measurer, make_arch: Any, make_settings: Any) -> None:
    """CPU time / wall time of a 1-thread torch measurement (the worker's, read from outside)
    stays at about one core, and the measurement leaves no pool behind."""
    pid = fresh.worker_pid
    assert pid
    settings = make_settings(threads=1, measure_memory=False, seq_len=64, time_budget_s=2.0,
                             min_time_s=1.0)  # fmt: skip
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    result = fresh.measure(make_arch(**WIDE), settings)
    cores = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    assert fresh.worker_pid == pid and result.context["torch_threads"] == 1
    assert cores <= 1.1, f"a 1-thread measurement used {cores:.2f} cores"
    assert thread_count(pid) == baseline_threads()


def test_the_memory_pass_of_one_thread_finishes(
    fresh: Measurer, make_arch: Any, make_settings: Any
) -> None:
    """The fork server's child (forked from a parent with no pool) finishes its pass."""
    result = fresh.measure(make_arch(), make_settings(threads=1, time_budget_s=0.3))
    assert result.peak_memory_mb is not None and result.peak_memory_mb > 0
    assert fresh.forkserver_pid and thread_count(fresh.forkserver_pid) == baseline_threads()
