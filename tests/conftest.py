"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pgserver import PostgresServer, PostgresUnavailable
from testkit import ENGINES, SERVER_START_S, wait_healthy

#: The published LTS tables, kept in the repository (see their README for source and licence).
TABLES_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "lts-neurips22"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shuffle", type=int, default=None, metavar="SEED",
        help="run the test modules in an order shuffled by SEED, and each module's tests in "
        "a shuffled order too (a test that needs another to run first then fails); the "
        "session's order and seed are printed",
    )  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--shuffle SEED``: modules in a seeded random order, and the tests of each module
    (their fixtures shared per module stay valid: a module's tests stay together)."""
    seed = config.getoption("--shuffle")
    if seed is None:
        return
    rng = random.Random(seed)
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    order = list(modules)
    rng.shuffle(order)
    items[:] = []
    for name in order:
        tests = modules[name]
        rng.shuffle(tests)
        items.extend(tests)


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = config.getoption("--shuffle")
    return None if seed is None else f"test order shuffled with seed {seed} (--shuffle)"


@pytest.fixture(scope="session")
def tables_dir() -> Path:
    if not TABLES_DIR.is_dir():
        pytest.fail(f"published tables not found at {TABLES_DIR}")
    return TABLES_DIR


@dataclass
class RunningAgent:
    """An ``agent serve`` process listening on 127.0.0.1 (see the ``start_agent`` fixture)."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, token: str | None = None, **kwargs: object) -> httpx.Client:
        """An httpx client for this agent, with its token (or ``token``, "" for none)."""
        token = self.token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def start_agent(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., RunningAgent]]:
    """Start real agents (``python -m agent.cli serve`` on a free port of 127.0.0.1).

    ``start_agent(*options, env={...})`` waits until ``/health`` answers and returns a
    :class:`RunningAgent`; every agent started is stopped (SIGTERM) at the end of the session.
    """
    started: list[RunningAgent] = []

    def start(*options: str, env: dict[str, str] | None = None) -> RunningAgent:
        home = tmp_path_factory.mktemp("agent")
        token = f"test-token-{len(started)}-0123456789"
        token_file = home / "token"
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        port = _free_port()
        log = home / "agent.log"
        cmd = [sys.executable, "-m", "lts.agent.cli", "serve", "--port", str(port),
               "--token-file", str(token_file), *options]  # fmt: skip
        with log.open("wb") as out:
            process = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
            )
        agent = RunningAgent(f"http://127.0.0.1:{port}", token, process, log)
        started.append(agent)
        wait_healthy(agent.url, process, log, "agent", timeout_s=SERVER_START_S)
        return agent

    yield start
    for agent in started:
        agent.process.terminate()
    for agent in started:
        try:
            agent.process.wait(30)
        except subprocess.TimeoutExpired:
            agent.process.kill()


# ------------------------------------------------------------------------------ PostgreSQL
def _postgres_unavailable(reason: str) -> None:
    """Skip (fail with ``LTS_TEST_POSTGRES=require``, as CI sets it) a PostgreSQL test."""
    if os.environ.get("LTS_TEST_POSTGRES") == "require":
        pytest.fail(f"PostgreSQL required (LTS_TEST_POSTGRES=require): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for the session (tests/pgserver.py), started on first use.
    Tests that need it skip, naming what is missing, where it cannot run."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _postgres_unavailable("the psycopg driver is not installed: pip install 'lts[postgres]'")
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as exc:
        _postgres_unavailable(str(exc))
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A SQLAlchemy URL of a new, empty database on the session's server (dropped after)."""
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


@pytest.fixture(params=ENGINES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty store: a SQLite file, or a PostgreSQL database."""
    # Imported here: the agent-only install of the aarch64 smoke test has no SQLAlchemy.
    from lts.controller.store import database_url

    if request.param == "sqlite":
        return database_url(tmp_path / "lts.sqlite")
    return request.getfixturevalue("pg_url")
