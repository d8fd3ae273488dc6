"""The simulated agent (``agent serve --simulate FILE``): the real REST API, answered by a
surrogate device instead of building and timing models.

What it is for: planning a search (how many candidates, which algorithm, which budget) before
giving a slow device such as a Raspberry Pi hours of work, and benchmarking the controller's
own path without a device. Every endpoint, token, job and idempotency rule is the real agent's
(:func:`lts.agent.main.create_app` with a :class:`SimulatedMeasurer` per slot); only the
measurement differs:

* each item is answered from :class:`lts.shared.surrogate.Surrogate` (a non-negative linear model
  of the analytic cost features per quantity, fitted to real measurements, with log-normal
  noise seeded by the item's settings ``seed`` and its arch id: the same request always gets
  the same answer): the latency of ``settings.metric`` (prefill or decode), the decode latency
  too when ``settings.decode`` is set, and the peak memory when ``settings.measure_memory``;
* the latency statistics are one sample (median = p10 = p90 = the answer, ``n`` 1);
* it answers in about a millisecond, or, with ``--simulate-speed F``, after sleeping ``F`` times
  the time a real agent's protocol would have spent timing the predicted latency
  (:func:`protocol_s`): 1 is real time, 0.01 a hundred times faster;
* results say they are simulated: ``memory.method`` and ``context.simulated`` (with the
  surrogate's name and the SHA-256 of its file), and ``/device`` marks the CPU model and the
  versions (``simulated``: the file's digest), so the device's fingerprint differs from the
  machine's real one and its results never mix with real measurements in a store.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from lts.shared.config import ArchConfig
from lts.shared.schemas import DeviceInfo, LatencyStats, MeasurementResult, MeasureSettings
from lts.shared.surrogate import Surrogate


def protocol_s(latency_ms: float, settings: MeasureSettings) -> float:
    """Seconds the latency protocol of ``settings`` spends on a model of ``latency_ms``:
    warm-up (``warmup_runs`` runs and ``warmup_s``), then timed runs (``min_runs`` runs and
    ``min_time_s``), at most ``time_budget_s`` in all."""
    run_s = latency_ms / 1000.0
    warmup = max(settings.warmup_runs * run_s, settings.warmup_s)
    timed = max(settings.min_runs * run_s, settings.min_time_s)
    return min(warmup + timed, settings.time_budget_s)


def _stats(value_ms: float) -> LatencyStats:
    return LatencyStats(median=value_ms, p10=value_ms, p90=value_ms, mean=value_ms,
                        min=value_ms, cv=0.0, n=1, samples=[value_ms])  # fmt: skip


class SimulatedMeasurer:
    """A measurer (what :class:`lts.agent.jobs.JobQueue` needs) that answers from a surrogate.
    Thread-safe (it keeps no state); ``speed`` 0 never sleeps."""

    def __init__(self, surrogate: Surrogate, digest: str, speed: float = 0.0) -> None:
        self.surrogate = surrogate
        self.digest = digest
        self.speed = speed

    def measure(self, cfg: ArchConfig, settings: MeasureSettings) -> MeasurementResult:
        from lts.agent.measure.runners import check_settings

        check_settings(cfg, settings)
        t0 = time.monotonic()
        values = self.surrogate.answer(cfg, settings)
        latency = values["decode" if settings.metric == "decode" else "prefill"]
        decode = settings.decode and settings.metric == "prefill"
        slept = 0.0
        if self.speed > 0:
            slept = self.speed * protocol_s(latency, settings)
            if decode:
                slept += self.speed * protocol_s(values["decode"], settings)
            time.sleep(slept)
        source = f"simulated (surrogate {self.surrogate.name!r}, sha256 {self.digest})"
        return MeasurementResult(
            arch_id=cfg.arch_id,
            latency_ms=_stats(latency),
            peak_memory_mb=values["memory"] if settings.measure_memory else None,
            memory={"method": source if settings.measure_memory else "not measured"},
            decode_latency_ms=_stats(values["decode"]) if decode else None,
            settings=settings,
            context={
                "simulated": True,
                "surrogate": self.surrogate.name,
                "surrogate_sha256": self.digest,
                "speed": self.speed,
                "slept_s": round(slept, 6),
                "item_s": round(time.monotonic() - t0, 6),
            },
        )

    def close(self) -> None:
        """Nothing to stop."""


def load(path: Path) -> tuple[Surrogate, str]:
    """The surrogate of ``path`` and the first 16 hex digits of its file's SHA-256 (raises
    ConfigError, field ``simulate``, for a file that is not a surrogate)."""
    surrogate = Surrogate.load(path)
    return surrogate, hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def simulated_device(info: DeviceInfo, surrogate: Surrogate, digest: str) -> DeviceInfo:
    """``info`` marked simulated: the CPU model names the surrogate, ``versions`` holds its
    digest, and the fingerprint (over both) differs from the machine's."""
    cpu_model = f"simulated: surrogate {surrogate.name!r} ({digest}) on {info.cpu_model}"
    versions = {**info.versions, "simulated": digest}
    fingerprint = hashlib.sha256(f"{info.fingerprint}:simulated:{digest}".encode()).hexdigest()
    return info.model_copy(
        update={"cpu_model": cpu_model, "versions": versions, "fingerprint": fingerprint[:16]}
    )
