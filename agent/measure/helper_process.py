"""The measurer's side of its helper processes: start one, talk to it, tell why it ended.

Each helper (the latency worker, the memory fork server) is a new interpreter started with
``python -m lts.agent.measure.child ROLE FD ...`` (:mod:`lts.agent.measure.child`, the helper's
side): a fresh process, not a fork of the service, so it inherits none of the service's threads
or state, and the service's ``__main__`` is not imported again (as ``multiprocessing``'s spawn
would). The messages (:mod:`lts.agent.measure.messages`) go pickled through a
:class:`multiprocessing.connection.Connection` over a ``socketpair``.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from lts.agent.measure.messages import HelperMessage, ParentMessage, Ready, Stop

log = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parents[2]


class ProcessDied(Exception):
    """The helper closed its end: it exited or was killed. ``reason`` says how;
    ``infrastructure``: for a reason outside the model it was measuring (see
    :func:`exit_cause`)."""

    def __init__(self, reason: str, returncode: int | None, infrastructure: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.returncode = returncode
        self.infrastructure = infrastructure


class ProcessTimeout(Exception):
    """The helper did not answer in time (it has been killed)."""


#: Signals a process raises on itself when it crashes (in the model's build or run): the
#: item's own failure. Any other signal came from outside (a person, a supervisor, the
#: kernel's out-of-memory killer, which only counts as the model's when the kernel says so).
CRASH_SIGNALS = frozenset(
    {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGFPE, signal.SIGILL}
)
_CRASH_HINTS: dict[int, str] = {
    signal.SIGABRT: ": aborted",
    signal.SIGSEGV: ": segmentation fault",
    signal.SIGBUS: ": bus error",
}


#: Errors of the machine, not of the model: out of file descriptors, out of disk space.
INFRASTRUCTURE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOSPC})


def is_infrastructure_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is an :data:`INFRASTRUCTURE_ERRNOS`
    OSError: the machine's fault, not the model's."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in INFRASTRUCTURE_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def oom_kill_count() -> int | None:
    """How many processes the kernel's out-of-memory killer has killed: this cgroup's count
    plus the machine's (``memory.events`` and ``/proc/vmstat`` ``oom_kill``); None when
    neither is readable."""
    total, seen = 0, False
    for path in ("/sys/fs/cgroup/memory.events", "/proc/vmstat"):
        try:
            lines = Path(path).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            name, _, value = line.partition(" ")
            if name == "oom_kill" and value.strip().isdigit():
                total, seen = total + int(value), True
    return total if seen else None


def _memory_nearly_full() -> bool:
    try:
        import psutil
    except ImportError:
        return False
    return psutil.virtual_memory().percent >= 90.0


def exit_cause(returncode: int | None, oom_kills_before: int | None = None) -> tuple[str, bool]:
    """Why a helper (or a memory pass child) ended, and whether that was outside the model:
    ``(reason, infrastructure)``. ``oom_kills_before``: :func:`oom_kill_count` when it was
    given its item. A SIGKILL is called out of memory only when the kernel's count of
    out-of-memory kills grew meanwhile (or, where that count cannot be read, "possibly",
    when memory is nearly full now); otherwise it came from outside: infrastructure."""
    if returncode is None:
        return "still running", False
    if returncode >= 0:
        return f"exited with code {returncode}", False
    sig = -returncode
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    if sig in CRASH_SIGNALS:
        return f"killed by signal {sig} ({name}{_CRASH_HINTS.get(sig, '')})", False
    if sig == signal.SIGKILL:
        now = oom_kill_count()
        if now is not None and oom_kills_before is not None:
            if now > oom_kills_before:
                return "killed by the kernel's out-of-memory killer (SIGKILL)", False
            return f"killed by signal {sig} ({name}; not by the out-of-memory killer)", True
        if _memory_nearly_full():
            return f"killed ({name}), possibly out of memory", False
    return f"killed by signal {sig} ({name})", True


def describe_exit(returncode: int | None, oom_kills_before: int | None = None) -> str:
    """A human reason for a helper's exit status (negative: killed by that signal)."""
    return exit_cause(returncode, oom_kills_before)[0]


#: Thread-pool sizes a helper starts with: one thread in every runtime, whatever the agent's
#: own environment says. A measurement that asks for N threads sets N itself
#: (``torch.set_num_threads``, ONNX Runtime's ``intra_op_num_threads``); a helper must not
#: start with a pool, because the fork server forks (a child forked while an OpenMP worker
#: exists can deadlock: seen with torch 2.9 on Cortex-A72/A76) and because a pool that a
#: library starts on its own makes a "1-thread" latency use more than one core.
HELPER_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",  # OpenMP: torch's intra-op pool (libgomp on aarch64, x86)
    "MKL_NUM_THREADS": "1",  # MKL (x86 torch builds)
    "OPENBLAS_NUM_THREADS": "1",  # OpenBLAS: numpy's, and torch's on aarch64
}

