"""Helpers shared by the test packages (tests/ is on sys.path through tests/conftest.py):
the console scripts, the store engines, and waiting for a server
subprocess to answer ``/health``."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def console_script(name: str) -> list[str]:
    """The command that runs console script ``name`` (``agent``, ``controller``) of this
    Python's installation: the script beside ``sys.executable`` (a venv's ``bin/``, found
    whether or not the venv is activated), else its entry point run by this Python."""
    exe = Path(sys.executable).parent / name
    if exe.is_file():
        return [str(exe)]
    return [sys.executable, "-c", f"from lts.{name}.cli import main; main()"]


#: The engines a store test runs on (``@pytest.fixture(params=ENGINES)``; the ``store_url``
#: fixture of tests/conftest.py): a SQLite file, and a PostgreSQL database (marked).
ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def wait_healthy(
    url: str, process: subprocess.Popen[bytes], log: Path, what: str, timeout_s: float
) -> None:
    """Return once ``GET {url}/health`` answers 200; fail the test (with ``what`` and the
    server's log) if ``process`` exits first or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{what} did not answer /health in time:\n{log.read_text()}")
