"""The results API against a store filled by a real search.

Once per session: a real agent (``start_agent`` of tests/conftest.py: ``agent serve`` on
127.0.0.1 with a token) is named ``api`` in an agents file; the real runner searches a tiny
space on it for two iterations (baselines and the final re-measurement included) into a
SQLite file; then ``controller serve`` (uvicorn, a subprocess) serves that file with a
controller token. Tests talk to it with httpx. All of it twice: on a SQLite file and on a
PostgreSQL database (``ENGINES`` of tests/testkit.py; those runs are marked ``postgres``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from apiserver import (  # tests/controller/api is on sys.path
    AGENT_NAME,
    CONTROLLER_TOKEN,
    DEVICE_NAME,
    MEASURE,
    SMALL,
    Filled,
    Server,
    launch_server,
)
from testkit import ENGINES

from lts.controller.agents import AgentsFile, AgentSpec
from lts.controller.search.config import SearchConfig
from lts.controller.search.local_agent import free_port
from lts.controller.search.runner import SearchRunner, start_search
from lts.controller.store import Store


@pytest.fixture(scope="session", params=ENGINES)
def filled(
    request: pytest.FixtureRequest,
    start_agent: Callable[..., Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Filled:
    home = tmp_path_factory.mktemp("api")
    agent = start_agent("--name", DEVICE_NAME)
    token_file = home / "agent.token"
    token_file.write_text(agent.token)
    token_file.chmod(0o600)
    registry = AgentsFile(home / "agents.toml")
    registry.add(AgentSpec(AGENT_NAME, agent.url, token_file=str(token_file)))
    # An agent that is down: GET /agents must say so within its timeout.
    registry.add(AgentSpec("down", f"http://127.0.0.1:{free_port()}"))
    if request.param == "sqlite":
        db = str(home / "lts.sqlite")
    else:  # a database of its own on the session's server, dropped with the server
        server = request.getfixturevalue("pg_server")
        db = server.url(server.create_database())
    config = SearchConfig.build(agents=[AGENT_NAME], iterations=2, seed=1, baseline_layers=[1, 3],
                                measure=MEASURE, **SMALL)  # fmt: skip
    with Store.open(db) as store:
        sid = start_search(store, config, name="filled").id
        runner = SearchRunner(store, sid, [registry.get(AGENT_NAME)])
        outcome = asyncio.run(runner.run())
        assert outcome.status == "done", [d.message for d in outcome.devices]
        # Two searches stopped before they reached any agent: pages for the list.
        interrupted = []
        for name in ("stopped-1", "stopped-2"):
            other = start_search(store, config, name=name).id
            store.set_search_status(other, "interrupted", "interrupted before it began")
            interrupted.append(other)
    return Filled(db, registry.path, sid, interrupted, agent.url, home)


@pytest.fixture(scope="session")
def server(filled: Filled) -> Iterator[Server]:
    """``controller serve`` on the filled store, with a controller token (reads open)."""
    token_file = filled.home / "controller.token"
    token_file.write_text(CONTROLLER_TOKEN + "\n")
    token_file.chmod(0o600)
    server = launch_server(filled.home, filled.db, filled.agents_file,
                           "--token-file", str(token_file))  # fmt: skip
    server.token = CONTROLLER_TOKEN
    yield server
    server.stop()


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client
