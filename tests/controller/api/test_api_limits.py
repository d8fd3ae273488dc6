"""``controller serve`` refuses what it should before reading it: a body without the token
(401), a body over ``max_body_bytes`` (413), with or without a Content-Length, on a real
uvicorn server on 127.0.0.1; the server's memory does not grow with the body (issue 12,
point 2)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from apiserver import Server, launch_server  # tests/controller/api is on sys.path

TOKEN = "limits-test-token-0123456789"
BODY_MB = 300
CHUNK = b"x" * (1 << 20)


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("limits")
    token_file = home / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    server = launch_server(home, home / "lts.sqlite", home / "agents.toml",
                           "--token-file", str(token_file))  # fmt: skip
    server.token = TOKEN
    yield server
    server.stop()


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} for {pid}")


def _post_big(server: Server, *, token: str | None, chunked: bool) -> tuple[bytes, int]:
    """POST /searches with a ``BODY_MB`` body, sent in 1 MiB pieces; return the status line
    and the bytes of body the server took before it closed (the whole body if it drained)."""
    host, port = server.url.removeprefix("http://").split(":")
    head = ["POST /searches HTTP/1.1", f"Host: {host}:{port}",
            "Content-Type: application/json"]  # fmt: skip
    head += ["Transfer-Encoding: chunked"] if chunked else [f"Content-Length: {BODY_MB << 20}"]
    head += [f"Authorization: Bearer {token}"] if token else []
    sock = socket.create_connection((host, int(port)), timeout=30)
    answer: list[bytes] = []

    def read() -> None:
        try:
            answer.append(sock.recv(65536))
        except OSError:
            answer.append(b"")

    reader = threading.Thread(target=read)
    reader.start()
    sent = 0
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        for _ in range(BODY_MB):
            piece = (b"100000\r\n" + CHUNK + b"\r\n") if chunked else CHUNK
            sock.sendall(piece)
            sent += len(CHUNK)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except OSError:  # the server answered and closed: it need not read the rest
        pass
    reader.join(30)
    sock.close()
    return (answer[0].split(b"\r\n", 1)[0] if answer else b""), sent


@pytest.mark.parametrize(
    ("token", "chunked", "status"),
    [(None, False, b"401"), (None, True, b"401"), (TOKEN, False, b"413"), (TOKEN, True, b"413")],
)
def test_big_body_costs_no_memory(
    small_server: Server, token: str | None, chunked: bool, status: bytes
) -> None:
    pid = small_server.process.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
    before = _status_kb(pid, "VmRSS")
    started = time.monotonic()
    line, sent = _post_big(small_server, token=token, chunked=chunked)
    grown_mb = (_status_kb(pid, "VmHWM") - before) / 1024
    print(f"{BODY_MB} MB body, token={bool(token)}, chunked={chunked}: {line.decode()}, "
          f"{sent >> 20} MB sent, server peak +{grown_mb:.1f} MB, "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip
    assert status in line, line
    assert grown_mb < 50
    with small_server.client() as api:  # still serving
        assert api.get("/health").status_code == 200


def test_body_limit_and_token_with_httpx(small_server: Server) -> None:
    with small_server.client(token="") as anonymous:
        r = anonymous.post("/searches", content=b"{" * 5000)
        assert r.status_code == 401 and r.json()["detail"] == "missing or wrong bearer token"
    with small_server.client() as api:
        r = api.post("/searches", content=b" " * (2 << 20))
        assert r.status_code == 413 and "at most 1048576" in r.json()["detail"]
        r = api.post("/searches", json={"agents": ["x"], "name": "n" * 1000})
        assert r.status_code == 422  # a small body reaches validation


@pytest.mark.parametrize(
    ("host", "status"),
    [("evil.example", 400), ("evil.example:8800", 400), ("127.0.0.1.nip.io", 400),
     ("localhost", 200), ("127.0.0.1:1", 200), ("[::1]:8800", 200)],
)  # fmt: skip
def test_loopback_reads_answer_only_to_loopback_hosts(
    small_server: Server, host: str, status: int
) -> None:
    """DNS rebinding: a page whose name was rebound to 127.0.0.1 reads nothing."""
    with small_server.client(token="") as anonymous:
        r = anonymous.get("/searches", headers={"Host": host})
        assert r.status_code == status, r.text
        if status == 400:
            assert r.json()["field"] == "host"


def test_a_corrupted_row_is_a_409_not_a_500(tmp_path: Path) -> None:
    import sqlite3

    from lts.controller.search.config import SearchConfig
    from lts.controller.search.runner import start_search
    from lts.controller.store import Store
    from lts.shared.space import default_space

    db = tmp_path / "lts.sqlite"
    with Store.open(db) as store:
        start_search(store, SearchConfig.build(agents=["a"], space=default_space("gpt2").to_dict()))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE searches SET settings = '{broken'")
    server = launch_server(tmp_path, db, tmp_path / "agents.toml")
    try:
        with server.client(token="") as api:
            for path in ("/searches", "/searches/1"):
                r = api.get(path)
                assert r.status_code == 409, r.text
                assert "is corrupted" in r.json()["detail"]
        assert "Traceback" not in server.log.read_text()
    finally:
        server.stop()
