"""Helper processes of the measurer: started fresh, talked to over a socket pair.

Each helper (the latency worker, the memory fork server) is a new interpreter started with
``python -m agent.measure._entry ROLE FD [CPUS]``: a fresh process, not a fork of the service,
so it inherits none of the service's threads or state, and the service's ``__main__`` is not
imported again (as ``multiprocessing``'s spawn would). Messages are pickled Python objects
through a :class:`multiprocessing.connection.Connection` over a ``socketpair``.
"""

from __future__ import annotations

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

log = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parents[2]


class ProcessDied(Exception):
    """The helper closed its end: it exited or was killed. ``reason`` says how."""

    def __init__(self, reason: str, returncode: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.returncode = returncode


class ProcessTimeout(Exception):
    """The helper did not answer in time (it has been killed)."""


def describe_exit(returncode: int | None) -> str:
    """A human reason for a helper's exit status (negative: killed by that signal)."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        sig = -returncode
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        hint = {
            signal.SIGKILL: ": likely out of memory",
            signal.SIGABRT: ": aborted",
            signal.SIGSEGV: ": segmentation fault",
            signal.SIGBUS: ": bus error",
        }.get(sig, "")
        return f"killed by signal {sig} ({name}{hint})"
    return f"exited with code {returncode}"


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

    def __init__(self, role: str, cpus: list[int] | None) -> None:
        """Start the helper (returns at once; call :meth:`wait_ready` before requests)."""
        parent_sock, child_sock = socket.socketpair()
        cmd = [sys.executable, "-m", "agent.measure._entry", role, str(child_sock.fileno())]
        if cpus:
            cmd.append(",".join(str(c) for c in cpus))
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

    def wait_ready(self, timeout_s: float) -> dict[str, Any]:
        """Wait for the helper's ready message (its warm-up); kill it on failure."""
        if not self.info:
            left = max(0.1, timeout_s - (time.monotonic() - self.t_start))
            try:
                self.info = self.receive(left)
            except (ProcessDied, ProcessTimeout):
                self.kill()
                raise
            log.debug("%s %d ready in %.1f s", self.role, self.pid, time.monotonic() - self.t_start)
        return self.info

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, msg: Any) -> None:
        try:
            self.conn.send(msg)
        except OSError as exc:
            raise self._died() from exc

    def receive(self, timeout_s: float) -> Any:
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

    def request(self, msg: Any, timeout_s: float) -> Any:
        self.send(msg)
        return self.receive(timeout_s)

    def _died(self) -> ProcessDied:
        try:
            code = self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.popen.returncode
        return ProcessDied(f"{self.role} {describe_exit(code)}", code)

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
                self.conn.send({"op": "stop"})
                self.popen.wait(timeout=timeout_s)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()
