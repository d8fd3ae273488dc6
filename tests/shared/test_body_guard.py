"""Request bodies and heads have deadlines and budgets that trickling bytes cannot stretch
(reliability review 2026-12-07, F1 and F11), on a real uvicorn server on 127.0.0.1 serving
a small app through :class:`shared.web.BodyGuard` and the guarded h11 protocol, as both
services do.

The deadlines here are 1 s; each test asserts what the server answers and that it closes the
connection, with bounds ten times the deadline (the machine is shared and noisy)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI, Request

from lts.shared.connections import guarded_protocol
from lts.shared.web import BodyGuard
from lts.shared.web_origin import SameOriginWrites

DEADLINE_S = 1.0
READERS = 2


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/form")
    async def form(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(BodyGuard, max_bytes=65536, timeout_s=DEADLINE_S, max_readers=READERS,
                       limits={"/form": 100})  # fmt: skip
    app.add_middleware(SameOriginWrites)
    return app


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    config = uvicorn.Config(
        _app(), host="127.0.0.1", port=free, log_config=None, log_level="warning",
        timeout_keep_alive=30,
        http=guarded_protocol(header_timeout_s=DEADLINE_S, max_connections=64),
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield free
    server.should_exit = True
    thread.join(10)


def _open(port: int, head: str, body: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10 * DEADLINE_S)
    sock.sendall(head.encode() + body)
    return sock


def _head(method: str, path: str, *lines: str) -> str:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *lines, "", ""])


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or 10 deadlines pass)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data
        if not chunk:
            return data
        data += chunk


def _first(sock: socket.socket) -> bytes:
    """The first answer on the connection: its head and its body (by its Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
    if b"HEAD" in head.split(b"\r\n")[0]:
        return data
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer else 0


def test_a_normal_body_is_read(port: int) -> None:
    sock = _open(port, _head("POST", "/echo", "Content-Length: 5", "Connection: close"), b"hello")
    answer = _answer(sock)
    assert _status(answer) == 200 and answer.endswith(b'{"bytes":5}')


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "OPTIONS"])
def test_a_body_on_a_request_that_takes_none_is_refused_unread(port: int, method: str) -> None:
    sock = _open(port, _head(method, "/health", "Content-Length: 1048576"), b" " * 1000)
    sock.settimeout(2)
    if method == "HEAD":
        assert _status(sock.recv(65536)) == 400
        return
    first = _first(sock)
    assert _status(first) == 400 and b"takes no body" in first


def test_a_refused_body_is_not_read_past_a_small_limit(port: int) -> None:
    """A client that goes on sending a refused body (64 MiB here) gets its answer, and the
    server stops reading after DISCARD_LIMIT: what it has not read stays in the kernel's
    buffers (a few MiB on loopback), so the send stalls well before the end."""
    sock = _open(port, _head("GET", "/health", f"Content-Length: {64 << 20}"))
    sock.setblocking(False)
    sent, chunk, started = 0, b" " * 65536, time.monotonic()
    while sent < 64 << 20 and time.monotonic() - started < 3:
        try:
            sent += sock.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            break
    assert sent < 32 << 20, sent  # discarding everything would have taken all 64 MiB
    sock.setblocking(True)
    assert _status(_first(sock)) == 400


def test_a_form_is_capped_before_it_is_read(port: int) -> None:
    sock = _open(port, _head("POST", "/form", "Content-Length: 5000"))
    first = _first(sock)
    assert _status(first) == 413 and b"at most 100" in first


def test_a_chunked_body_over_the_limit_is_refused(port: int) -> None:
    sock = _open(port, _head("POST", "/form", "Transfer-Encoding: chunked"), b"c8\r\n" + b"x" * 200)
    assert _status(_first(sock)) == 413


