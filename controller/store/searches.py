"""Searches and what they record: their devices (one agent each, with the algorithm's
resumable state), candidates per iteration, hypervolumes and the reported frontiers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from lts.controller.store._base import StoreBase, _arch_rows, _chunks, _ensure_arch_rows
from lts.controller.store._types import utcnow
from lts.controller.store.convert import (
    candidate_record,
    hypervolume_record,
    search_device_record,
    search_record,
)
from lts.controller.store.models import (
    ArchitectureRow,
    CandidateRow,
    HypervolumeRow,
    MeasurementRow,
    ReportedRow,
    SearchDeviceRow,
    SearchRow,
)
from lts.controller.store.records import (
    MEASURES,
    ORIGINS,
    CandidateCounts,
    CandidateFigures,
    CandidateRecord,
    HypervolumeRecord,
    ReportedRecord,
    SearchDeviceRecord,
    SearchRecord,
)
from lts.shared.config import ArchConfig
from lts.shared.errors import StoreError


class SearchesMixin(StoreBase):
    """Searches, search devices, candidates, hypervolumes and reported figures (methods of
    :class:`Store`)."""

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
            _lock_candidates_of(s, search_id)
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
            for row, arch_id in s.execute(_of_iteration(search_id, device_id, iteration)):
                if arch_id in by_arch:
                    row.measurement_id, row.cache_hit = by_arch[arch_id]

    def set_candidate_measure(
        self,
        search_id: int,
        device_id: int,
        iteration: int,
        rows: Sequence[tuple[str, str | None, float | None, float | None]],
    ) -> None:
        """Set ``(arch_id, measure, predicted latency ms, predicted peak memory MB)`` on
        candidates of one iteration (as :meth:`link_candidates` does their measurements):
        how each was measured (one of :data:`~controller.store.records.MEASURES`, or None:
        not decided yet) and the cost model's prediction made when it was proposed (None:
        no model was ready). Each row sets all three; candidates not named are left alone."""
        for _, measure, _, _ in rows:
            if measure is not None and measure not in MEASURES:
                raise ValueError(f"unknown measure {measure!r}")
        if not rows:
            return
        with self._session() as s:
            by_arch = {a: (m, lat, mem) for a, m, lat, mem in rows}
            for row, arch_id in s.execute(_of_iteration(search_id, device_id, iteration)):
                if arch_id in by_arch:
                    measure, latency_ms, memory_mb = by_arch[arch_id]
                    row.measure = measure
                    row.predicted_latency_ms = latency_ms
                    row.predicted_memory_mb = memory_mb

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

    def last_candidates(
        self, search_id: int, device_id: int, arch_ids: Sequence[str]
    ) -> dict[str, CandidateRecord]:
        """The last candidate (by iteration) of each of ``arch_ids`` on the device; an
        architecture never proposed there is absent."""
        found: dict[str, CandidateRecord] = {}
        with self._session() as s:
            for chunk in _chunks(list(set(arch_ids))):
                q = (
                    select(CandidateRow, ArchitectureRow.arch_id)
                    .join(ArchitectureRow, CandidateRow.architecture_id == ArchitectureRow.id)
                    .where(
                        CandidateRow.search_id == search_id,
                        CandidateRow.device_id == device_id,
                        ArchitectureRow.arch_id.in_(chunk),
                    )
                    .order_by(CandidateRow.iteration, CandidateRow.id)
                )
                found.update((a, candidate_record(r, a)) for r, a in s.execute(q))
        return found

    def candidate_figures(self, search_id: int, device_id: int) -> list[CandidateFigures]:
        """The candidates of one device with the figures a frontier needs, in the order of
        :meth:`candidates` (one query of scalar columns: fast for a running search's frontier)."""
        with self._session() as s:
            columns = (
                ArchitectureRow.arch_id, CandidateRow.iteration, CandidateRow.measurement_id,
                CandidateRow.cache_hit, ArchitectureRow.decoder_params, MeasurementRow.status,
                MeasurementRow.latency_ms, MeasurementRow.peak_memory_mb, CandidateRow.measure,
                CandidateRow.predicted_latency_ms, CandidateRow.predicted_memory_mb,
            )  # fmt: skip
            q = (
                select(*columns)
                .join(ArchitectureRow, CandidateRow.architecture_id == ArchitectureRow.id)
                .outerjoin(MeasurementRow, CandidateRow.measurement_id == MeasurementRow.id)
                .where(CandidateRow.search_id == search_id, CandidateRow.device_id == device_id)
                .order_by(CandidateRow.iteration, CandidateRow.id)
            )
            return [CandidateFigures(*row) for row in s.execute(q)]

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

    def candidate_counts(self, search_id: int) -> dict[int, CandidateCounts]:
        """Per device id, what the search did with its candidates (baselines excluded; see
        :class:`CandidateCounts`), in one query; a device without candidates is absent."""
        c = CandidateRow
        measured = and_(c.measurement_id.is_not(None), c.cache_hit.is_(False))
        full = or_(c.measure == "full", and_(c.measure.is_(None), c.measurement_id.is_not(None)))

        def count(condition: Any) -> Any:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        q = (
            select(
                c.device_id,
                func.count(c.id),
                count(measured),
                count(and_(measured, c.measure == "quick")),
                count(and_(measured, full)),
                count(c.measure == "screened"),
            )
            .where(c.search_id == search_id, c.iteration >= 0)
            .group_by(c.device_id)
        )
        with self._session() as s:
            return {
                device_id: CandidateCounts(*(int(n) for n in figures))
                for device_id, *figures in s.execute(q)
            }

    def candidates_after(
        self,
        search_id: int,
        after: int = 0,
        *,
        device_id: int | None = None,
        limit: int | None = None,
    ) -> list[tuple[int, CandidateRecord]]:
        """``(sequence number, candidate)`` pairs with a sequence number above ``after``, in
        sequence order (at most ``limit``): a cursor for following a running search.

        The sequence number is the row id. A cursor on it is only sound if, within one search,
        ids become visible in id order: a reader that has seen id 9 must never later find an
        id 8 committed after it. SQLite gives that for free (one writer at a time; ids are
        taken under its write lock). PostgreSQL takes an id from its sequence at insert time,
        not at commit, so two transactions adding candidates to one search could commit out of
        order. :meth:`add_candidates`, the only writer of candidate rows, therefore first locks
        the search's row (``SELECT ... FOR NO KEY UPDATE``) and keeps the lock until it
        commits: the candidate writers of one search run one after the other, each taking its
        ids and committing before the next one starts. This keeps the schema as it is (no
        second, per-search counter column) and costs nothing in practice, since one runner
        writes a search's candidates anyway (its lease); writers of different searches do not
        wait for each other, and an id gap left by a rolled-back insert is harmless."""
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


def _of_iteration(search_id: int, device_id: int, iteration: int) -> Select[CandidateRow, str]:
    """The candidates of one iteration of a search on one device, with their arch ids."""
    return (
        select(CandidateRow, ArchitectureRow.arch_id)
        .join(ArchitectureRow, CandidateRow.architecture_id == ArchitectureRow.id)
        .where(
            CandidateRow.search_id == search_id,
            CandidateRow.device_id == device_id,
            CandidateRow.iteration == iteration,
        )
    )


def _lock_candidates_of(s: Session, search_id: int) -> None:
    """Hold the search's row lock until the transaction ends (PostgreSQL; a no-op on SQLite,
    whose writers are serial anyway): see :meth:`SearchesMixin.candidates_after`. ``NO KEY``:
    inserts elsewhere that merely reference the search are not held up."""
    found = s.scalar(
        select(SearchRow.id).where(SearchRow.id == search_id).with_for_update(key_share=True)
    )
    if found is None:
        raise StoreError(f"no search with id {search_id}")


def _get_search_device(s: Session, search_device_id: int) -> SearchDeviceRow:
    row = s.get(SearchDeviceRow, search_device_id)
    if row is None:
        raise StoreError(f"no search device with id {search_device_id}")
    return row
