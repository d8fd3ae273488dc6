"""Peak memory: a separate pass in a child forked from a warm parent (a fork server).

**CPU** (Linux): the fork server is a fresh interpreter that imports torch, onnxruntime and
the model builders and runs a tiny model once with ONE thread, so that one-time library set-up
is already in its memory and no OpenMP/intra-op thread pool exists when it forks. It never runs
anything else; for each request it ``fork()``s a child that

1. sets the requested thread count (the child may start its own thread pools: the parent
   never had any, so fork-with-threads deadlocks cannot happen),
2. resets its peak resident set (writes ``5`` to ``/proc/self/clear_refs``) and reads
   ``VmRSS`` from ``/proc/self/status`` as the baseline,
3. builds the model (``init="constant"``: every weight page written) and runs one forward
   (``prefill``) or prefills the cache and runs one decode step (``decode``) -- for
   ``onnxruntime`` it opens a session on the ONNX file the latency worker exported and runs
   it once (the deployment's memory: the torch model is not in the child),
4. reads ``VmHWM`` and ``RssFile``: ``peak_memory_mb = ((VmHWM - RssFile) - (VmRSS_0 -
   RssFile_0)) / 2**20`` (MB means MiB). File-backed pages are left out on purpose: a forked
   child does not inherit the page-table entries of the libraries' code, so the code its run
   executes faults in again (libtorch's code, the same whatever the model) -- one-time
   library set-up, not the model's memory. The raw growth ``VmHWM - VmRSS_0``
   (``rss_growth_mb``) and the file pages faulted in (``file_pages_mb``) are recorded too.
   Caveat: weights that a runtime *mmaps* from a file would be file-backed and left out; the
   ONNX graphs exported here keep their weights inline (< 2 GB), which ONNX Runtime reads
   into anonymous memory.

Where ``/proc/self/clear_refs`` cannot be written (non-Linux), the child falls back to
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end minus its value at the start of the
child (the fork server's own small peak): less exact, so the method used is always recorded in
``MeasurementResult.memory["method"]``.

**CUDA**: measured in the latency worker after the timing (CUDA cannot be used across fork):
everything freed, ``torch.cuda.reset_peak_memory_stats()``, build + run, then
``max_memory_allocated`` (the figure) and ``max_memory_reserved`` minus their baselines.

Never tracemalloc, never profiler sums, never a model file's size.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import resource
import select
import signal
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from lts.agent.measure.messages import Failed, FailureKind, MemoryDone, MemoryRequest, Ready, Stop

log = logging.getLogger(__name__)

MB = float(2**20)
_STATUS_KEYS = ("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:", "RssShmem:")

#: A tiny GPT-2 run once by the fork server to warm the libraries (1 thread).
_WARM_ARCH = {
    "backbone": "gpt2", "n_layer": 1, "d_model": 32, "n_head": 2, "d_inner": 64,
    "n_token": 300, "cutoffs": [100, 200], "div_val": 2, "d_embed": 32, "tgt_len": 16,
}  # fmt: skip


# ------------------------------------------------------------------------------- /proc
def read_status() -> dict[str, int]:
    """``VmRSS``, ``VmHWM``, ``RssAnon``, ``RssFile`` and ``RssShmem`` of this process in
    bytes (the keys that /proc/self/status has; empty where /proc is missing)."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(_STATUS_KEYS):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def reset_peak() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return "VmHWM" in read_status()


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux: KiB; macOS: bytes


# ------------------------------------------------------------------ the child's measurement
def _run_torch(cfg: Any, settings: Any) -> None:
    import torch

    from lts.agent.measure.runners import make_tokens
    from lts.shared.models import build_model

    ctx, nxt = make_tokens(settings, cfg.n_token)
    model = build_model(cfg, init="constant")
    with torch.inference_mode():
        idx = torch.from_numpy(ctx)
        if settings.metric == "prefill":
            out = model(idx, output=settings.output)
        else:
            _, cache = model.decode_step(idx)
            out = model.decode_step(torch.from_numpy(nxt), cache)
        del out


