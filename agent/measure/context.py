"""The run context stored with every measurement: machine state before and after, versions.

Everything here is best effort: a value that cannot be read on this platform is ``None``, never
an error. Units: frequencies in MHz, temperatures in degrees Celsius, times in seconds,
time stamps in UTC ISO 8601.

``busy`` is True when the 1-minute load average, read before or after the measurement, exceeded
the number of logical cores: other work competed for the CPU and the timings are suspect.
``cpu_util_others`` adds a direct figure: the fraction of all cores' time used by processes
other than the measuring one during the measurement (from ``/proc/stat`` via psutil).
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Any


def utc_now(timespec: str = "milliseconds") -> str:
    """The current time, UTC, ISO 8601 to ``timespec`` (a measurement's context: milliseconds;
    the job queue's times: microseconds)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec=timespec)


def cpu_count() -> int:
    """Logical cores of the machine (not of this process's affinity)."""
    return os.cpu_count() or 1


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages, or None where unavailable."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _read_number(path: str) -> float | None:
    try:
        with open(path) as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return None


def cpu_freq_mhz() -> float | None:
    """Current CPU frequency (mean over cores) in MHz, or None where unreadable."""
    values = [
        v / 1000.0
        for p in sorted(glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq"))
        if (v := _read_number(p)) is not None
    ]
    if values:
        return round(sum(values) / len(values), 1)
    try:
        import psutil

        freq = psutil.cpu_freq()
    except Exception:  # psutil raises platform-specific errors here
        return None
    return round(freq.current, 1) if freq and freq.current else None


def temperature_c() -> float | None:
    """The highest CPU/SoC temperature in degrees Celsius, or None where unreadable."""
    try:
        import psutil

        sensors = psutil.sensors_temperatures() if hasattr(psutil, "sensors_temperatures") else {}
    except Exception:
        sensors = {}
    temps = [t.current for entries in sensors.values() for t in entries if t.current]
    if not temps:
        temps = [
            v / 1000.0
            for p in glob.glob("/sys/class/thermal/thermal_zone*/temp")
            if (v := _read_number(p)) is not None
        ]
    return round(max(temps), 1) if temps else None


def loaded_versions() -> dict[str, str | None]:
    """Versions of Python, the runtimes and numpy as this process has them imported (None where
    not installed): what a measurement ran on. (:func:`lts.agent.device.installed_versions` reads
    the installed ones from package metadata without importing them.)"""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("torch", "onnxruntime", "onnx", "numpy"):
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name)
            except Exception:  # an optional runtime may fail to import
                module = None
        version = getattr(module, "__version__", None) if module is not None else None
        out[name] = None if version is None else str(version)  # torch's is a str subclass
    return out


def _cpu_busy_s() -> tuple[float, float] | None:
    """(busy seconds summed over all cores, this process's CPU seconds), or None."""
    try:
        import psutil

        t = psutil.cpu_times()
        mine = psutil.Process().cpu_times()
    except Exception:
        return None
    busy = t.user + t.system + getattr(t, "nice", 0.0) + getattr(t, "irq", 0.0)
    busy += getattr(t, "softirq", 0.0) + getattr(t, "steal", 0.0)
    return busy, mine.user + mine.system


@dataclass
class RunContext:
    """Collects the context of one measurement: call :meth:`begin`, then :meth:`end`.

    Extra entries (build and export times, protocol counts) go in ``extra``; :meth:`as_dict`
    returns the JSON-ready dictionary stored in ``MeasurementResult.context``. Not thread-safe.
    """

    extra: dict[str, Any] = field(default_factory=dict)
    _before: dict[str, Any] = field(default_factory=dict)
    _after: dict[str, Any] = field(default_factory=dict)
    _t0: float = 0.0
    _t1: float = 0.0
    _cpu0: tuple[float, float] | None = None
    _cpu1: tuple[float, float] | None = None

    @staticmethod
    def _snapshot() -> dict[str, Any]:
        return {
            "time": utc_now(),
            "load_avg": load_average(),
            "cpu_freq_mhz": cpu_freq_mhz(),
            "temperature_c": temperature_c(),
        }

    def begin(self) -> None:
        """Record the state before the measurement."""
        self._before = self._snapshot()
        self._t0 = time.monotonic()
        self._cpu0 = _cpu_busy_s()

    def end(self) -> None:
        """Record the state after the measurement."""
        self._t1 = time.monotonic()
        self._cpu1 = _cpu_busy_s()
        self._after = self._snapshot()

    def cpu_util_others(self) -> float | None:
        """Fraction of all cores' time used by other processes between begin and end."""
        if self._cpu0 is None or self._cpu1 is None or self._t1 <= self._t0:
            return None
        busy = self._cpu1[0] - self._cpu0[0]
        mine = self._cpu1[1] - self._cpu0[1]
        frac = (busy - mine) / ((self._t1 - self._t0) * cpu_count())
        return round(min(max(frac, 0.0), 1.0), 3)

    def busy(self) -> bool | None:
        """True when the 1-minute load average before or after exceeded the core count."""
        loads = [s["load_avg"][0] for s in (self._before, self._after) if s.get("load_avg")]
        if not loads:
            return None
        return max(loads) > cpu_count()

    def as_dict(self) -> dict[str, Any]:
        """The context as plain JSON types."""
        try:
            affinity: list[int] | None = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            affinity = None
        out: dict[str, Any] = {
            "started_at": self._before.get("time"),
            "finished_at": self._after.get("time"),
            "wall_s": round(self._t1 - self._t0, 4),
            "load_avg_before": self._before.get("load_avg"),
            "load_avg_after": self._after.get("load_avg"),
            "busy": self.busy(),
            "cpu_util_others": self.cpu_util_others(),
            "cores": cpu_count(),
            "cpu_affinity": affinity,
            "cpu_freq_mhz_before": self._before.get("cpu_freq_mhz"),
            "cpu_freq_mhz_after": self._after.get("cpu_freq_mhz"),
            "temperature_c_before": self._before.get("temperature_c"),
            "temperature_c_after": self._after.get("temperature_c"),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "versions": loaded_versions(),
        }
        out.update(self.extra)
        return out
