"""Idle connections cannot starve the agent (issue 12, point 4): a real ``agent serve`` whose
file limit is 1024 (soft and hard, so raising it cannot help) keeps serving real requests
while 1,100 connections sit idle, closes connections that send no request head, and logs no
traceback storm."""

from __future__ import annotations

import os
import resource
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from testkit import SERVER_START_S, wait_healthy

IDLE = 1100


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _limit_files(soft: int, hard: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return apply


def test_idle_connections_do_not_starve_a_real_request(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(32)
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "token").chmod(0o600)
    port, log = _free_port(), tmp_path / "agent.log"
    cmd = [sys.executable, "-m", "lts.agent.cli", "serve", "--port", str(port),
           "--token-file", str(tmp_path / "token")]  # fmt: skip
    env = {**os.environ, "LTS_AGENT_HEADER_TIMEOUT_S": "3"}
    with log.open("wb") as out:
        agent = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
            preexec_fn=_limit_files(1024, 1024),
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    idle: list[socket.socket] = []
    try:
        wait_healthy(url, agent, log, "agent", timeout_s=SERVER_START_S)
        for _ in range(IDLE):  # bounded: 1,100 connections that never send a byte
            try:
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                break
        assert len(idle) == IDLE
        t0 = time.monotonic()
        answer = httpx.get(f"{url}/device", headers={"Authorization": f"Bearer {token}"},
                           timeout=5)  # fmt: skip
        served_s = time.monotonic() - t0
        assert answer.status_code == 200, answer.text
        assert served_s < 5
        print(f"served in {served_s:.3f} s with {IDLE} idle connections")

        # The header time-out (3 s here) closes every connection that sent no request head.
        deadline = time.monotonic() + 15
        for sock in idle[-50:]:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            assert sock.recv(1) == b""  # EOF: the agent closed it
        assert agent.poll() is None
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
    finally:
        for sock in idle:
            sock.close()
        agent.terminate()
        agent.wait(30)
    text = log.read_text()
    assert "Traceback" not in text and "Too many open files" not in text, text[-3000:]
    assert len(text.splitlines()) < 100, text[-3000:]


def test_the_agent_raises_its_soft_file_limit_to_the_hard_one() -> None:
    code = (
        "import resource\n"
        "from lts.shared.connections import raise_open_files_limit\n"
        "print(*raise_open_files_limit(), *resource.getrlimit(resource.RLIMIT_NOFILE))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        preexec_fn=_limit_files(512, 2048),
    ).stdout.split()  # fmt: skip
    assert out == ["2048", "2048", "2048", "2048"]
