"""The candidates of searches (methods of :class:`lts.controller.store.Store`): what each
iteration proposed on each device, how each was measured and predicted, and the reads a
frontier, a count or a cursor needs."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from lts.controller.store._base import StoreBase, _chunks, _ensure_arch_rows
from lts.controller.store._types import utcnow
from lts.controller.store.convert import _floats, candidate_record
from lts.controller.store.models import (
    ArchitectureRow,
    CandidateRow,
    MeasurementRow,
    MeasurementValueRow,
    SearchRow,
)
from lts.controller.store.records import (
    MEASURES,
    CandidateCounts,
    CandidateFigures,
    CandidateRecord,
)
from lts.shared.config import ArchConfig
from lts.shared.errors import StoreError

#: What a candidate's origin may be: a short name an algorithm gives its operator.
ORIGIN = re.compile(r"[a-z][a-z0-9_-]{0,15}")


class CandidatesMixin(StoreBase):
    """Candidates of searches (methods of :class:`Store`)."""

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
            if not ORIGIN.fullmatch(origin):
                raise ValueError(f"an origin is a short lowercase name, not {origin!r}")
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
        rows: Sequence[tuple[str, str | None, Mapping[str, float | None]]],
    ) -> None:
        """Set ``(arch_id, measure, predicted values by objective)`` on candidates of one
        iteration (as :meth:`link_candidates` does their measurements): how each was measured
        (one of :data:`~lts.controller.store.records.MEASURES`, or None: not decided yet) and the
        cost model's predictions made when it was proposed (a None value: not predicted).
        Candidates not named are left alone."""
        for _, measure, _ in rows:
            if measure is not None and measure not in MEASURES:
                raise ValueError(f"unknown measure {measure!r}")
        if not rows:
            return
        with self._session() as s:
            by_arch = {a: (m, p) for a, m, p in rows}
            for row, arch_id in s.execute(_of_iteration(search_id, device_id, iteration)):
                if arch_id in by_arch:
                    measure, predicted = by_arch[arch_id]
                    row.measure = measure
                    row.predicted = {k: v for k, v in predicted.items() if v is not None}

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
        :meth:`candidates` (scalar columns and the objective values, no statistics: fast for
        a running search's frontier)."""
        with self._session() as s:
            columns = (
                ArchitectureRow.arch_id, CandidateRow.iteration, CandidateRow.measurement_id,
                CandidateRow.cache_hit, ArchitectureRow.decoder_params, ArchitectureRow.n_layer,
                ArchitectureRow.d_model, MeasurementRow.status, CandidateRow.measure,
                CandidateRow.predicted, CandidateRow.id, CandidateRow.origin,
            )  # fmt: skip
            q = (
                select(*columns)
                .join(ArchitectureRow, CandidateRow.architecture_id == ArchitectureRow.id)
                .outerjoin(MeasurementRow, CandidateRow.measurement_id == MeasurementRow.id)
                .where(CandidateRow.search_id == search_id, CandidateRow.device_id == device_id)
                .order_by(CandidateRow.iteration, CandidateRow.id)
            )
            rows = list(s.execute(q))
            v = MeasurementValueRow
            values: dict[int, dict[str, float]] = {}
            q2 = (
                select(v.measurement_id, v.objective, v.value)
                .join(CandidateRow, CandidateRow.measurement_id == v.measurement_id)
                .where(CandidateRow.search_id == search_id, CandidateRow.device_id == device_id)
            )
            for mid, objective, value in s.execute(q2):
                values.setdefault(mid, {})[objective] = value
            return [
                CandidateFigures(
                    arch, it, mid, hit, params, layers, width, status, dict(values.get(mid, {})),
                    measure, _floats(predicted), seq, origin,
                )
                for (arch, it, mid, hit, params, layers, width, status, measure, predicted, seq,
                     origin) in rows
            ]

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
                count(c.cache_hit.is_(True)),
                count(MeasurementRow.status.in_(("failed", "rejected"))),
            )
            .outerjoin(MeasurementRow, c.measurement_id == MeasurementRow.id)
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
    whose writers are serial anyway): see :meth:`CandidatesMixin.candidates_after`. ``NO KEY``:
    inserts elsewhere that merely reference the search are not held up."""
    found = s.scalar(
        select(SearchRow.id).where(SearchRow.id == search_id).with_for_update(key_share=True)
    )
    if found is None:
        raise StoreError(f"no search with id {search_id}")


