"""Worker isolation: :class:`Measurer` measures one architecture at a time, out of process.

Two helper processes per :class:`Measurer` (started and watched through
:mod:`lts.agent.measure.helper_process`; what runs inside them is :mod:`lts.agent.measure.child`):

* the **latency worker** builds the model, exports it for ONNX Runtime when asked, and runs the
  latency protocol (:mod:`lts.agent.measure.latency`). It is reused from item to item while it is
  healthy, and replaced by a fresh one after any failure;
* the **memory fork server** (:mod:`lts.agent.measure.memory`) forks one child per item for the
  peak-memory pass (on CPU; on CUDA the worker runs the memory pass itself).

A crash (SIGSEGV, SIGABRT, ...; SIGKILL from the kernel's out-of-memory killer), a
``MemoryError`` or an item past its time limit fails that item with :class:`MeasurementError`
and a reason; the Measurer stays usable and the next item gets a fresh worker. A failure
outside the model (a helper killed from outside, out of files or disk, the Measurer closed
by a shutting-down agent, a helper that cannot start) raises
:class:`~lts.shared.errors.InfrastructureFault` instead: measuring again may work.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

from lts.agent.measure.helper_process import Helper, ProcessDied, ProcessTimeout
from lts.agent.measure.messages import (
    Failed,
    LatencyDone,
    MeasureRequest,
    MemoryDone,
    MemoryRequest,
)
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError, InfrastructureFault, MeasurementError
from lts.shared.params import count_params
from lts.shared.schemas import LatencyStats, MeasurementResult, MeasureSettings

log = logging.getLogger(__name__)

#: Seconds allowed on top of ``time_budget_s`` for start-up of an item, build and warm caches.
BASE_ALLOWANCE_S = 60.0
#: Build (and, for ONNX Runtime, export and session) seconds per million parameters: several
#: times what a desktop CPU needs (docs/agent.md gives the figures), so that a slower device is
#: not cut off.
ALLOWANCE_S_PER_MPARAM = {"torch": 0.2, "onnxruntime": 1.0}


class Measurer:
    """Measures architectures in isolated helper processes; see the module docstring.

    ``cpus``: pin the helpers to these cores (``os.sched_setaffinity``), so that N Measurers
    can run side by side on disjoint cores; None leaves the affinity alone.
    ``allowance_s``: seconds allowed per item on top of ``settings.time_budget_s`` (default:
    :data:`BASE_ALLOWANCE_S` plus a per-parameter term, :meth:`time_limit_s`); ``time_limit_s``
    replaces the whole per-item limit with a fixed value. The memory pass gets the allowance
    (or ``time_limit_s``) as its own limit. ``start_timeout_s``: how long a helper may take to
    start (import the runtimes and warm up). ``log_level``: the helpers' logging level. The
    attributes ``fixed_allowance_s`` and
    ``fixed_time_limit_s`` hold the two overrides and may be changed between items.

    Thread safety: one Measurer measures one item at a time; concurrent :meth:`measure` calls
    are serialised by a lock. Use one Measurer per slot for parallel measurements. Helpers
    start lazily on the first :meth:`measure` (or :meth:`start`); :meth:`close` stops them.
    Usable as a context manager.
    """

    def __init__(
        self,
        cpus: list[int] | None = None,
        *,
        allowance_s: float | None = None,
        time_limit_s: float | None = None,
        start_timeout_s: float = 180.0,
        log_level: str = "WARNING",
    ) -> None:
        self.cpus = sorted(cpus) if cpus else None
        self.fixed_allowance_s = allowance_s
        self.fixed_time_limit_s = time_limit_s
        self.start_timeout_s = start_timeout_s
        self.log_level = log_level
        self._lock = threading.Lock()
        self._worker: Helper | None = None
        self._forkserver: Helper | None = None
        self._export_dir: Path | None = None  # made on first use; removed by close() or GC
        self._closed = False
        self.items_done = 0

    # ------------------------------------------------------------------------- lifecycle
    def __enter__(self) -> Measurer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self, *, memory: bool = True) -> None:
        """Start the worker (and the fork server when ``memory``) now, in parallel."""
        with self._lock:
            self._ensure(memory=memory)

    def close(self) -> None:
        """Stop the helper processes and remove the export folder (idempotent).

        May be called from another thread while :meth:`measure` runs: the helpers are killed
        at once and that measurement fails with MeasurementError("measurer closed").
        """
        self._closed = True
        for helper in (self._worker, self._forkserver):
            if helper is not None and helper.alive():
                helper.kill()
        if self._lock.acquire(timeout=60):
            try:
                for helper in (self._worker, self._forkserver):
                    if helper is not None:
                        helper.close()
                self._worker = self._forkserver = None
                if self._export_dir is not None:
                    shutil.rmtree(self._export_dir, ignore_errors=True)
            finally:
                self._lock.release()

    @property
    def worker_pid(self) -> int | None:
        """PID of the current latency worker (None when none runs)."""
        return self._worker.pid if self._worker is not None and self._worker.alive() else None

    @property
    def forkserver_pid(self) -> int | None:
        """PID of the memory fork server (None when none runs)."""
        fs = self._forkserver
        return fs.pid if fs is not None and fs.alive() else None

    @property
    def helper_info(self) -> dict[str, dict[str, Any]]:
        """What the running helpers reported when ready: per helper (``worker``,
        ``forkserver``) its pid, thread count and RSS after warm-up (MB), and for the worker
        whether CUDA is available. Empty for a helper that is not running."""
        return {
            name: dict(h.info) if h is not None and h.alive() else {}
            for name, h in (("worker", self._worker), ("forkserver", self._forkserver))
        }

    def _exports(self) -> Path:
        """The folder for exported ONNX graphs (one file per item, deleted after it)."""
        if self._export_dir is None:
            self._export_dir = Path(tempfile.mkdtemp(prefix="lts-measure-"))
            # Removed even when the Measurer is never closed (at GC or interpreter exit).
            weakref.finalize(self, shutil.rmtree, str(self._export_dir), ignore_errors=True)
        return self._export_dir

    def _ensure(self, *, memory: bool) -> Helper:
        """Start the worker (and with ``memory`` the fork server) where it is not running;
        returns the worker."""
        if self._closed:
            raise InfrastructureFault("the measurer is closed (the agent is shutting down)")
        if self._worker is not None and not self._worker.alive():
            self._worker.kill()
            self._worker = None
        if memory and self._forkserver is not None and not self._forkserver.alive():
            self._forkserver.kill()
            self._forkserver = None
        started = []
        if self._worker is None:
            self._worker = Helper("worker", self.cpus, log_level=self.log_level)
            started.append("_worker")
        worker = self._worker
        if memory and self._forkserver is None:
            self._forkserver = Helper("forkserver", self.cpus, log_level=self.log_level)
            started.append("_forkserver")
        for attr in started:
            try:
                getattr(self, attr).wait_ready(self.start_timeout_s)
            except (ProcessDied, ProcessTimeout) as exc:
                setattr(self, attr, None)
                raise InfrastructureFault(f"could not start the {attr[1:]}: {exc}") from exc
        return worker

    # ---------------------------------------------------------------------------- limits
    def allowance_s(self, cfg: ArchConfig, settings: MeasureSettings) -> float:
        """Seconds allowed per item beyond the latency budget (build, export, warm caches)."""
        if self.fixed_allowance_s is not None:
            return self.fixed_allowance_s
        mparams = count_params(cfg).total / 1e6
        per = ALLOWANCE_S_PER_MPARAM[settings.runtime] * max(1, settings.batch_size) ** 0.5
        return BASE_ALLOWANCE_S + per * mparams

    def time_limit_s(self, cfg: ArchConfig, settings: MeasureSettings) -> float:
        """The latency worker's limit for one item: time_budget_s + allowance (or fixed),
        both twice when the item times a decode step beside the prefill (settings ``decode``:
        a second protocol and, for ONNX Runtime, a second export)."""
        if self.fixed_time_limit_s is not None:
            return self.fixed_time_limit_s
        protocols = 2 if settings.decode and settings.metric == "prefill" else 1
        return protocols * (settings.time_budget_s + self.allowance_s(cfg, settings))

    # --------------------------------------------------------------------------- measure
    def measure(self, cfg: ArchConfig, settings: MeasureSettings) -> MeasurementResult:
        """Measure latency (and peak memory unless ``settings.measure_memory`` is False).

        Returns a :class:`MeasurementResult` whose ``settings`` are ``settings`` unchanged.
        Raises ConfigError when the settings cannot apply to ``cfg`` (e.g. a GPT-2 with
        ``seq_len`` beyond its ``tgt_len``) and MeasurementError with a reason when the item
        fails (unsupported combination, crash, out of memory, time limit). The Measurer stays
        usable after either.
        """
        from lts.agent.measure.runners import check_settings

        check_settings(cfg, settings)
        with self._lock:
            t0 = time.monotonic()
            cpu_memory = settings.measure_memory and settings.device == "cpu"
            worker = self._ensure(memory=cpu_memory)
            if settings.device == "cuda" and not worker.info.get("cuda"):
                raise MeasurementError(
                    "not supported: device 'cuda' requested but CUDA is not available"
                )
            reused = worker.info.get("items", 0) > 0
            answer = self._run_latency(cfg, settings)
            try:
                memory = answer.memory
                if cpu_memory:
                    memory = self._run_memory(cfg, settings, answer.onnx_path)
            finally:
                for path in (answer.onnx_path, answer.decode_onnx_path):
                    if path:
                        Path(path).unlink(missing_ok=True)
            if self._worker is not None:
                self._worker.info["items"] = self._worker.info.get("items", 0) + 1
            self.items_done += 1
            context = dict(answer.context)
            context.update(
                {
                    "worker_reused": reused,
                    "time_limit_s": round(self.time_limit_s(cfg, settings), 1),
                    "item_s": round(time.monotonic() - t0, 3),
                    "memory_pass_s": None if not memory else memory.get("pass_s"),
                }
            )
            return MeasurementResult(
                arch_id=cfg.arch_id,
                latency_ms=LatencyStats.model_validate(answer.latency),
                peak_memory_mb=None if not memory else memory["peak_memory_mb"],
                memory=memory or {"method": "not measured (measure_memory is false)"},
                decode_latency_ms=None if answer.decode_latency is None
                else LatencyStats.model_validate(answer.decode_latency),
                settings=settings,
                context=context,
            )

    def _run_latency(self, cfg: ArchConfig, settings: MeasureSettings) -> LatencyDone:
        worker = self._worker
        if worker is None:
            raise InfrastructureFault("the latency worker is not running")
        limit = self.time_limit_s(cfg, settings)
        msg = MeasureRequest(cfg.to_dict(), settings.model_dump(), str(self._exports()))
        try:
            answer = worker.request(msg, limit)
        except ProcessTimeout as exc:
            self._worker = None  # killed by request(); a fresh one for the next item
            raise MeasurementError(f"timed out after {limit:.0f} s (worker killed)") from exc
        except ProcessDied as exc:
            self._worker = None
            if self._closed:
                raise InfrastructureFault("measurer closed during the measurement") from exc
            if exc.infrastructure:
                raise InfrastructureFault(exc.reason) from exc
            raise MeasurementError(exc.reason) from exc
        if isinstance(answer, LatencyDone):
            return answer
        if not isinstance(answer, Failed):
            worker.close()
            self._worker = None
            raise InfrastructureFault(f"the worker answered {type(answer).__name__}")
        if answer.kind == "config":
            raise ConfigError(answer.field or "settings", answer.message)
        if answer.kind == "measurement":  # refused before building: the worker is fine
            raise MeasurementError(answer.message)
        # Any other failure: replace the worker (it may be in a bad state).
        worker.close()
        self._worker = None
        if answer.kind == "infrastructure":
            raise InfrastructureFault(answer.message)
        raise MeasurementError(answer.message)

    def _run_memory(
        self, cfg: ArchConfig, settings: MeasureSettings, onnx_path: str | None
    ) -> dict[str, Any]:
        forkserver = self._forkserver
        if forkserver is None:
            raise InfrastructureFault("the memory fork server is not running")
        limit = self.fixed_time_limit_s or self.allowance_s(cfg, settings)
        msg = MemoryRequest(cfg.to_dict(), settings.model_dump(), onnx_path, limit)
        try:
            answer = forkserver.request(msg, limit + 30.0)
        except (ProcessTimeout, ProcessDied) as exc:
            # The fork server itself (not a child measuring the model) hung or died.
            self._forkserver = None
            if self._closed:
                raise InfrastructureFault("measurer closed during the measurement") from exc
            raise InfrastructureFault(f"memory fork server failed: {exc}") from exc
        if isinstance(answer, MemoryDone):
            return answer.memory
        if isinstance(answer, Failed) and answer.kind != "infrastructure":
            raise MeasurementError(answer.message)
        message = answer.message if isinstance(answer, Failed) else type(answer).__name__
        raise InfrastructureFault(message)
