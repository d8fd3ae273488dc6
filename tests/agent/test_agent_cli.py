"""``agent`` on the command line: help, and bad options as one line with exit status 1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from testkit import console_script
from typer.testing import CliRunner

from lts.agent.cli import app
from lts.agent.device import usable_cpus

TOO_MANY = len(usable_cpus()) + 1


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def test_console_script_help_and_usage_errors_exit_1_in_one_line():
    cmd = console_script("agent")
    shown = subprocess.run([*cmd, "serve", "--help"], capture_output=True, text=True)
    assert shown.returncode == 0
    assert all(opt in shown.stdout for opt in ("--token-file", "--slots", "LTS_AGENT_PORT"))
    bad = subprocess.run([*cmd, "serve", "--port", "abc"], capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: Invalid value for '--port'")
    assert len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {}, "error: token: a token is required"),
        (("--token-file", "/no/such/token"), {}, "error: token-file: cannot read /no/such/token"),
        (("--no-auth", "--slots", str(TOO_MANY)), {}, f"error: slots: {TOO_MANY} slots but only"),
        (("--no-auth", "--threads", "4096"), {}, "error: --threads: Input should be less"),
        (("--no-auth",), {"LTS_AGENT_THREADS": "0"}, "error: --threads: Input should be greater"),
        (("--no-auth", "--runtime", "tvm"), {}, "error: --runtime: Input should be 'torch'"),
        (("--no-auth", "--device", "cuda"), {}, "error: device: no CUDA device found"),
        ((), {"LTS_AGENT_TOKEN": "  "}, "error: token: LTS_AGENT_TOKEN is empty"),
        ((), {"LTS_AGENT_TOKEN": "a"}, "error: token: the token in LTS_AGENT_TOKEN has 1 char"),
        (("--no-auth", "--host", "0.0.0.0"), {}, "error: no-auth: --host 0.0.0.0 can be reached"),
        ((), {"LTS_AGENT_NO_AUTH": "1", "LTS_AGENT_HOST": "::"}, "error: no-auth: --host ::"),
    ],
)
def test_bad_options_are_one_line_and_exit_1(args, env, message, monkeypatch):
    monkeypatch.delenv("LTS_AGENT_TOKEN", raising=False)
    if message.endswith("no CUDA device found"):
        from lts.agent import device

        monkeypatch.setattr(device, "detect_gpus", lambda: ())
    result = run("serve", *args, env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_empty_token_file_is_refused(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("\n")
    result = run("serve", "--token-file", str(token_file))
    assert result.exit_code == 1 and "is empty" in result.stderr


def test_short_token_file_is_refused_and_insecure_no_auth_is_explicit(tmp_path):
    from lts.agent.auth import load_token
    from lts.agent.settings import Settings

    token_file = tmp_path / "token"
    token_file.write_text("fifteen-chars-x\n")
    result = run("serve", "--token-file", str(token_file))
    assert result.exit_code == 1 and "has 15 characters; use at least 16" in result.stderr
    token_file.write_text("sixteen-chars-xx")
    assert load_token(Settings(token_file=token_file)) == "sixteen-chars-xx"
    # --no-auth is for loopback; another address needs --insecure-no-auth (which implies it)
    assert load_token(Settings(no_auth=True)) is None
    assert load_token(Settings(host="0.0.0.0", insecure_no_auth=True)) is None


def test_helper_start_timeout_comes_from_the_environment(tmp_path):
    """LTS_AGENT_HELPER_START_TIMEOUT_S reaches the measurement helpers: a real agent whose
    helpers may take 0.01 s to start refuses to start, and says why."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LTS_AGENT_HELPER_START_TIMEOUT_S": "0.01"}
    env.pop("LTS_AGENT_TOKEN", None)
    proc = subprocess.run(
        [sys.executable, "-m", "lts.agent.cli", "serve", "--no-auth", "--port", str(port)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "could not start the worker: worker gave no answer in 0 s" in proc.stderr