def _run_ort(settings: Any, onnx_path: str) -> None:
    import numpy as np

    from lts.shared.models.onnx_export import make_session

    session = make_session(onnx_path, settings.threads)
    feeds = {}
    rng = np.random.default_rng(settings.seed)
    for inp in session.get_inputs():
        shape = [int(d) for d in inp.shape]
        if inp.name == "idx":
            feeds[inp.name] = rng.integers(0, 100, size=shape, dtype=np.int64)
        else:  # a decode cache: written values, so that its pages are resident
            feeds[inp.name] = np.full(shape, 0.01, dtype=np.float32)
    out = session.run(None, feeds)
    del out


def _what(settings: Any) -> str:
    if settings.runtime == "onnxruntime":
        return "session load of the exported ONNX graph + one run"
    step = " (prefill of the cache + one decode step)" if settings.metric == "decode" else ""
    return "build (constant init) + one forward" + step


def measure_here(cfg: Any, settings: Any, onnx_path: str | None) -> dict[str, Any]:
    """Run the memory pass in THIS process (a freshly forked child); see the module doc."""
    import torch

    torch.set_num_threads(settings.threads)
    gc.collect()
    use_hwm = reset_peak()
    before = read_status() if use_hwm else {}
    start_maxrss = _maxrss_bytes()
    t0 = time.perf_counter()
    if settings.runtime == "onnxruntime":
        if onnx_path is None:
            raise ValueError("the onnxruntime memory pass needs the exported graph's path")
        _run_ort(settings, onnx_path)
    else:
        _run_torch(cfg, settings)
    elapsed = time.perf_counter() - t0
    out: dict[str, Any] = {"unit": "MiB (2**20 bytes)", "what": _what(settings)}
    if use_hwm:
        after = read_status()
        # File-backed pages (library code) are not copied into a forked child's page tables:
        # they fault in again as the child runs code and would count as its growth.
        file_growth = after.get("RssFile", 0) - before.get("RssFile", 0)
        base_nonfile = before["VmRSS"] - before.get("RssFile", 0)
        peak_nonfile = after["VmHWM"] - after.get("RssFile", 0)
        out.update(
            method=(
                "linux: VmHWM after clear_refs minus VmRSS baseline, file-backed pages "
                "(library code faulted in by the child) excluded"
            ),
            baseline_mb=round(before["VmRSS"] / MB, 2),
            peak_rss_mb=round(after["VmHWM"] / MB, 2),
            rss_growth_mb=round((after["VmHWM"] - before["VmRSS"]) / MB, 2),
            file_pages_mb=round(file_growth / MB, 2),
            # below the baseline is noise (pages freed meanwhile): nothing was needed
            peak_memory_mb=round(max(peak_nonfile - base_nonfile, 0) / MB, 2),
        )
    else:
        peak = _maxrss_bytes()
        out.update(
            method="ru_maxrss of a freshly forked child minus its value at start (no clear_refs)",
            peak_rss_mb=round(peak / MB, 2),
            peak_memory_mb=round(max(peak - start_maxrss, 0) / MB, 2),
        )
    out["pass_s"] = round(elapsed, 3)
    return out


def cuda_memory_pass(cfg: Any, settings: Any) -> dict[str, Any]:
    """The CUDA memory pass, run in the latency worker (see the module docstring)."""
    import torch

    from lts.agent.measure.runners import TorchRunner, make_tokens
    from lts.shared.models import build_model

    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base_alloc = torch.cuda.memory_allocated()
    base_reserved = torch.cuda.memory_reserved()
    ctx, nxt = make_tokens(settings, cfg.n_token)
    model = build_model(cfg, init="constant", device="cuda")
    runner = TorchRunner(model, settings, ctx, nxt)
    with torch.inference_mode():
        runner.timed()
    torch.cuda.synchronize()
    peak_alloc = torch.cuda.max_memory_allocated() - base_alloc
    peak_reserved = torch.cuda.max_memory_reserved() - base_reserved
    runner.close()
    del model, runner
    gc.collect()
    torch.cuda.empty_cache()
    return {
        "method": "cuda max_memory_allocated after reset_peak_memory_stats, minus baseline",
        "unit": "MiB (2**20 bytes)",
        "peak_memory_mb": round(max(peak_alloc, 0) / MB, 2),
        "peak_reserved_mb": round(peak_reserved / MB, 2),
        "what": "build (constant init) + one run, on the GPU",
    }


