"""The agents file and the HTTP client's error classification (no network)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from lts.controller.agents import AgentsFile, AgentSpec, resolve_agents
from lts.controller.client import AgentClient, AgentRefused, AgentUnavailable, JobNotFound
from lts.shared.errors import ConfigError
from lts.shared.schemas import DeviceInfo, MeasureSettings


def test_add_list_remove_round_trip(tmp_path: Path) -> None:
    registry = AgentsFile(tmp_path / "cfg" / "agents.toml")
    assert registry.load() == {}
    token = tmp_path / "pi.token"
    token.write_text("s3cret\n")
    registry.add(AgentSpec("pi", "http://10.0.0.2:8900/", token_file=str(token)))
    registry.add(AgentSpec("laptop", "http://127.0.0.1:8900"))
    agents = AgentsFile(registry.path).load()
    assert list(agents) == ["laptop", "pi"]
    assert agents["pi"].url == "http://10.0.0.2:8900"
    assert agents["pi"].resolve_token() == "s3cret"
    assert agents["laptop"].resolve_token() is None
    with pytest.raises(ConfigError, match="already"):
        registry.add(AgentSpec("pi", "http://10.0.0.3:8900"))
    registry.add(AgentSpec("pi", "http://10.0.0.3:8900", token="t"), replace=True)
    assert registry.get("pi").token == "t"
    assert registry.path.stat().st_mode & 0o077 == 0  # it holds a token now
    registry.remove("laptop")
    assert list(registry.load()) == ["pi"]
    with pytest.raises(ConfigError, match="no agent named"):
        registry.remove("laptop")


def test_add_and_remove_keep_the_users_comments(tmp_path: Path) -> None:
    path = tmp_path / "agents.toml"
    path.write_text(
        "# my lab's agents\n"
        "\n"
        "[agents.pi]\n"
        'url = "http://10.0.0.2:8900"  # the Pi 4 in the hall\n'
        "# its token lives next to this file\n"
        'token_file = "~/pi.token"\n'
    )
    registry = AgentsFile(path)
    registry.add(AgentSpec("box", "http://10.0.0.9:8900"))
    registry.add(AgentSpec("laptop", "http://127.0.0.1:8900"))
    registry.remove("box")
    text = path.read_text()
    for comment in (
        "# my lab's agents",
        "# the Pi 4 in the hall",
        "# its token lives next to this file",
    ):
        assert comment in text
    assert "box" not in text
    assert list(registry.load()) == ["laptop", "pi"]
    assert registry.get("pi").token_file == "~/pi.token"


def test_invalid_files_and_values(tmp_path: Path) -> None:
    path = tmp_path / "agents.toml"
    path.write_text("[agents.pi]\nport = 1\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        AgentsFile(path).load()
    path.write_text("[agents.pi\n")
    with pytest.raises(ConfigError, match="TOML"):
        AgentsFile(path).load()
    registry = AgentsFile(tmp_path / "b.toml")
    with pytest.raises(ConfigError):
        registry.add(AgentSpec("pi", "ftp://host"))
    with pytest.raises(ConfigError):
        registry.add(AgentSpec("bad name", "http://host:1"))
    with pytest.raises(ConfigError, match="cannot read"):
        AgentSpec("x", "http://h:1", token_file=str(tmp_path / "missing")).resolve_token()


def test_resolve_names_and_urls(tmp_path: Path) -> None:
    registry = AgentsFile(tmp_path / "agents.toml")
    registry.add(AgentSpec("pi", "http://10.0.0.2:8900"))
    specs = resolve_agents(["pi", " http://127.0.0.1:9000/ "], registry, token_file="/t")
    assert [(s.name, s.url, s.token_file) for s in specs] == [
        ("pi", "http://10.0.0.2:8900", None),
        (None, "http://127.0.0.1:9000", "/t"),
    ]
    with pytest.raises(ConfigError, match="twice"):
        resolve_agents(["pi", "http://10.0.0.2:8900"], registry)
    with pytest.raises(ConfigError, match="no agent named 'nope'"):
        resolve_agents(["nope"], registry)
    with pytest.raises(ConfigError):
        resolve_agents([], registry)


def _client(handler) -> AgentClient:
    return AgentClient("http://agent", "tok", transport=httpx.MockTransport(handler))


def test_client_sends_the_token_and_parses_answers() -> None:
    info = DeviceInfo(
        name="a", fingerprint="f", hostname="h", os="linux", machine="x86_64", cpu_model="c",
        cores_logical=2, memory_total_mb=1.0, defaults=MeasureSettings(),
    )  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer tok"
        return httpx.Response(200, json=info.model_dump(mode="json"))

    assert asyncio.run(_client(handler).device()) == info


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(401, json={"detail": "bad token"}), AgentRefused),
        (httpx.Response(422, json={"detail": "x", "field": "items[0].arch.n_head"}), AgentRefused),
        (httpx.Response(404, json={"detail": "no job"}), JobNotFound),
        (
            httpx.Response(429, json={"detail": "full"}, headers={"Retry-After": "3"}),
            AgentUnavailable,
        ),
        (httpx.Response(503, text="starting"), AgentUnavailable),
        (httpx.Response(200, json={"not": "a job"}), AgentRefused),
    ],
)
def test_client_error_classes(response: httpx.Response, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        asyncio.run(_client(lambda request: response).job("j1"))
    if isinstance(caught.value, AgentRefused) and response.status_code == 422:
        assert caught.value.field == "items[0].arch.n_head"
    if response.status_code == 429:
        assert caught.value.retry_after_s == 3.0


def test_unreachable_agent_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(AgentUnavailable, match="cannot reach"):
        asyncio.run(_client(handler).health())
