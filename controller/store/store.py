"""The result store: its engine, its transactions and the :class:`Store` that joins the
catalog (devices, architectures, measurement cache; :mod:`lts.controller.store.catalog`) and the
searches (:mod:`lts.controller.store.searches`).

One engine per database URL per process (:class:`_Engines`): every :class:`Store` opened on a
URL shares it, and it is disposed when the last of them closes. Every public method runs in a
session of its own, one transaction, through :meth:`Store._session` (commit on success,
rollback on error) and turns database errors into
:class:`lts.shared.errors.StoreError`: :class:`~lts.shared.errors.StoreBusy` for a database that is
locked or busy (another writer), :class:`~lts.shared.errors.StoreFull` for a full disk. Because
each public method is one transaction, a method that meets a busy database is run again, with
backoff (:data:`RETRY_DELAYS_S`, on top of SQLite's own busy timeout), before StoreBusy is
raised; a full disk is not retried (the caller stops cleanly and resumes later). Reads
return the frozen records of :mod:`lts.controller.store.records`.

Engines: SQLite (a file; the default) and PostgreSQL (``postgresql+psycopg://...``, the
``postgres`` extra), both tested against the real engine. What is SQLite-only is confined to
:func:`_make_engine`: WAL mode, a busy timeout (so readers such as ``controller results`` never
block the writer), foreign keys switched on, and a shared connection for ``sqlite://``. A
server database gets pre-pinged pooled connections (a connection the server closed is replaced
instead of failing a request). Everything else (the lease, the candidate cursor, the column
types) is written to be correct on both; see :mod:`lts.controller.store.leases`,
:meth:`Store.candidate_joins` and :mod:`lts.controller.store._types`.

Thread-safe: a Store holds no connection and no session between calls, only the engine,
whose pool lends each call its own connection, so one Store may serve many threads at once
(the API's worker threads, a search's lease heartbeat). SQLAlchemy opens file SQLite
connections with ``check_same_thread`` off, which is safe because a pooled connection is used
by one thread at a time; a busy database is retried per call in the calling thread. The one
exception is an in-memory database (``sqlite://``): it lives in a single connection, so its
Store (which never shares its engine) must be used by one thread at a time.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from lts.controller.store.candidates import CandidatesMixin
from lts.controller.store.catalog import CatalogMixin
from lts.controller.store.joins import JoinsMixin
from lts.controller.store.leases import LeasesMixin
from lts.controller.store.schema import check_schema, upgrade_schema
from lts.controller.store.searches import SearchesMixin
from lts.shared.errors import CorruptRowError, StoreBusy, StoreError, StoreFull

T = TypeVar("T")

logger = logging.getLogger(__name__)

#: The database used when neither ``--db`` nor ``LTS_DB`` is given (relative to the cwd).
DEFAULT_DB = "lts.sqlite"
#: SQLite waits this long for a lock before failing (ms).
BUSY_TIMEOUT_MS = 10_000
#: Pauses before each new attempt of a store method that met a locked or busy database. With
#: the busy timeout, a lock held by another process for up to about a minute is waited out.
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0)
#: What the database says when another writer holds it (SQLite; PostgreSQL's serialisation
#: failure, deadlock and lock-not-available codes).
_BUSY_TEXT = ("database is locked", "database is busy", "database table is locked")
_BUSY_PGCODES = frozenset({"40001", "40P01", "55P03"})
_FULL_TEXT = ("database or disk is full", "no space left on device", "disk quota exceeded")


#: The URLs of an in-memory SQLite database: private to its engine, so never shared.
_MEMORY_URLS = ("sqlite://", "sqlite:///:memory:")

#: URL schemes that name PostgreSQL without a driver: they get the driver of the ``postgres``
#: extra, psycopg 3 (SQLAlchemy would pick psycopg2, which LTS does not install).
_BARE_POSTGRES = ("postgresql://", "postgres://")
POSTGRES_SCHEME = "postgresql+psycopg://"


def database_url(value: str | os.PathLike[str] | None = None) -> str:
    """A SQLAlchemy URL from ``value``: a URL is kept (a bare ``postgresql://`` or
    ``postgres://`` gets the psycopg driver: ``postgresql+psycopg://``), a plain path becomes
    a SQLite file URL, None means :data:`DEFAULT_DB` in the current directory."""
    text = os.fspath(value) if value is not None else DEFAULT_DB
    for bare in _BARE_POSTGRES:
        if text.startswith(bare):
            return POSTGRES_SCHEME + text.removeprefix(bare)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _make_engine(url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Engine:
    kwargs: dict[str, Any] = {}
    is_sqlite = url.startswith("sqlite")
    if url in _MEMORY_URLS:
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        # The engine is shared by every thread of the process: a call never waits for a
        # pooled connection (beyond 5 kept open, the extra ones are closed when returned).
        kwargs.update(pool_size=5, max_overflow=-1)
    if not is_sqlite:
        kwargs.update(pool_pre_ping=True)
    engine = create_engine(url, **kwargs)
    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

    return engine


class _Engines:
    """The engines of this process: one per database URL (and busy timeout), shared by the
    Stores open on it and disposed when the last of them closes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[tuple[str, int], tuple[Engine, int]] = {}

    def acquire(self, url: str, busy_timeout_ms: int) -> Engine:
        if url in _MEMORY_URLS:  # the database is the engine's connection: its own
            return _make_engine(url, busy_timeout_ms)
        key = (url, busy_timeout_ms)
        with self._lock:
            engine, users = self._open.get(key) or (_make_engine(url, busy_timeout_ms), 0)
            self._open[key] = (engine, users + 1)
            return engine

    def release(self, engine: Engine) -> None:
        with self._lock:
            for key, (shared, users) in self._open.items():
                if shared is engine:
                    if users > 1:
                        self._open[key] = (shared, users - 1)
                        return
                    del self._open[key]
                    break
        engine.dispose()


_engines = _Engines()


class Store(CatalogMixin, SearchesMixin, CandidatesMixin, LeasesMixin, JoinsMixin):
    """The result store at ``url`` (any SQLAlchemy URL; see :func:`database_url`).

    Opening creates the schema in a new database and checks an existing one's version
    (:func:`lts.controller.store.schema.check_schema`: an older one needs :func:`upgrade`).
    Thread-safe (see the module docstring); :meth:`close` gives the shared engine back.
    The queries come from :class:`CatalogMixin`, :class:`SearchesMixin`,
    :class:`CandidatesMixin`, :class:`LeasesMixin`
    and :class:`JoinsMixin`; each is retried on a busy database (see the module docstring):
    ``busy_timeout_ms`` is SQLite's own wait, ``retry_delays_s`` the pauses between attempts.
    """

    def __init__(
        self,
        url: str,
        *,
        create: bool = True,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
    ) -> None:
        self.url = url
        self.retry_delays_s = tuple(retry_delays_s)
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            _sqlite_file(Path(url.removeprefix("sqlite:///").split("?", 1)[0]), create)
        self._engine = _acquire_engine(url, busy_timeout_ms)
        self._closed = False
        try:
            self.schema_version = _with_schema(self._engine, url, self.retry_delays_s, check_schema)
        except BaseException:
            self.close()
            raise
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    @classmethod
    def open(cls, value: str | os.PathLike[str] | None = None, **options: Any) -> Store:
        """Open the store named by a URL or a path (None: the default file); ``options`` as
        for the constructor (``create=False``: a SQLite file that does not exist is a
        :class:`StoreError`, so read commands create nothing)."""
        return cls(database_url(value), **options)

    def close(self) -> None:
        """Give the engine back (disposed when no other Store of this process uses it)."""
        if not self._closed:
            self._closed = True
            _engines.release(self._engine)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """One transaction: commit on success, roll back on any error; database errors become
        :class:`StoreError`."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            with suppress(SQLAlchemyError):
                session.rollback()
            raise _store_error(exc) from exc
        except OSError as exc:  # e.g. ENOSPC from the driver's own file handling
            with suppress(SQLAlchemyError):
                session.rollback()
            raise _store_error(exc) from exc
        except json.JSONDecodeError as exc:  # a JSON column's text was damaged
            session.rollback()
            raise CorruptRowError(
                f"a row of the store {_safe_url(self.url)} is corrupted: a JSON column does not "
                f"parse ({exc.msg} at character {exc.pos}); restore the file from a copy"
            ) from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def upgrade(
    value: str | os.PathLike[str] | None, *, retry_delays_s: Sequence[float] = RETRY_DELAYS_S
) -> tuple[int, int]:
    """Upgrade the existing store named by a URL or a path (None: the default file) to this
    release's schema version (:func:`lts.controller.store.schema.upgrade_schema`); return the
    versions before and after. Creates nothing. Raises :class:`StoreError`."""
    url = database_url(value)
    if url in _MEMORY_URLS:
        raise StoreError("an in-memory database has nothing to upgrade")
    if url.startswith("sqlite:///"):
        _sqlite_file(Path(url.removeprefix("sqlite:///").split("?", 1)[0]), create=False)
    engine = _acquire_engine(url, BUSY_TIMEOUT_MS)
    try:
        return _with_schema(engine, url, tuple(retry_delays_s), upgrade_schema)
    finally:
        _engines.release(engine)


def _acquire_engine(url: str, busy_timeout_ms: int) -> Engine:
    """The process's engine for ``url`` (:class:`_Engines`); a :class:`StoreError` for a URL
    SQLAlchemy cannot read or whose driver is not installed."""
    try:
        return _engines.acquire(url, busy_timeout_ms)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open the store at {_safe_url(url)}: {_reason(exc)}") from exc
    except ImportError as exc:
        hint = " (pip install 'lts[postgres]')" if "postgres" in url.split("://")[0] else ""
        raise StoreError(
            f"cannot open the store at {_safe_url(url)}: its database driver is not "
            f"installed: {exc}{hint}"
        ) from exc


def _with_schema(
    engine: Engine, url: str, retry_delays_s: Sequence[float], action: Callable[[Engine], T]
) -> T:
    """``action`` (check or upgrade the schema), again after each pause of ``retry_delays_s``
    while the database is busy: SQLite's switch to WAL mode can answer "database is locked" at
    once, without its busy timeout, while other processes open the same new file."""
    for pause in (*retry_delays_s, None):
        try:
            return action(engine)
        except SQLAlchemyError as exc:
            if pause is None or not isinstance(_store_error(exc), StoreBusy):
                reason = _reason(exc)
                raise StoreError(f"cannot open the store at {_safe_url(url)}: {reason}") from exc
            logger.warning("opening %s: %s; trying again in %.1f s",
                           _safe_url(url), _reason(exc), pause)  # fmt: skip
            engine.dispose()  # drop connections whose set-up failed half-way
            time.sleep(pause)
    raise AssertionError("unreachable")


def _retrying(method: Callable[..., T]) -> Callable[..., T]:
    """``method`` (a Store query: one transaction) run again after each pause of
    ``store.retry_delays_s`` while it meets a busy database; only the outermost call of a
    thread retries (a query that calls another does not multiply the waits)."""

    @functools.wraps(method)
    def call(store: Store, *args: Any, **kwargs: Any) -> T:
        if getattr(_retry_state, "active", False):
            return method(store, *args, **kwargs)
        _retry_state.active = True
        try:
            for pause in store.retry_delays_s:
                try:
                    return method(store, *args, **kwargs)
                except StoreBusy as exc:
                    logger.warning("%s; trying again in %.1f s", exc, pause)
                    time.sleep(pause)
            try:
                return method(store, *args, **kwargs)
            except StoreBusy as exc:
                waited = sum(store.retry_delays_s)
                raise StoreBusy(
                    f"{exc} (still, after {len(store.retry_delays_s) + 1} attempts over "
                    f"{waited:.0f} s besides the busy timeout)"
                ) from exc
        finally:
            _retry_state.active = False

    return call


_retry_state = threading.local()
for _mixin in (CatalogMixin, SearchesMixin, CandidatesMixin, LeasesMixin, JoinsMixin):
    for _name, _method in list(vars(_mixin).items()):
        if not _name.startswith("_") and inspect.isfunction(_method):
            setattr(_mixin, _name, _retrying(_method))


# ------------------------------------------------------------------------------- helpers
def _store_error(exc: BaseException) -> StoreError:
    """The project's error for a database error: busy, full, or any other. The errors it
    happened during count too (a full SQLite database rolls the transaction back, and
    releasing a savepoint then fails with "no such savepoint": the cause is the full disk)."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for cause in chain:
        reason = _reason(cause) if isinstance(cause, SQLAlchemyError) else str(cause)
        low = reason.lower()
        sqlstate = getattr(getattr(cause, "orig", None), "sqlstate", None)
        if any(text in low for text in _BUSY_TEXT) or sqlstate in _BUSY_PGCODES:
            return StoreBusy(f"store busy: {reason}")
        if any(text in low for text in _FULL_TEXT) or sqlstate == "53100":
            return StoreFull(f"store full: {reason}")
    first = _reason(exc) if isinstance(exc, SQLAlchemyError) else str(exc)
    return StoreError(f"store error: {first}")


def _sqlite_file(path: Path, create: bool) -> None:
    """Check a SQLite file's path; with ``create``, make its folder and the file itself,
    readable by its owner only (0600: the store holds agent URLs and results). Raises
    :class:`StoreError` with what is wrong (no such file, a folder that is a file)."""
    if path.exists():
        if path.is_dir():
            raise StoreError(f"{path} is a folder, not a database file")
        return
    if not create:
        raise StoreError(f"no database at {path} (nothing was stored there: check --db / LTS_DB)")
    existing = next(p for p in path.parents if p.exists())
    if not existing.is_dir():
        raise StoreError(f"cannot create the database {path}: {existing} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:  # created meanwhile by another process
        pass
    except OSError as exc:
        raise StoreError(f"cannot create the database {path}: {exc.strerror}") from None


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig) if orig is not None else str(exc).splitlines()[0]


def _safe_url(url: str) -> str:
    """The URL without a password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: say so without echoing secrets
        return "<invalid URL>"
