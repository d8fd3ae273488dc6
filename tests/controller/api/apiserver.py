"""Helpers of the API tests: the tiny space and budgets, a ``controller serve`` subprocess
(:func:`launch_server`), waiting (imported by conftest.py and the test modules)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from testkit import SERVER_START_S, wait_healthy

from lts.controller.search.local_agent import free_port
from lts.controller.search.small_spaces import TINY_SPACE

#: A small search with short budgets (SearchConfig fields) ...
SMALL = {
    "space": TINY_SPACE,
    "population": 4,
    "parents": 2,
    "baseline_sizes": "space",
    "final_budget_factor": 2.0,
    "final_share": 1.0,  # no time bound on the final phase: the tests read its figures
    "batch_size": 4,
}
#: ... and its measurement settings.
MEASURE = {"time_budget_s": 0.3, "min_time_s": 0.1, "warmup_s": 0.02}
#: The same as a ``POST /searches`` body (the CLI's flat option names).
FAST = {**SMALL, **MEASURE}
CONTROLLER_TOKEN = "controller-test-token"
AGENT_NAME = "api"  # in the agents file; the device record takes this name too
DEVICE_NAME = "api-device"  # what the agent calls itself (GET /device)


@dataclass
class Server:
    """A ``controller serve`` subprocess on 127.0.0.1."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    token: str | None = None
    db: str = ""

    def client(self, token: str | None = None, **kwargs: object) -> httpx.Client:
        """An httpx client; ``token`` None: the server's token, "" for none."""
        token = self.token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


@dataclass
class Filled:
    """The session's store (``db``: a SQLite file's path or a PostgreSQL URL), its finished
    search, and the agent it ran on."""

    db: str
    agents_file: Path
    search_id: int
    interrupted: list[int]
    agent_url: str
    home: Path


def launch_server(home: Path, db: str, agents_file: Path, *options: str) -> Server:
    """Start ``controller serve`` on a free port; wait until ``/health`` answers."""
    port = free_port()
    log = home / f"serve-{port}.log"
    cmd = [sys.executable, "-c", "from lts.controller.cli import main; main()", "serve",
           "--port", str(port), "--db", str(db), "--agents-file", str(agents_file),
           "--agent-timeout-s", "1", *options]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LTS_CONTROLLER_", "LTS_DB"))}
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Server(f"http://127.0.0.1:{port}", process, log, db=db)
    try:
        wait_healthy(server.url, process, log, "controller serve", timeout_s=SERVER_START_S)
    except pytest.fail.Exception:
        server.stop()
        raise
    return server


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
