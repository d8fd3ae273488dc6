"""The test helper that runs a private PostgreSQL server (tests/pgserver.py): where it looks
for the server's programs, and what it says when they are missing."""

from __future__ import annotations

from pathlib import Path

import pgserver
import pytest


def _fake_install(root: Path, programs: tuple[str, ...] = pgserver.PROGRAMS) -> Path:
    bindir = root / "lib" / "bin"
    bindir.mkdir(parents=True)
    for name in programs:
        (bindir / name).write_text("#!/bin/sh\n")
    tools = root / "tools"
    tools.mkdir()
    pg_config = tools / "pg_config"
    pg_config.write_text(f"#!/bin/sh\necho {bindir}\n")
    pg_config.chmod(0o755)
    return bindir


def test_the_programs_are_found_through_pg_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = _fake_install(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path / 'tools'}:/usr/bin:/bin")
    assert pgserver.find_bindir() == bindir


def test_missing_programs_are_named_with_the_package_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_install(tmp_path, programs=("initdb",))  # a client-only install: no server
    monkeypatch.setenv("PATH", str(tmp_path / "tools"))
    monkeypatch.setattr(pgserver.glob, "glob", lambda pattern: [])
    with pytest.raises(pgserver.PostgresUnavailable) as err:
        pgserver.find_bindir()
    message = str(err.value)
    assert "initdb, pg_ctl, postgres" in message and "apt-get install postgresql" in message
    assert str(tmp_path / "lib" / "bin") in message  # where it looked


@pytest.mark.postgres
def test_a_server_starts_from_a_private_temporary_directory(
    pg_server: pgserver.PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest's temporary directories are private (0700): under root, the server's account
    could not reach a directory there, so the helper falls back to /tmp (``pg_server``: the
    session's server, so that this skips where there is none)."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    monkeypatch.setattr(pgserver.tempfile, "tempdir", str(private))
    server = pgserver.PostgresServer.start()
    try:
        name = server.create_database()
        assert server.url(name).endswith(f":{server.port}/{name}")
    finally:
        server.stop()
    assert not server.home.exists()
