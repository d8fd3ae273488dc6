"""Searches and what they record: their devices (one agent each, with the algorithm's
resumable state), candidates per iteration, hypervolumes and the reported frontiers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lts.controller.store._base import StoreBase, _arch_rows
from lts.controller.store._types import utcnow
from lts.controller.store.convert import (
    hypervolume_record,
    search_device_record,
    search_record,
)
from lts.controller.store.models import (
    ArchitectureRow,
    HypervolumeRow,
    ReportedRow,
    SearchDeviceRow,
    SearchRow,
)
from lts.controller.store.records import (
    HypervolumeRecord,
    ReportedRecord,
    SearchDeviceRecord,
    SearchRecord,
)
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
        self.complete_iterations([(search_device_id, state)], iteration, hypervolume=hypervolume,
                                 frontier_size=frontier_size, n_measured=n_measured)  # fmt: skip

    def complete_iterations(
        self,
        states: Sequence[tuple[int, dict[str, Any]]],
        iteration: int,
        *,
        hypervolume: float | None,
        frontier_size: int,
        n_measured: int,
    ) -> None:
        """:meth:`complete_iteration` for several devices of one search at once, each with
        its ``(search device id, state)``, in one transaction (a joint search: one
        population, one iteration on every device)."""
        with self._session() as s:
            for search_device_id, state in states:
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
        *,
        roles: Sequence[str] = ("frontier", "baseline"),
    ) -> None:
        """Replace the device's reported figures of ``roles`` with ``(arch_id, role, search
        measurement id, final measurement id)`` entries. Roles: ``frontier`` and ``baseline``
        (the final phase's), ``cross`` (a model on another device's frontier, measured here
        at the end of the search: controller.search.cross)."""
        if any(e[1] not in roles for e in entries):
            raise StoreError(f"a reported entry's role is not one of {', '.join(roles)}")
        with self._session() as s:
            archs = {a.arch_id: a for a in _arch_rows(s, [e[0] for e in entries])}
            old = s.scalars(
                select(ReportedRow).where(
                    ReportedRow.search_id == search_id,
                    ReportedRow.device_id == device_id,
                    ReportedRow.role.in_(list(roles)),
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


def _get_search_device(s: Session, search_device_id: int) -> SearchDeviceRow:
    row = s.get(SearchDeviceRow, search_device_id)
    if row is None:
        raise StoreError(f"no search device with id {search_device_id}")
    return row
