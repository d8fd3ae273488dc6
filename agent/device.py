"""What this machine is, and how its cores and memory are shared among measurement slots.

Everything here reads the machine (``/proc``, ``/sys``, cgroups, psutil) and never imports torch
or onnxruntime into the server process: their versions come from the installed packages'
metadata and the GPUs from a short-lived child process (a torch import), asked only where a GPU
driver is present, once, at start-up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import psutil

from lts.agent.settings import Settings
from lts.shared import __version__
from lts.shared.errors import ConfigError
from lts.shared.schemas import DeviceInfo, GpuInfo, MeasureSettings

logger = logging.getLogger(__name__)

#: Share of the available memory the default budget allows (the rest: the OS, the server,
#: the runtime's own overhead in the worker, which the estimate leaves out).
DEFAULT_BUDGET_SHARE = 0.5

_GPU_PROBE = """
import json, torch
out = []
if torch.cuda.is_available():
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        out.append({"name": p.name, "memory_mb": round(p.total_memory / 2**20, 1)})
print(json.dumps(out))
"""


# ------------------------------------------------------------------------------------ cores
def usable_cpus() -> list[int]:
    """The logical CPUs this process may run on (its affinity mask, e.g. a container's cpuset)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def _parse_cpu_list(text: str) -> set[int]:
    """Parse the kernel's CPU list format (``0-3,8,10-11``)."""
    out: set[int] = set()
    for part in text.strip().split(","):
        if "-" in part:
            lo, hi = part.split("-")
            out.update(range(int(lo), int(hi) + 1))
        elif part:
            out.add(int(part))
    return out


def _physical_cores(cpus: list[int]) -> list[list[int]]:
    """``cpus`` grouped by physical core (hyper-thread siblings together), in order."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for cpu in cpus:
        path = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            siblings = tuple(sorted(_parse_cpu_list(path.read_text()) & set(cpus)))
        except (OSError, ValueError):
            siblings = (cpu,)
        groups.setdefault(siblings or (cpu,), []).append(cpu)
    return list(groups.values())


def split_cpus(slots: int, cpus: list[int] | None = None) -> list[list[int] | None]:
    """The CPUs of each measurement slot: disjoint, equal in number, whole physical cores first.

    One slot is not pinned (``[None]``: the worker may use every usable CPU). With more, each
    slot gets ``cores // slots`` physical cores (or, where there are fewer physical cores than
    slots, ``cpus // slots`` logical CPUs); what does not divide evenly is left to the server.
    Raises :class:`ConfigError` when there are fewer usable CPUs than slots.
    """
    cpus = usable_cpus() if cpus is None else sorted(cpus)
    if slots > len(cpus):
        raise ConfigError("slots", f"{slots} slots but only {len(cpus)} usable CPU(s)")
    if slots == 1:
        return [None]
    cores = _physical_cores(cpus)
    if len(cores) < slots:
        cores = [[cpu] for cpu in cpus]
    per = len(cores) // slots
    shares = (cores[i * per : (i + 1) * per] for i in range(slots))
    return [sorted(cpu for core in share for cpu in core) for share in shares]


# ----------------------------------------------------------------------------------- memory
def _cgroup_headroom_mb() -> float | None:
    """Memory left under this process's cgroup limit (v2 or v1), or None when unlimited."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or int(limit) >= 2**60:
            return None
        return max(int(limit) - usage, 0) / 2**20
    return None


def available_memory_mb() -> float:
    """Memory available to new processes now (MB): the smaller of the OS's and the cgroup's."""
    available = psutil.virtual_memory().available / 2**20
    headroom = _cgroup_headroom_mb()
    return available if headroom is None else min(available, headroom)


def default_memory_budget_mb(slots: int) -> float:
    """The default budget of one measurement: half the available memory, shared by the slots."""
    return round(DEFAULT_BUDGET_SHARE * available_memory_mb() / slots, 1)


def default_gpu_budget_mb(slots: int) -> float | None:
    """The budget of one CUDA measurement: 90% of the first GPU's memory, shared by the slots
    (None without a GPU or where its memory is unknown)."""
    gpus = detect_gpus()
    if not gpus or gpus[0].memory_mb is None:
        return None
    return round(0.9 * gpus[0].memory_mb / slots, 1)


# ------------------------------------------------------------------------------ machine facts
def cpu_model() -> str:
    """The CPU's name: /proc/cpuinfo (x86 ``model name``; ARM boards' ``Model``), else platform."""
    try:
        info = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        info = ""
    fields: dict[str, str] = {}
    for line in info.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            fields.setdefault(key.strip().lower(), value.strip())
    for key in ("model name", "model", "hardware", "cpu model", "processor"):
        if key in fields and not fields[key].isdigit():
            return fields[key]
    try:  # Raspberry Pi and other device-tree boards
        return Path("/sys/firmware/devicetree/base/model").read_text().strip("\x00\n ")
    except OSError:
        return platform.processor() or platform.machine() or "unknown"


def _has_gpu_driver() -> bool:
    return (
        any(Path(p).exists() for p in ("/proc/driver/nvidia/gpus", "/dev/nvidiactl", "/dev/kfd"))
        or shutil.which("nvidia-smi") is not None
    )


@cache
def detect_gpus() -> tuple[GpuInfo, ...]:
    """The GPUs torch.cuda sees (name, memory), asked in a child process; () without a driver.

    Cached: the first call costs a torch import in the child, later calls nothing.
    """
    if not _has_gpu_driver() or "torch" not in _installed():
        return ()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _GPU_PROBE], capture_output=True, text=True, timeout=60
        )
        return tuple(GpuInfo(**g) for g in json.loads(proc.stdout.strip().splitlines()[-1]))
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        logger.warning("could not list the GPUs through torch: %s", exc)
        return ()