# ------------------------------------------------------------------------ the fork server
def warm_up() -> dict[str, Any]:
    """Import the runtimes and run a tiny model once, with one thread (no thread pools)."""
    import numpy as np
    import onnx
    import onnxruntime  # noqa: F401 - imported for its one-time set-up
    import torch
    from onnx import TensorProto, helper

    from lts.shared.config import ArchConfig
    from lts.shared.models import build_model
    from lts.shared.models.onnx_export import make_session

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    cfg = ArchConfig.from_dict(_WARM_ARCH)
    model = build_model(cfg, init="constant")
    with torch.inference_mode():
        idx = torch.zeros(1, 8, dtype=torch.long)
        model(idx, output="all")
        _, cache = model.decode_step(idx)
        model.decode_step(idx[:, :1], cache)
    del model, cache
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "warm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 4])],
        [helper.make_tensor("w", TensorProto.FLOAT, [4, 4], [0.5] * 16)],
    )
    blob = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"lts-warm-{os.getpid()}.onnx"
    onnx.save(blob, str(path))
    try:
        make_session(path, 1).run(None, {"x": np.ones((4, 4), dtype=np.float32)})
    finally:
        path.unlink(missing_ok=True)
    gc.collect()
    gc.freeze()  # the libraries' objects: never collected again (fast gc, no COW by gc)
    return {"pid": os.getpid(), "threads": _thread_count(), "rss_mb": _rss_mb()}


def _thread_count() -> int | None:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def _rss_mb() -> float | None:
    rss = read_status().get("VmRSS")
    return round(rss / MB, 1) if rss else None


def serve_forkserver(conn: Connection) -> None:
    """Main loop of the fork-server process: :class:`Ready` after warming up, then for each
    :class:`MemoryRequest` one forked child and its :class:`MemoryDone` or :class:`Failed`,
    until :class:`Stop`."""
    conn.send(Ready(warm_up()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if isinstance(msg, Stop):
            return
        if not isinstance(msg, MemoryRequest):
            raise TypeError(f"the fork server got {type(msg).__name__}, not a MemoryRequest")
        conn.send(_fork_and_measure(msg, conn))


def _fork_and_measure(msg: MemoryRequest, conn: Connection) -> MemoryDone | Failed:
    from lts.agent.measure.helper_process import exit_cause, oom_kill_count

    oom_kills_before = oom_kill_count()
    try:
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            raise
    except OSError as exc:  # out of files or processes: the machine's fault, not the model's
        return Failed("infrastructure", f"memory pass could not start: {exc}")
    if pid == 0:  # the child: measure, write one JSON answer, never return
        code = 0
        try:
            os.close(read_fd)
            conn.close()
            answer: dict[str, Any] = {"memory": _child(msg)}
        except BaseException as exc:  # everything goes back as a reason
            answer = {"kind": _failure_kind(exc), "message": _reason(exc)}
            code = 1
        try:
            os.write(write_fd, json.dumps(answer).encode())
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        data, timed_out = _read_until(read_fd, pid, msg.timeout_s)
    finally:
        os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return Failed("error", f"memory pass timed out after {msg.timeout_s:.0f} s")
    if os.WIFSIGNALED(status):
        reason, infrastructure = exit_cause(-os.WTERMSIG(status), oom_kills_before)
        kind: FailureKind = "infrastructure" if infrastructure else "error"
        return Failed(kind, f"memory pass child {reason}")
    try:
        answer = json.loads(data)
    except ValueError:
        code = os.WEXITSTATUS(status)
        return Failed("error", f"memory pass child exited with code {code}, no answer")
    return MemoryDone(answer["memory"]) if "memory" in answer else Failed(**answer)


def _read_until(fd: int, pid: int, timeout_s: float) -> tuple[bytes, bool]:
    """Read the child's answer until EOF; kill it at the deadline. (data, timed_out)."""
    deadline = time.monotonic() + timeout_s
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            return b"", True
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)


def _child(msg: MemoryRequest) -> dict[str, Any]:
    from lts.shared.config import ArchConfig
    from lts.shared.schemas import MeasureSettings

    cfg = ArchConfig.from_dict(msg.cfg)
    settings = MeasureSettings.model_validate(msg.settings)
    return measure_here(cfg, settings, msg.onnx_path)


def _failure_kind(exc: BaseException) -> FailureKind:
    from lts.agent.measure.helper_process import is_infrastructure_error

    return "infrastructure" if is_infrastructure_error(exc) else "error"


def _reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MemoryError) or "can't allocate memory" in str(exc):
        return f"memory pass out of memory ({text})"
    return f"memory pass failed ({text})"