#: oneDNN's JIT profiler hooks. On aarch64 its default writes /tmp/perf-<pid>.map for every
#: process that runs JIT-compiled kernels, and nothing removes them. Off unless the operator
#: set them (to profile with perf: ONEDNN_JIT_PROFILE=2 in the agent's environment).
HELPER_DEFAULT_ENV = {"ONEDNN_JIT_PROFILE": "0", "DNNL_JIT_PROFILE": "0"}


def child_env() -> dict[str, str]:
    """Environment of a helper: the project importable, every runtime's thread pool at one
    thread (:data:`HELPER_THREAD_ENV`) and oneDNN's profiler files off
    (:data:`HELPER_DEFAULT_ENV`), all set before the helper imports any runtime."""
    env = dict(os.environ)
    paths = [str(_ROOT), *[p for p in sys.path if p]]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.update(HELPER_THREAD_ENV)
    for key, value in HELPER_DEFAULT_ENV.items():
        env.setdefault(key, value)
    return env


class Helper:
    """One helper process and its connection. Not thread-safe: one caller at a time."""

    def __init__(self, role: str, cpus: list[int] | None, *, log_level: str = "WARNING") -> None:
        """Start the helper (returns at once; call :meth:`wait_ready` before requests).
        ``role``: ``worker`` or ``forkserver``; ``cpus``: pin it to these cores;
        ``log_level``: its logging level."""
        parent_sock, child_sock = socket.socketpair()
        cmd = [sys.executable, "-m", "lts.agent.measure.child", role, str(child_sock.fileno())]
        cmd += ["--log-level", log_level.upper()]
        if cpus:
            cmd += ["--cpus", ",".join(str(c) for c in cpus)]
        self.role = role
        self.t_start = time.monotonic()
        try:
            self.popen = subprocess.Popen(
                cmd, pass_fds=[child_sock.fileno()], env=child_env(), cwd=str(_ROOT)
            )
        finally:
            child_sock.close()
        self.conn = Connection(os.dup(parent_sock.fileno()))
        parent_sock.close()
        self.info: dict[str, Any] = {}
        self.oom_kills_before = oom_kill_count()

    def wait_ready(self, timeout_s: float) -> dict[str, Any]:
        """Wait for the helper's :class:`Ready` (its warm-up); kill it on failure."""
        if not self.info:
            left = max(0.1, timeout_s - (time.monotonic() - self.t_start))
            try:
                ready = self.receive(left)
            except (ProcessDied, ProcessTimeout):
                self.kill()
                raise
            if not isinstance(ready, Ready):
                self.kill()
                raise ProcessDied(f"{self.role} sent {type(ready).__name__}, not Ready", None)
            self.info = dict(ready.info)
            log.debug("%s %d ready in %.1f s", self.role, self.pid, time.monotonic() - self.t_start)
        return self.info

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, msg: ParentMessage) -> None:
        try:
            self.conn.send(msg)
        except OSError as exc:
            raise self._died() from exc

    def receive(self, timeout_s: float) -> HelperMessage:
        """The next message; raises ProcessTimeout (after killing) or ProcessDied."""
        try:
            ready = self.conn.poll(timeout_s)
        except OSError as exc:
            raise self._died() from exc
        if not ready:
            self.kill()
            raise ProcessTimeout(f"{self.role} gave no answer in {timeout_s:.0f} s")
        try:
            return self.conn.recv()
        except (EOFError, OSError) as exc:
            raise self._died() from exc

    def request(self, msg: ParentMessage, timeout_s: float) -> HelperMessage:
        self.oom_kills_before = oom_kill_count()
        self.send(msg)
        return self.receive(timeout_s)

    def _died(self) -> ProcessDied:
        try:
            code = self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.popen.returncode
        reason, infrastructure = exit_cause(code, self.oom_kills_before)
        return ProcessDied(f"{self.role} {reason}", code, infrastructure)

    def kill(self) -> None:
        """SIGKILL the helper and reap it (idempotent)."""
        if self.popen.poll() is None:
            self.popen.kill()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.warning("%s %d did not die after SIGKILL", self.role, self.popen.pid)
        self.conn.close()

    def close(self, timeout_s: float = 5.0) -> None:
        """Ask the helper to stop, then kill it if it does not."""
        if self.popen.poll() is None:
            try:
                self.conn.send(Stop())
                self.popen.wait(timeout=timeout_s)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()
