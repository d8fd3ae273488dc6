"""The latency worker's side: measure one item in this process, and the worker's main loop.

:func:`measure_latency_local` builds, exports (ONNX Runtime) and times one architecture in the
current process; :func:`serve_worker` is the loop of the worker process that
:class:`agent.measure.Measurer` starts (see :mod:`agent.measure.worker`).

Test-only switch: when the environment variable ``LTS_AGENT_TEST_ABORT_SEED`` is set in the
worker's environment and an item's ``settings.seed`` equals it, the worker calls ``os.abort()``
before measuring, so that tests can crash a worker on purpose. Never set it in production.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import logging
import os
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from shared.config import ArchConfig
from shared.errors import BuildError, ConfigError, MeasurementError
from shared.schemas import MeasureSettings

log = logging.getLogger(__name__)

ABORT_ENV = "LTS_AGENT_TEST_ABORT_SEED"


def _malloc_trim() -> None:
    """Give freed heap back to the OS (glibc), so the next item starts from a low RSS."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measure_latency_local(
    cfg: ArchConfig, settings: MeasureSettings, *, export_dir: Path | None = None
) -> dict[str, Any]:
    """Build and time ``cfg`` in THIS process (what the worker runs for each item).

    Returns ``{"latency": LatencyStats dict, "context": dict, "onnx_path": str | None,
    "memory": dict | None}`` (``memory`` only on CUDA, where the worker runs that pass).
    Raises ConfigError, MeasurementError or whatever the build raises.
    """
    import torch

    from agent.measure.context import RunContext
    from agent.measure.latency import run_protocol_for
    from agent.measure.memory import MB, cuda_memory_pass, read_status, reset_peak
    from agent.measure.runners import prepare

    run_ctx = RunContext()
    run_ctx.begin()
    hwm = reset_peak()
    rss0 = read_status().get("VmRSS", 0)
    prepared = prepare(cfg, settings, export_dir=export_dir)
    try:
        with torch.inference_mode():
            outcome = run_protocol_for(prepared.runner.timed, settings)
    finally:
        prepared.runner.close()
    worker_peak = (read_status()["VmHWM"] - rss0) / MB if hwm else None
    del prepared.runner
    gc.collect()
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
            "decode_cache_len": prepared.cache_len if settings.metric == "decode" else None,
            "worker_peak_rss_mb": None if worker_peak is None else round(worker_peak, 2),
        }
    )
    if settings.device == "cuda":
        run_ctx.extra["cuda_device"] = torch.cuda.get_device_name()
    return {
        "latency": outcome.stats.model_dump(),
        "context": run_ctx.as_dict(),
        "onnx_path": None if prepared.onnx_path is None else str(prepared.onnx_path),
        "memory": memory,
    }


def _failure(exc: BaseException) -> dict[str, Any]:
    """The worker's answer for a failed item."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ConfigError):
        return {"ok": False, "kind": "config", "field": exc.field, "message": exc.message}
    if isinstance(exc, MeasurementError):
        return {"ok": False, "kind": "measurement", "message": str(exc)}
    oom = isinstance(exc, MemoryError) or "can't allocate memory" in str(exc)
    if isinstance(exc, BuildError) and "out of memory" in str(exc):
        oom = True
    if oom:
        return {"ok": False, "kind": "memory", "message": f"worker out of memory ({text})"}
    from agent.measure._proc import is_infrastructure_error

    if is_infrastructure_error(exc):  # out of files or disk: the machine's fault
        return {"ok": False, "kind": "infrastructure", "message": f"worker error ({text})"}
    log.error("item failed:\n%s", "".join(traceback.format_exception(exc)))
    return {"ok": False, "kind": "error", "message": f"worker error ({text})"}


def serve_worker(conn: Connection) -> None:
    """Main loop of the latency worker process (one request at a time).

    Request: ``{"op": "measure", "cfg": dict, "settings": dict, "export_dir": str}``.
    Answer: ``{"ok": True, **measure_latency_local(...)}`` or ``{"ok": False, "kind", ...}``.
    """
    import torch

    from agent.measure.memory import _warm_up

    info = _warm_up()
    info["cuda"] = torch.cuda.is_available()
    abort_seed = os.environ.get(ABORT_ENV)
    conn.send({"ready": True, **info})
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg.get("op") == "stop":
            return
        cfg = ArchConfig.from_dict(msg["cfg"])
        settings = MeasureSettings.model_validate(msg["settings"])
        if abort_seed is not None and str(settings.seed) == abort_seed.strip():
            log.warning("%s=%s: aborting on purpose (test-only switch)", ABORT_ENV, abort_seed)
            os.abort()
        log.debug("item %s received", cfg.arch_id)
        try:
            answer = {
                "ok": True,
                **measure_latency_local(cfg, settings, export_dir=Path(msg["export_dir"])),
            }
        except BaseException as exc:  # every failure goes back with its reason
            answer = _failure(exc)
        # Plain JSON types only: the answer goes into the REST response, and unpickling a
        # library type (torch's version string) would import that library in the service.
        answer = json.loads(json.dumps(answer))
        t0 = time.perf_counter()
        gc.collect()
        _malloc_trim()
        log.debug("item done (ok=%s); clean-up %.3f s", answer["ok"], time.perf_counter() - t0)
        conn.send(answer)
