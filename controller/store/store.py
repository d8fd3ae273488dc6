"""The result store: devices, architectures, the measurement cache and searches.

One :class:`Store` per database URL. Every public method runs in its own transaction through
:meth:`Store._session` (commit on success, rollback on error) and turns database errors into
:class:`shared.errors.StoreError`. Reads return the frozen records of
:mod:`controller.store.records`. The controller is meant to be the single writer; SQLite runs
in WAL mode with a busy timeout, so readers (``controller results``) never block it.

Not thread-safe: use one Store per thread (an asyncio program uses it from its loop thread).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from controller.store._types import utcnow
from controller.store.convert import (
    arch_record,
    candidate_record,
    device_record,
    hypervolume_record,
    measurement_record,
    search_device_record,
    search_record,
)
from controller.store.models import (
    ArchitectureRow,
    CandidateRow,
    DeviceRow,
    HypervolumeRow,
    MeasurementRow,
    ReportedRow,
    SearchDeviceRow,
    SearchRow,
)
from controller.store.records import (
    ORIGINS,
    ArchitectureRecord,
    CandidateRecord,
    DeviceRecord,
    HypervolumeRecord,
    MeasurementRecord,
    ReportedRecord,
    SearchDeviceRecord,
    SearchRecord,
)
from controller.store.schema import ensure_schema
from shared.config import ArchConfig
from shared.errors import StoreError
from shared.params import count_params
from shared.schemas import DeviceInfo, MeasurementResult

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


def settings_hash(settings_key: str) -> str:
    """SHA-256 (hex) of a settings key: the fixed-width part of the cache's unique key."""
    return hashlib.sha256(settings_key.encode()).hexdigest()


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


