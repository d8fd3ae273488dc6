"""``POST /searches`` sends the agents' token only to the agents the server knows: names from
its agents file, or URLs it was started to allow (``--allow-agent-url``); a request naming
any other address is a 422 and that address hears nothing (issue 12, point 8)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from apiserver import Server, launch_server  # tests/controller/api is on sys.path

TOKEN = "agent-urls-controller-token"
AGENT_TOKEN = "agent-urls-secret-agent-token"


class Listener:
    """A TCP listener on 127.0.0.1 that records whatever any client sends it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.received = b""
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.settimeout(2)
            with contextlib.suppress(OSError):
                self.received += conn.recv(65536)
            conn.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.sock.close()


def _serve(home: Path, *options: str) -> Server:
    (home / "token").write_text(TOKEN)
    (home / "agent.token").write_text(AGENT_TOKEN)
    for name in ("token", "agent.token"):
        (home / name).chmod(0o600)
    server = launch_server(home, home / "lts.sqlite", home / "agents.toml",
                           "--token-file", str(home / "token"),
                           "--agent-token-file", str(home / "agent.token"), *options)  # fmt: skip
    server.token = TOKEN
    return server


def test_a_url_chosen_by_a_request_hears_nothing(tmp_path: Path, listener: Listener) -> None:
    server = _serve(tmp_path)
    try:
        with server.client() as api:
            for url in (listener.url, listener.url + "/"):
                r = api.post("/searches", json={"agents": [url], "iterations": 1})
                assert r.status_code == 422, r.text
                assert r.json()["field"] == "agents" and "--allow-agent-url" in r.json()["detail"]
            assert api.get("/searches").json()["count"] == 0  # nothing stored
        time.sleep(1)
        assert listener.connections == 0 and listener.received == b""
    finally:
        server.stop()


def test_an_allowed_url_gets_the_token(tmp_path: Path, listener: Listener) -> None:
    server = _serve(tmp_path, "--allow-agent-url", listener.url)
    try:
        with server.client() as api:
            r = api.post("/searches", json={"agents": [listener.url], "iterations": 1})
            # the pre-flight's GET /device carried the token; the listener, no agent, did not
            # answer it, so the search was refused and nothing stored
            assert f"Bearer {AGENT_TOKEN}".encode() in listener.received
            assert r.status_code == 422 and r.json()["field"] == "agents", r.text
            assert "nothing was stored" in r.json()["detail"]
            assert api.get("/searches").json()["count"] == 0
    finally:
        server.stop()
