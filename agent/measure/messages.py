"""The messages between the measurer (the agent's side) and its helper processes.

One class per kind of message; they travel pickled through a
:class:`multiprocessing.connection.Connection` (:mod:`lts.agent.measure.helper_process`). Their
fields hold plain JSON types only (dicts of str, numbers, lists): unpickling them in the agent
imports this module and nothing else (a library's own type, torch's version string say,
would import that library into the service).

Parent to helper: :class:`MeasureRequest` (latency worker), :class:`MemoryRequest` (memory
fork server), :class:`Stop`. Helper to parent: :class:`Ready` once started, then per request
:class:`LatencyDone`, :class:`MemoryDone` or :class:`Failed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

#: Why a helper failed an item: ``config`` (the settings cannot apply to the architecture:
#: ``field`` names it), ``measurement`` (refused before building; the worker is fine),
#: ``memory`` (out of memory), ``infrastructure`` (out of files or disk: the machine's
#: fault), ``error`` (anything else the model raised).
FailureKind = Literal["config", "measurement", "memory", "infrastructure", "error"]


@dataclass(frozen=True)
class Ready:
    """A helper has warmed up: its pid, thread count, RSS (MB) and, for the worker,
    ``cuda`` (whether CUDA is available)."""

    info: dict[str, Any]


@dataclass(frozen=True)
class Stop:
    """Ask a helper to exit."""


@dataclass(frozen=True)
class MeasureRequest:
    """Latency worker: build, (export,) time one architecture; ONNX graphs go to
    ``export_dir``."""

    cfg: dict[str, Any]
    settings: dict[str, Any]
    export_dir: str


@dataclass(frozen=True)
class MemoryRequest:
    """Memory fork server: one forked child measures the peak memory of building and running
    the architecture (the ONNX graph at ``onnx_path`` for ONNX Runtime) within ``timeout_s``."""

    cfg: dict[str, Any]
    settings: dict[str, Any]
    onnx_path: str | None
    timeout_s: float


@dataclass(frozen=True)
class LatencyDone:
    """A measured item: ``latency`` (a LatencyStats dict), the run ``context``, the exported
    graph's path (None for torch), on CUDA the ``memory`` pass the worker ran itself, and
    with settings ``decode`` the decode step's ``decode_latency`` (and its graph's path)."""

    latency: dict[str, Any]
    context: dict[str, Any]
    onnx_path: str | None
    memory: dict[str, Any] | None
    decode_latency: dict[str, Any] | None = None
    decode_onnx_path: str | None = None


@dataclass(frozen=True)
class MemoryDone:
    """The memory pass's answer (``peak_memory_mb``, ``method``, ``pass_s``, ...)."""

    memory: dict[str, Any]


@dataclass(frozen=True)
class Failed:
    """An item failed in a helper: what kind of failure (see :data:`FailureKind`) and why."""

    kind: FailureKind
    message: str
    field: str | None = None


ParentMessage = MeasureRequest | MemoryRequest | Stop
HelperMessage = Ready | LatencyDone | MemoryDone | Failed
