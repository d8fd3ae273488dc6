"""The result store: its engine, its transactions and the :class:`Store` that joins the
catalog (devices, architectures, measurement cache; :mod:`controller.store.catalog`) and the
searches (:mod:`controller.store.searches`).

One :class:`Store` per database URL. Every public method runs in its own transaction through
:meth:`Store._session` (commit on success, rollback on error) and turns database errors into
:class:`shared.errors.StoreError`. Reads return the frozen records of
:mod:`controller.store.records`. The controller is meant to be the single writer; SQLite runs
in WAL mode with a busy timeout, so readers (``controller results``) never block it.

Not thread-safe: use one Store per thread (an asyncio program uses it from its loop thread).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from controller.store.catalog import CatalogMixin
from controller.store.leases import LeasesMixin
from controller.store.schema import ensure_schema
from controller.store.searches import SearchesMixin
from shared.errors import CorruptRowError, StoreError

logger = logging.getLogger(__name__)

#: The database used when neither ``--db`` nor ``LTS_DB`` is given (relative to the cwd).
DEFAULT_DB = "lts.sqlite"
#: SQLite waits this long for a lock before failing (ms).
BUSY_TIMEOUT_MS = 10_000


def database_url(value: str | os.PathLike[str] | None = None) -> str:
    """A SQLAlchemy URL from ``value``: a URL is kept, a plain path becomes a SQLite file URL,
    None means :data:`DEFAULT_DB` in the current directory."""
    text = os.fspath(value) if value is not None else DEFAULT_DB
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _make_engine(url: str) -> Engine:
    kwargs: dict[str, Any] = {}
    is_sqlite = url.startswith("sqlite")
    if is_sqlite and url in ("sqlite://", "sqlite:///:memory:"):
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    engine = create_engine(url, **kwargs)
    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

    return engine


class Store(CatalogMixin, SearchesMixin, LeasesMixin):
    """The result store at ``url`` (any SQLAlchemy URL; see :func:`database_url`).

    Opening creates the schema in a new database and checks (or migrates) an existing one.
    The queries come from :class:`CatalogMixin`, :class:`SearchesMixin` and
    :class:`LeasesMixin`.
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            _sqlite_file(Path(url.removeprefix("sqlite:///").split("?", 1)[0]), create)
        try:
            self._engine = _make_engine(url)
            self.schema_version = ensure_schema(self._engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store at {_safe_url(url)}: {_reason(exc)}") from exc
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    @classmethod
    def open(cls, value: str | os.PathLike[str] | None = None, *, create: bool = True) -> Store:
        """Open the store named by a URL or a path (None: the default file). ``create``
        False: a SQLite file that does not exist is a :class:`StoreError` (read commands
        create nothing)."""
        return cls(database_url(value), create=create)

    def close(self) -> None:
        self._engine.dispose()

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
            session.rollback()
            raise StoreError(f"store error: {_reason(exc)}") from exc
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


# ------------------------------------------------------------------------------- helpers
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
