"""A private PostgreSQL server for the tests (tests/ is on sys.path through tests/conftest.py).

:meth:`PostgresServer.start` runs the server's own ``initdb`` into a fresh temporary data
directory and starts ``postgres`` on a free port of 127.0.0.1, with its unix socket inside that
directory; :meth:`PostgresServer.create_database` makes an empty database per test and
:meth:`PostgresServer.stop` removes everything. Durability is switched off (``fsync``,
``synchronous_commit``, ``full_page_writes``): the data is thrown away anyway, and writes get
much cheaper on a busy CI machine.

PostgreSQL refuses to run as root. Run as root (as CI does), the data directory is handed to an
unprivileged account (``postgres`` when it exists, else ``nobody``) and the server's programs
run as that account; otherwise they run as the current user.

The binaries are found through ``pg_config --bindir`` or ``/usr/lib/postgresql/*/bin``
(Debian's layout, newest version first); :func:`find_bindir` says what is missing otherwise.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

#: The server's programs the helper needs.
PROGRAMS = ("initdb", "pg_ctl", "postgres")
#: The superuser that ``initdb`` creates (password-less: trust on loopback and the socket).
SUPERUSER = "lts"
INSTALL_HINT = "apt-get install postgresql (Debian/Ubuntu), or put pg_config on PATH"


class PostgresUnavailable(RuntimeError):
    """The server cannot be run here; the message names what is missing."""


def _has_programs(bindir: Path) -> bool:
    return all((bindir / p).is_file() for p in PROGRAMS)


def _version_key(path: str) -> tuple[int, ...]:
    name = Path(path).parent.name  # /usr/lib/postgresql/<version>/bin
    return tuple(int(x) for x in name.split(".") if x.isdigit())


def find_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    Raises :class:`PostgresUnavailable` naming the places looked at."""
    looked: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip():
            bindir = Path(done.stdout.strip())
            if _has_programs(bindir):
                return bindir
            looked.append(f"{bindir} (pg_config --bindir)")
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key,
                            reverse=True):  # fmt: skip
        if _has_programs(Path(candidate)):
            return Path(candidate)
        looked.append(candidate)
    where = ", ".join(looked) or "no pg_config on PATH and no /usr/lib/postgresql/*/bin"
    raise PostgresUnavailable(
        f"PostgreSQL server programs ({', '.join(PROGRAMS)}) not found (looked at: {where}); "
        f"{INSTALL_HINT}"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unprivileged_account() -> pwd.struct_passwd | None:
    """The account to run the server as: None when not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresUnavailable("running as root, and neither a 'postgres' nor a 'nobody' account")


def _temp_parent(account: pwd.struct_passwd | None) -> str:
    """Where the server's directory goes: the usual temporary directory, unless the server's
    account could not reach it (a private ``TMPDIR`` under root) or the socket's path in it
    would pass the 107-byte limit of a unix socket address; then ``/tmp``."""
    base = tempfile.gettempdir()
    too_long = len(base) > 60  # + "/lts-pg-XXXXXXXX/.s.PGSQL.NNNNN"
    if too_long or (account is not None and not _reachable_by_all(Path(base))):
        return "/tmp"
    return base


def _reachable_by_all(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


@dataclass
class PostgresServer:
    """One running server (see the module docstring). ``url(dbname)`` is a SQLAlchemy URL."""

    bindir: Path
    home: Path
    port: int = 0
    _account: pwd.struct_passwd | None = None
    _databases: int = 0
    _started: bool = field(default=False, repr=False)

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    @classmethod
    def start(cls) -> PostgresServer:
        """initdb into a new temporary directory and start the server; wait until it accepts
        connections. Raises :class:`PostgresUnavailable` (programs or account missing) or
        RuntimeError with the server's output (it would not start)."""
        bindir = find_bindir()
        account = _unprivileged_account()
        # Not under pytest's base temp: that is private to us (0700), and the server's account
        # must reach its own directory.
        home = Path(tempfile.mkdtemp(prefix="lts-pg-", dir=_temp_parent(account)))
        server = cls(bindir, home, _free_port(), account)
        try:
            server._init()
            server._run("pg_ctl", "-D", str(server.data), "-l", str(server.log), "-w",
                        "-t", "60", "start")  # fmt: skip
            server._started = True
        except BaseException:
            server.stop()
            raise
        return server

    def _init(self) -> None:
        if self._account is not None:
            os.chown(self.home, self._account.pw_uid, self._account.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                  "--encoding=UTF8", "--no-locale", "--no-sync")  # fmt: skip
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.home}'",
            "max_connections": "200",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            # Far from UTC (+05:45): a time stamp that leaned on the server's zone would show.
            "timezone": "'Asia/Kathmandu'",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# lts tests\n")
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())

    def _run(self, program: str, *args: str) -> None:
        cmd = [str(self.bindir / program), *args]
        kwargs: dict[str, object] = {}
        if self._account is not None:
            kwargs = {"user": self._account.pw_uid, "group": self._account.pw_gid,
                      "extra_groups": [], "cwd": str(self.home)}  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kwargs)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.is_file() else ""
            raise RuntimeError(
                f"{' '.join(cmd)} exited with {done.returncode}:\n{done.stdout}{done.stderr}{log}"
            )

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER,
                             dbname="postgres", autocommit=True) as conn:  # fmt: skip
            conn.execute(sql)

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        self._databases += 1
        name = f"lts_test_{self._databases}"
        self._admin(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name``, closing whatever connections a test left open to it."""
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        if self._started:
            self._started = False
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.home, ignore_errors=True)