def _installed() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in ("torch", "onnxruntime", "onnx"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def installed_versions() -> dict[str, str | None]:
    """Versions of Python, the runtimes and the agent, from package metadata (no imports: the
    service never loads torch); a measurement's context records the versions it ran on."""
    found = _installed()
    return {
        "python": platform.python_version(),
        "torch": found.get("torch"),
        "onnxruntime": found.get("onnxruntime"),
        "onnx": found.get("onnx"),
        "agent": __version__,
    }


def runtime_installed(runtime: str) -> bool:
    """Whether the runtime's package is installed (``torch`` or ``onnxruntime``)."""
    return runtime in _installed()


@dataclass(frozen=True)
class Capabilities:
    """What this agent can measure: installed runtimes, CUDA, the most threads a slot has."""

    runtimes: frozenset[str]
    cuda: bool
    max_threads: int


def check_machine(settings: Settings) -> tuple[list[list[int] | None], Capabilities]:
    """The slots' CPUs and what this machine can measure, checked against the settings.

    Raises :class:`ConfigError` (more slots than CPUs, more threads than a slot's CPUs, a
    default runtime that is not installed, ``cuda`` without a GPU).
    """
    slot_cpus = split_cpus(settings.slots)
    runtimes = frozenset(r for r in ("torch", "onnxruntime") if runtime_installed(r))
    pinned = [c for c in slot_cpus if c is not None]  # none when one slot takes every CPU
    max_threads = min(len(c) for c in pinned) if pinned else len(usable_cpus())
    caps = Capabilities(runtimes=runtimes, cuda=bool(detect_gpus()), max_threads=max_threads)
    if settings.runtime not in runtimes:
        raise ConfigError("runtime", f"{settings.runtime} is not installed")
    if settings.device == "cuda" and not caps.cuda:
        raise ConfigError("device", "no CUDA device found (torch.cuda sees none)")
    if settings.threads > max_threads:
        raise ConfigError(
            "threads", f"{settings.threads} threads but a slot has {max_threads} CPU(s)"
        )
    return slot_cpus, caps


def runtime_versions() -> dict[str, str | None]:
    """The versions of the measuring runtimes (``torch``, ``onnxruntime``; None: not
    installed), from package metadata: what the fingerprint counts as the device's software."""
    found = _installed()
    return {name: found.get(name) for name in ("torch", "onnxruntime")}


def fingerprint(
    facts: dict[str, object],
    defaults: MeasureSettings,
    slots: int,
    runtimes: dict[str, str | None] | None = None,
) -> str:
    """Stable id of (this machine, its runtimes, the agent's measurement-relevant settings):
    16 hex digits.

    Machine facts: hostname, OS, architecture, CPU model, cores, memory (whole GiB, so that a
    few MB the kernel reserves differently do not change it) and GPUs; the runtimes' versions
    (``runtimes``, default :func:`runtime_versions`: another torch build times differently,
    so it is another device); settings: threads, runtime, device and slots. Two agents with
    different settings or runtime versions on one machine differ.
    """
    key = {
        **facts,
        "memory_total_gib": round(float(facts["memory_total_mb"]) / 1024),  # type: ignore[arg-type]
        "runtime_versions": runtime_versions() if runtimes is None else dict(runtimes),
        "threads": defaults.threads,
        "runtime": defaults.runtime,
        "device": defaults.device,
        "slots": slots,
    }
    del key["memory_total_mb"]
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def device_info(name: str, defaults: MeasureSettings, slots: int) -> DeviceInfo:
    """Describe this device (``GET /device``). Reads the machine; the first call where a GPU
    driver is present also imports torch in a child (see :func:`detect_gpus`)."""
    gpus = detect_gpus()
    facts: dict[str, object] = {
        "hostname": socket.gethostname(),
        "os": platform.system(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cores_logical": len(usable_cpus()),
        "cores_physical": psutil.cpu_count(logical=False),
        "memory_total_mb": round(psutil.virtual_memory().total / 2**20, 1),
        "gpus": [g.model_dump() for g in gpus],
    }
    return DeviceInfo(
        name=name,
        fingerprint=fingerprint(facts, defaults, slots),
        **facts,
        versions=installed_versions(),
        defaults=defaults,
        slots=slots,
    )