def test_a_trickled_body_gets_408_at_its_deadline_and_the_connection_closes(port: int) -> None:
    sock = _open(port, _head("POST", "/echo", "Content-Length: 1000"), b"x")
    started = time.monotonic()
    sock.settimeout(0.2)
    answer, closed = b"", False
    while time.monotonic() - started < 20 * DEADLINE_S and not closed:  # a byte every 0.2 s
        try:
            sock.send(b"x")
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            chunk = b""
        answer += chunk
        closed = not chunk
    assert _status(answer) == 408 and b"did not arrive within 1 s" in answer
    assert closed  # the rest of the body is never read: the head deadline closes it


def test_bodies_read_at_once_are_counted(port: int) -> None:
    head = _head("POST", "/echo", "Content-Length: 1000")
    slow = [_open(port, head, b"x") for _ in range(READERS)]
    time.sleep(0.2)  # both are reading their bodies now
    extra = _open(port, _head("POST", "/echo", "Content-Length: 10"), b"0123456789")
    first = _first(extra)
    assert _status(first) == 503 and b"retry-after: 1" in first.lower()
    for sock in slow:
        assert _status(_answer(sock)) == 408
    again = _open(port, _head("POST", "/echo", "Content-Length: 2", "Connection: close"), b"ok")
    assert _status(_answer(again)) == 200  # the budget is free again


def test_a_trickled_head_is_closed_at_its_deadline(port: int) -> None:
    """One byte used to cancel the header time-out: the connection stayed open for ever."""
    sock = _open(port, "G")
    sock.settimeout(0.2)
    started = time.monotonic()
    closed = False
    while time.monotonic() - started < 10 * DEADLINE_S:
        try:
            sock.send(b"E")
            closed = sock.recv(1) == b""
        except TimeoutError:
            continue
        except OSError:
            closed = True
        if closed:
            break
    assert closed


def test_the_next_head_on_a_kept_connection_has_a_deadline_too(port: int) -> None:
    sock = _open(port, _head("GET", "/health"))
    assert _status(_first(sock)) == 200
    sock.sendall(b"GET /hea")  # the next request's head, never completed
    sock.settimeout(10 * DEADLINE_S)
    assert sock.recv(1) == b""


def test_a_write_from_another_sites_page_is_refused(port: int) -> None:
    for header in ("Sec-Fetch-Site: cross-site", "Sec-Fetch-Site: same-site",
                   "Origin: http://localhost:18950", "Origin: null"):  # fmt: skip
        sock = _open(port, _head("POST", "/echo", header, "Content-Length: 2"), b"{}")
        first = _first(sock)
        assert _status(first) == 403 and b"another site" in first, header
    own = ["Origin: http://127.0.0.1"]  # the Host header of _head
    behind_a_proxy = ["Sec-Fetch-Site: same-origin", "Origin: https://lts.example"]
    for headers in (["Sec-Fetch-Site: same-origin"], own, ["Sec-Fetch-Site: none"],
                    behind_a_proxy):  # fmt: skip
        sock = _open(port, _head("POST", "/echo", *headers, "Content-Length: 2",
                                 "Connection: close"), b"{}")  # fmt: skip
        assert _status(_answer(sock)) == 200, headers
    sock = _open(port, _head("GET", "/health", "Sec-Fetch-Site: cross-site", "Connection: close"))
    assert _status(_answer(sock)) == 200  # reads are not writes


def test_the_guard_is_pure_asgi_and_never_reads_a_refused_body() -> None:
    """The refusal comes before the app's first receive(): nothing of the body is taken."""
    guard = BodyGuard(_app(), max_bytes=1024, limits={"/form": 10})
    sent: list[dict] = []

    async def receive() -> dict:
        raise AssertionError("the body was read")

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/form", "headers":
             [(b"content-length", b"11"), (b"host", b"x")], "query_string": b"",
             "app": None}  # fmt: skip
    asyncio.run(guard(scope, receive, send))
    assert sent[0]["status"] == 413


def test_the_guard_and_the_protocol_name_the_same_scope_key() -> None:
    from lts.shared import connections, web

    assert web.DISCARD_KEY == connections.DISCARD_KEY
