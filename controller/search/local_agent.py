"""A local agent as a subprocess on a free loopback port (for ``controller demo`` and tests).

The agent runs in its own interpreter (``python -m lts.agent.cli serve``), so the controller
process never imports torch. :class:`LocalAgent` starts it, waits for ``GET /health``, and
stops it (SIGTERM, then SIGKILL after a grace period) when the ``with`` block ends.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from lts.shared.errors import AgentError

logger = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalAgent:
    """``agent serve --no-auth`` on 127.0.0.1:``port`` (a free one by default), logging to
    ``log_path``. ``extra`` are more ``agent serve`` options (``["--threads", "2"]``)."""

    def __init__(
        self,
        *,
        name: str = "local",
        port: int | None = None,
        threads: int = 1,
        log_path: str | os.PathLike[str] | None = None,
        extra: list[str] | None = None,
        start_timeout_s: float = 120.0,
    ) -> None:
        self.name = name
        self.port = port or free_port()
        self.threads = threads
        self.log_path = Path(log_path) if log_path else None
        self.extra = list(extra or [])
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "lts.agent.cli", "serve", "--host", "127.0.0.1",
            "--port", str(self.port), "--no-auth", "--threads", str(self.threads),
            "--name", self.name, "--log-level", "warning", *self.extra,
        ]  # fmt: skip

    def start(self) -> LocalAgent:
        """Start the agent and wait until it answers; raise :class:`AgentError` if it exits
        or does not answer within ``start_timeout_s``."""
        self.launch()
        self.wait_ready()
        return self

    def launch(self) -> None:
        """Start the process without waiting (start several, then :meth:`wait_ready` each)."""
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        else:
            log = subprocess.DEVNULL  # type: ignore[assignment]
        try:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )
        finally:
            if self.log_path is not None:
                log.close()

    def wait_ready(self) -> None:
        """Wait until ``GET /health`` answers (see :meth:`start`)."""
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            code = self.process.poll()
            if code is not None:
                where = f"; see {self.log_path}" if self.log_path else ""
                raise AgentError(f"the local agent exited with status {code} at start{where}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AgentError(f"the local agent did not answer within {self.start_timeout_s:.0f} s")

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited after ``grace_s``."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            logger.warning("local agent %s did not stop; killing it", self.name)
            proc.kill()
            proc.wait(5)

    def kill(self) -> None:
        """SIGKILL at once (what a crash looks like)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> LocalAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
