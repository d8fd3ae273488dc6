"""The helper processes' side: their entry point, and the latency worker's loop.

``python -m lts.agent.measure.child ROLE FD [--cpus CPU,CPU,...] [--log-level LEVEL]`` is how
:class:`lts.agent.measure.helper_process.Helper` starts a helper: ROLE is ``worker`` (the latency
worker, :func:`serve_worker`) or ``forkserver`` (the memory fork server,
:func:`lts.agent.measure.memory.serve_forkserver`); FD is the helper's end of a socket pair;
``--cpus`` pins the process (``os.sched_setaffinity``); ``--log-level`` is its logging level
(default WARNING). Helpers (and the memory children they fork) raise their own out-of-memory
score to the maximum, so that when a candidate exhausts the machine's memory the kernel kills
the helper measuring it, not the service.

:func:`measure_latency_local` builds, exports (ONNX Runtime) and times one architecture in the
current process: what the worker does with each :class:`~lts.agent.measure.messages.MeasureRequest`.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import logging
import os
import sys
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

from lts.agent.measure.messages import Failed, LatencyDone, MeasureRequest, Ready, Stop
from lts.shared.config import ArchConfig
from lts.shared.errors import BuildError, ConfigError, MeasurementError
from lts.shared.schemas import MeasureSettings

log = logging.getLogger(__name__)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m lts.agent.measure.child")
    parser.add_argument("role", choices=["worker", "forkserver"])
    parser.add_argument("fd", type=int)
    parser.add_argument("--cpus", default="")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    if args.cpus:
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
    logging.basicConfig(
        level=args.log_level,
        format=f"%(asctime)s {args.role}[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass  # not Linux, or not allowed: the service is then no better protected
    conn = Connection(args.fd)
    if args.role == "worker":
        serve_worker(conn)
    else:
        from lts.agent.measure.memory import serve_forkserver

        serve_forkserver(conn)
    return 0


def _malloc_trim() -> None:
    """Give freed heap back to the OS (glibc), so the next item starts from a low RSS."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measure_latency_local(
    cfg: ArchConfig, settings: MeasureSettings, *, export_dir: Path | None = None
) -> LatencyDone:
    """Build and time ``cfg`` in THIS process (what the worker runs for each item).

    The answer's ``memory`` is set only on CUDA, where the worker runs that pass itself.
    Raises ConfigError, MeasurementError or whatever the build raises.
    """
    import torch

    from lts.agent.measure.context import RunContext
    from lts.agent.measure.latency import run_protocol_for
    from lts.agent.measure.memory import MB, cuda_memory_pass, read_status, reset_peak
    from lts.agent.measure.runners import prepare

    run_ctx = RunContext()
    run_ctx.begin()
    hwm = reset_peak()
    rss0 = read_status().get("VmRSS", 0)
    prepared = prepare(cfg, settings, export_dir=export_dir)
    decode = None
    try:
        with torch.inference_mode():
            outcome = run_protocol_for(prepared.runner.timed, settings)
            if prepared.decode is not None:  # the same build, the same protocol
                decode = run_protocol_for(prepared.decode.runner.timed, settings)
    finally:
        prepared.close()
    worker_peak = (read_status()["VmHWM"] - rss0) / MB if hwm else None
    gc.collect()  # the runners are closed: nothing holds the model
    memory = None
    if settings.device == "cuda" and settings.measure_memory:
        memory = cuda_memory_pass(cfg, settings)
    run_ctx.end()
    run_ctx.extra.update(
        {
            "runtime": settings.runtime,
            "device": settings.device,
            "threads": settings.threads,
            "torch_threads": torch.get_num_threads(),
            "build_s": round(prepared.build_s, 4),
            "export_s": None if prepared.export_s is None else round(prepared.export_s, 4),
            "exporter": prepared.exporter,
            "session_s": None if prepared.session_s is None else round(prepared.session_s, 4),
            "warmup_runs": outcome.warmup_runs,
            "warmup_s": round(outcome.warmup_s, 4),
            "timed_runs": outcome.stats.n,
            "timed_s": round(outcome.timed_s, 4),
            "stop_reason": outcome.stop_reason,
            "median_ci95_rel": None if outcome.ci_rel is None else round(outcome.ci_rel, 5),
            "decode_cache_len": prepared.cache_len if settings.metric == "decode" else (
                prepared.decode.cache_len if prepared.decode is not None else None
            ),
            "decode_timed_runs": None if decode is None else decode.stats.n,
            "decode_stop_reason": None if decode is None else decode.stop_reason,
            "worker_peak_rss_mb": None if worker_peak is None else round(worker_peak, 2),
        }
    )
    if settings.device == "cuda":
        run_ctx.extra["cuda_device"] = torch.cuda.get_device_name()
    # Plain JSON types only (see lts.agent.measure.messages): torch's version string in the
    # context is a str subclass of torch's own.
    return LatencyDone(
        latency=outcome.stats.model_dump(),
        context=json.loads(json.dumps(run_ctx.as_dict())),
        onnx_path=None if prepared.onnx_path is None else str(prepared.onnx_path),
        memory=None if memory is None else json.loads(json.dumps(memory)),
        decode_latency=None if decode is None else decode.stats.model_dump(),
        decode_onnx_path=None if prepared.decode is None or prepared.decode.onnx_path is None
        else str(prepared.decode.onnx_path),
    )


def failure(exc: BaseException) -> Failed:
    """The worker's answer for an item that raised ``exc``."""
    from lts.agent.measure.helper_process import is_infrastructure_error

    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ConfigError):
        return Failed("config", exc.message, field=exc.field)
    if isinstance(exc, MeasurementError):
        return Failed("measurement", str(exc))
    oom = isinstance(exc, MemoryError) or "can't allocate memory" in str(exc)
    if isinstance(exc, BuildError) and "out of memory" in str(exc):
        oom = True
    if oom:
        return Failed("memory", f"worker out of memory ({text})")
    if is_infrastructure_error(exc):  # out of files or disk: the machine's fault
        return Failed("infrastructure", f"worker error ({text})")
    log.error("item failed:\n%s", "".join(traceback.format_exception(exc)))
    return Failed("error", f"worker error ({text})")


def serve_worker(conn: Connection) -> None:
    """Main loop of the latency worker process: :class:`Ready`, then for each
    :class:`MeasureRequest` a :class:`LatencyDone` or :class:`Failed`, until :class:`Stop`."""
    import torch

    from lts.agent.measure.memory import warm_up

    conn.send(Ready({**warm_up(), "cuda": torch.cuda.is_available()}))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if isinstance(msg, Stop):
            return
        if not isinstance(msg, MeasureRequest):
            raise TypeError(f"the worker got {type(msg).__name__}, not a MeasureRequest")
        cfg = ArchConfig.from_dict(msg.cfg)
        settings = MeasureSettings.model_validate(msg.settings)
        log.debug("item %s received", cfg.arch_id)
        answer: LatencyDone | Failed
        try:
            answer = measure_latency_local(cfg, settings, export_dir=Path(msg.export_dir))
        except BaseException as exc:  # every failure goes back with its reason
            answer = failure(exc)
        t0 = time.perf_counter()
        gc.collect()
        _malloc_trim()
        log.debug("item done (%s); clean-up %.3f s", type(answer).__name__,
                  time.perf_counter() - t0)  # fmt: skip
        conn.send(answer)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