class Store:
    """The result store at ``url`` (any SQLAlchemy URL; see :func:`database_url`).

    Opening creates the schema in a new database and checks (or migrates) an existing one.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._engine = _make_engine(url)
            self.schema_version = ensure_schema(self._engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store at {_safe_url(url)}: {_reason(exc)}") from exc
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    @classmethod
    def open(cls, value: str | os.PathLike[str] | None = None) -> Store:
        """Open the store named by a URL or a path (None: the default file)."""
        return cls(database_url(value))

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
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    # ------------------------------------------------------------------------------ devices
    def upsert_device(self, name: str, info: DeviceInfo, url: str | None = None) -> DeviceRecord:
        """The device (name, ``info.fingerprint``), created or refreshed with ``info``."""
        with self._session() as s:
            row = s.scalar(
                select(DeviceRow).where(
                    DeviceRow.name == name, DeviceRow.fingerprint == info.fingerprint
                )
            )
            now = utcnow()
            if row is None:
                row = DeviceRow(name=name, fingerprint=info.fingerprint, first_seen=now)
                s.add(row)
            row.url = url
            row.info = info.model_dump(mode="json")
            row.last_seen = now
            s.flush()
            return device_record(row)

    def get_device(self, device_id: int) -> DeviceRecord:
        with self._session() as s:
            row = s.get(DeviceRow, device_id)
            if row is None:
                raise StoreError(f"no device with id {device_id}")
            return device_record(row)

    def list_devices(self) -> list[DeviceRecord]:
        with self._session() as s:
            return [device_record(r) for r in s.scalars(select(DeviceRow).order_by(DeviceRow.id))]

    # ------------------------------------------------------------------------ architectures
    def add_architectures(self, cfgs: Iterable[ArchConfig]) -> list[ArchitectureRecord]:
        """Store each config once (by content id); return the records in input order."""
        cfgs = list(cfgs)
        with self._session() as s:
            rows = _ensure_arch_rows(s, cfgs)
            return [arch_record(rows[c.arch_id]) for c in cfgs]

    def get_architecture(self, arch_id: str) -> ArchitectureRecord:
        with self._session() as s:
            row = s.scalar(select(ArchitectureRow).where(ArchitectureRow.arch_id == arch_id))
            if row is None:
                raise StoreError(f"no architecture with id {arch_id}")
            return arch_record(row)

    def architectures(self, arch_ids: Iterable[str]) -> dict[str, ArchitectureRecord]:
        ids = list(set(arch_ids))
        with self._session() as s:
            out: dict[str, ArchitectureRecord] = {}
            for chunk in _chunks(ids):
                q = select(ArchitectureRow).where(ArchitectureRow.arch_id.in_(chunk))
                out.update((r.arch_id, arch_record(r)) for r in s.scalars(q))
            return out

    # ------------------------------------------------------------------------- measurements
    def find_measurements(
        self, arch_ids: Iterable[str], device_id: int, settings_key: str
    ) -> dict[str, MeasurementRecord]:
        """Cached measurements of ``arch_ids`` on the device under ``settings_key``."""
        ids = list(set(arch_ids))
        key_hash = settings_hash(settings_key)
        with self._session() as s:
            out: dict[str, MeasurementRecord] = {}
            for chunk in _chunks(ids):
                q = (
                    select(MeasurementRow, ArchitectureRow.arch_id)
                    .join(ArchitectureRow, MeasurementRow.architecture_id == ArchitectureRow.id)
                    .where(
                        ArchitectureRow.arch_id.in_(chunk),
                        MeasurementRow.device_id == device_id,
                        MeasurementRow.settings_hash == key_hash,
                    )
                )
                out.update((a, measurement_record(m, a)) for m, a in s.execute(q))
            return out

    def add_measurement(
        self,
        cfg: ArchConfig,
        device_id: int,
        settings_key: str,
        *,
        result: MeasurementResult | None = None,
        status: str = "done",
        error: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> tuple[MeasurementRecord, bool]:
        """Store one measurement; return it and whether it was new.

        ``status`` ``done`` needs ``result``; ``failed``/``rejected`` need ``error``. If the
        cache already holds (architecture, device, settings_key), nothing is written and the
        stored record is returned with False: a measurement is never stored twice.
        """
        if status == "done" and result is None:
            raise ValueError("a done measurement needs its result")
        if status != "done" and not error:
            raise ValueError(f"a {status} measurement needs its error")
        key_hash = settings_hash(settings_key)
        with self._session() as s:
            arch = _ensure_arch_rows(s, [cfg])[cfg.arch_id]
            existing = _find_measurement(s, arch.id, device_id, key_hash)
            if existing is not None:
                return measurement_record(existing, cfg.arch_id), False
            row = _measurement_row(arch.id, device_id, settings_key, key_hash, status, error)
            if result is not None:
                _fill_result(row, result)
            elif settings is not None:
                row.settings = settings
            try:
                with s.begin_nested():
                    s.add(row)
            except IntegrityError:  # another writer stored it first
                existing = _find_measurement(s, arch.id, device_id, key_hash)
                if existing is None:
                    raise
                return measurement_record(existing, cfg.arch_id), False
            return measurement_record(row, cfg.arch_id), True

    def get_measurements(self, ids: Iterable[int]) -> dict[int, MeasurementRecord]:
        wanted = list(set(ids))
        with self._session() as s:
            out: dict[int, MeasurementRecord] = {}
            for chunk in _chunks(wanted):
                q = (
                    select(MeasurementRow, ArchitectureRow.arch_id)
                    .join(ArchitectureRow, MeasurementRow.architecture_id == ArchitectureRow.id)
                    .where(MeasurementRow.id.in_(chunk))
                )
                out.update((m.id, measurement_record(m, a)) for m, a in s.execute(q))
            return out

    def measurements_of(self, arch_id: str) -> list[MeasurementRecord]:
        """Every stored measurement of the architecture (any device and settings), by id."""
        with self._session() as s:
            q = (
                select(MeasurementRow)
                .join(ArchitectureRow, MeasurementRow.architecture_id == ArchitectureRow.id)
                .where(ArchitectureRow.arch_id == arch_id)
                .order_by(MeasurementRow.id)
            )
            return [measurement_record(m, arch_id) for m in s.scalars(q)]

    def count_measurements(self, device_id: int | None = None) -> int:
        with self._session() as s:
            q = select(func.count(MeasurementRow.id))
            if device_id is not None:
                q = q.where(MeasurementRow.device_id == device_id)
            return int(s.scalar(q) or 0)

    # ----------------------------------------------------------------------------- searches
    def create_search(
        self, settings: dict[str, Any], seed: int, name: str | None = None
    ) -> SearchRecord:
        with self._session() as s:
            now = utcnow()
            row = SearchRow(
                name=name,
                settings=settings,
                seed=seed,
                status="running",
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            return search_record(row)

    def get_search(self, search_id: int) -> SearchRecord:
        with self._session() as s:
            row = s.get(SearchRow, search_id)
            if row is None:
                raise StoreError(f"no search with id {search_id}")
            return search_record(row)

    def latest_search(self) -> SearchRecord | None:
        with self._session() as s:
            row = s.scalar(select(SearchRow).order_by(SearchRow.id.desc()).limit(1))
            return None if row is None else search_record(row)

    def find_search(self, search_id: int) -> SearchRecord | None:
        """The search, or None when there is no search with that id."""
        with self._session() as s:
            row = s.get(SearchRow, search_id)
            return None if row is None else search_record(row)

    def list_searches(self, *, offset: int = 0, limit: int | None = None) -> list[SearchRecord]:
        """Searches by id (ascending); ``offset``/``limit`` select a page."""
        with self._session() as s:
            q = select(SearchRow).order_by(SearchRow.id).offset(offset).limit(limit)
            return [search_record(r) for r in s.scalars(q)]

    def count_searches(self) -> int:
        with self._session() as s:
            return int(s.scalar(select(func.count(SearchRow.id))) or 0)

    def set_search_status(self, search_id: int, status: str, message: str | None = None) -> None:
        with self._session() as s:
            row = s.get(SearchRow, search_id)
            if row is None:
                raise StoreError(f"no search with id {search_id}")
            row.status = status
            row.message = message
            row.updated_at = utcnow()
            row.finished_at = utcnow() if status in ("done", "failed") else None

    # ----------------------------------------------------------------------- search devices
    def add_search_device(self, search_id: int, position: int, agent: str) -> SearchDeviceRecord:
        """The agent at ``position`` of the search, created once (idempotent)."""
        with self._session() as s:
            row = s.scalar(
                select(SearchDeviceRow).where(
                    SearchDeviceRow.search_id == search_id, SearchDeviceRow.position == position
                )
            )
            if row is None:
                row = SearchDeviceRow(
                    search_id=search_id,
                    position=position,
                    agent=agent,
                    status="pending",
                    iteration_done=-1,
                    state={},
                    updated_at=utcnow(),
                )
                s.add(row)
                s.flush()
            return search_device_record(row)

    def search_devices(self, search_id: int) -> list[SearchDeviceRecord]:
        with self._session() as s:
            q = (
                select(SearchDeviceRow)
                .where(SearchDeviceRow.search_id == search_id)
                .order_by(SearchDeviceRow.position)
            )
            return [search_device_record(r) for r in s.scalars(q)]

    def update_search_device(
        self,
        search_device_id: int,
        *,
        status: str | None = None,
        message: str | None = None,
        device_id: int | None = None,
        state: dict[str, Any] | None = None,
        clear_message: bool = False,
    ) -> SearchDeviceRecord:
        """Set the given fields (None leaves a field as it is)."""
        with self._session() as s:
            row = _get_search_device(s, search_device_id)
            if status is not None:
                row.status = status
            if message is not None or clear_message:
                row.message = message
            if device_id is not None:
                row.device_id = device_id
            if state is not None:
                row.state = state
            row.updated_at = utcnow()
            return search_device_record(row)

    def complete_iteration(
        self,
        search_device_id: int,
        iteration: int,
        *,
        hypervolume: float | None,
        frontier_size: int,
        n_measured: int,
        state: dict[str, Any],
    ) -> None:
        """Record that ``iteration`` is complete on the device (hypervolume and the algorithm's
        state after it) in one transaction: after a crash, resume starts from here."""
        with self._session() as s:
            row = _get_search_device(s, search_device_id)
            if row.device_id is None:
                raise StoreError("complete_iteration before the device is known")
            if iteration != row.iteration_done + 1:
                raise StoreError(
                    f"iteration {iteration} completed after {row.iteration_done}: out of order"
                )
            s.add(
                HypervolumeRow(
                    search_id=row.search_id,
                    device_id=row.device_id,
                    iteration=iteration,
                    hypervolume=hypervolume,
                    frontier_size=frontier_size,
                    n_measured=n_measured,
                    created_at=utcnow(),
                )
            )
            row.iteration_done = iteration
            row.state = state
            row.updated_at = utcnow()

    # --------------------------------------------------------------------------- candidates
    def add_candidates(
        self,
        search_id: int,
        device_id: int,
        iteration: int,
        candidates: Sequence[tuple[ArchConfig, str, Sequence[str]]],
    ) -> None:
        """Record ``(config, origin, parent ids)`` candidates of one iteration (idempotent:
        a candidate recorded before, e.g. by an interrupted run, is left as it is)."""
        for _, origin, _ in candidates:
            if origin not in ORIGINS:
                raise ValueError(f"unknown origin {origin!r}")
        with self._session() as s:
            archs = _ensure_arch_rows(s, [c for c, _, _ in candidates])
            q = select(CandidateRow.architecture_id).where(
                CandidateRow.search_id == search_id,
                CandidateRow.device_id == device_id,
                CandidateRow.iteration == iteration,
            )
            present = set(s.scalars(q))
            for cfg, origin, parents in candidates:
                arch_row = archs[cfg.arch_id]
                if arch_row.id in present:
                    continue
                present.add(arch_row.id)
                s.add(
                    CandidateRow(
                        search_id=search_id,
                        device_id=device_id,
                        iteration=iteration,
                        architecture_id=arch_row.id,
                        origin=origin,
                        parents=list(parents),
                        created_at=utcnow(),
                    )
                )

    def link_candidates(
        self,
        search_id: int,
        device_id: int,
        iteration: int,
        links: Sequence[tuple[str, int, bool]],
    ) -> None:
        """Attach ``(arch_id, measurement_id, cache_hit)`` to candidates of one iteration."""
        if not links:
            return
        with self._session() as s:
            by_arch = {a: (m, hit) for a, m, hit in links}
            q = (
                select(CandidateRow, ArchitectureRow.arch_id)
                .join(ArchitectureRow, CandidateRow.architecture_id == ArchitectureRow.id)
                .where(
                    CandidateRow.search_id == search_id,
                    CandidateRow.device_id == device_id,
                    CandidateRow.iteration == iteration,
                )
            )
            for row, arch_id in s.execute(q):
                if arch_id in by_arch:
                    row.measurement_id, row.cache_hit = by_arch[arch_id]

    def candidates(self, search_id: int, device_id: int | None = None) -> list[CandidateRecord]:
        """Candidates of a search (on one device), ordered by device, iteration, insertion."""
        with self._session() as s:
            q = (
                select(CandidateRow, ArchitectureRow.arch_id)
                .join(ArchitectureRow, CandidateRow.architecture_id == ArchitectureRow.id)
                .where(CandidateRow.search_id == search_id)
                .order_by(CandidateRow.device_id, CandidateRow.iteration, CandidateRow.id)
            )
            if device_id is not None:
                q = q.where(CandidateRow.device_id == device_id)
            return [candidate_record(r, a) for r, a in s.execute(q)]

    def count_candidates(
        self, search_id: int, device_id: int | None = None, *, baselines: bool = False
    ) -> int:
        """How many candidates the search proposed (on one device); the layer-scaled
        baselines (iteration -1) count only with ``baselines``."""
        with self._session() as s:
            q = select(func.count(CandidateRow.id)).where(CandidateRow.search_id == search_id)
            if not baselines:
                q = q.where(CandidateRow.iteration >= 0)
            if device_id is not None:
                q = q.where(CandidateRow.device_id == device_id)
            return int(s.scalar(q) or 0)

    def candidates_after(
        self,
        search_id: int,
        after: int = 0,
        *,
        device_id: int | None = None,
        limit: int | None = None,
    ) -> list[tuple[int, CandidateRecord]]:
        """``(sequence number, candidate)`` pairs with a sequence number above ``after``, in
        sequence order (at most ``limit``). The sequence number is the row id: it grows in the
        order candidates are recorded (commit order with SQLite's single writer), so it is a
        cursor for following a running search."""
        with self._session() as s:
            q = (
                select(CandidateRow, ArchitectureRow.arch_id)
                .join(ArchitectureRow, CandidateRow.architecture_id == ArchitectureRow.id)
                .where(CandidateRow.search_id == search_id, CandidateRow.id > after)
                .order_by(CandidateRow.id)
                .limit(limit)
            )
            if device_id is not None:
                q = q.where(CandidateRow.device_id == device_id)
            return [(r.id, candidate_record(r, a)) for r, a in s.execute(q)]

    # ------------------------------------------------------------------------ hypervolumes
    def hypervolumes(self, search_id: int, device_id: int | None = None) -> list[HypervolumeRecord]:
        with self._session() as s:
            q = (
                select(HypervolumeRow)
                .where(HypervolumeRow.search_id == search_id)
                .order_by(HypervolumeRow.device_id, HypervolumeRow.iteration)
            )
            if device_id is not None:
                q = q.where(HypervolumeRow.device_id == device_id)
            return [hypervolume_record(r) for r in s.scalars(q)]

    # ---------------------------------------------------------------------------- reported
    def set_reported(
        self,
        search_id: int,
        device_id: int,
        entries: Sequence[tuple[str, str, int | None, int | None]],
    ) -> None:
        """Replace the device's reported figures with ``(arch_id, role, search measurement id,
        final measurement id)`` entries (role ``frontier`` or ``baseline``)."""
        with self._session() as s:
            archs = {a.arch_id: a for a in _arch_rows(s, [e[0] for e in entries])}
            old = s.scalars(
                select(ReportedRow).where(
                    ReportedRow.search_id == search_id, ReportedRow.device_id == device_id
                )
            )
            for row in old:
                s.delete(row)
            s.flush()
            for arch_id, role, search_mid, final_mid in entries:
                if arch_id not in archs:
                    raise StoreError(f"no architecture with id {arch_id}")
                s.add(
                    ReportedRow(
                        search_id=search_id,
                        device_id=device_id,
                        architecture_id=archs[arch_id].id,
                        role=role,
                        search_measurement_id=search_mid,
                        final_measurement_id=final_mid,
                    )
                )

    def reported(self, search_id: int, device_id: int | None = None) -> list[ReportedRecord]:
        with self._session() as s:
            q = (
                select(ReportedRow, ArchitectureRow.arch_id)
                .join(ArchitectureRow, ReportedRow.architecture_id == ArchitectureRow.id)
                .where(ReportedRow.search_id == search_id)
                .order_by(ReportedRow.device_id, ReportedRow.id)
            )
            if device_id is not None:
                q = q.where(ReportedRow.device_id == device_id)
            return [
                ReportedRecord(
                    search_id=r.search_id,
                    device_id=r.device_id,
                    arch_id=a,
                    role=r.role,
                    search_measurement_id=r.search_measurement_id,
                    final_measurement_id=r.final_measurement_id,
                )
                for r, a in s.execute(q)
            ]


# ------------------------------------------------------------------------------- helpers
def _chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


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


def _arch_rows(s: Session, arch_ids: Sequence[str]) -> list[ArchitectureRow]:
    ids = list(set(arch_ids))
    rows: list[ArchitectureRow] = []
    for chunk in _chunks(ids):
        rows.extend(s.scalars(select(ArchitectureRow).where(ArchitectureRow.arch_id.in_(chunk))))
    return rows


def _ensure_arch_rows(s: Session, cfgs: Sequence[ArchConfig]) -> dict[str, ArchitectureRow]:
    by_id = {c.arch_id: c for c in cfgs}
    rows = {r.arch_id: r for r in _arch_rows(s, list(by_id))}
    for arch_id, cfg in by_id.items():
        if arch_id in rows:
            continue
        counts = count_params(cfg)
        row = ArchitectureRow(
            arch_id=arch_id,
            backbone=cfg.backbone,
            config=cfg.to_dict(),
            n_layer=cfg.n_layer,
            d_model=cfg.d_model,
            decoder_params=counts.decoder,
            total_params=counts.total,
            params=counts.as_dict(),
            created_at=utcnow(),
        )
        s.add(row)
        rows[arch_id] = row
    s.flush()
    return rows


def _find_measurement(
    s: Session, architecture_id: int, device_id: int, key_hash: str
) -> MeasurementRow | None:
    return s.scalar(
        select(MeasurementRow).where(
            MeasurementRow.architecture_id == architecture_id,
            MeasurementRow.device_id == device_id,
            MeasurementRow.settings_hash == key_hash,
        )
    )


def _measurement_row(
    architecture_id: int, device_id: int, key: str, key_hash: str, status: str, error: str | None
) -> MeasurementRow:
    return MeasurementRow(
        architecture_id=architecture_id,
        device_id=device_id,
        settings_hash=key_hash,
        settings_key=key,
        settings={},
        status=status,
        error=error,
        latency={},
        samples=[],
        memory={},
        context={},
        created_at=utcnow(),
    )


def _fill_result(row: MeasurementRow, result: MeasurementResult) -> None:
    stats = result.latency_ms
    row.latency_ms = stats.median
    row.latency = stats.model_dump(exclude={"samples"})
    row.samples = list(stats.samples)
    row.peak_memory_mb = result.peak_memory_mb
    row.memory = dict(result.memory)
    row.context = dict(result.context)
    row.settings = result.settings.model_dump(mode="json")


def _get_search_device(s: Session, search_device_id: int) -> SearchDeviceRow:
    row = s.get(SearchDeviceRow, search_device_id)
    if row is None:
        raise StoreError(f"no search device with id {search_device_id}")
    return row
