"""Candidates with their architecture and measurement, read in one SQL join (a method of
:class:`lts.controller.store.Store`): what the report, the API's candidate pages, plots and
exports read, instead of reading candidates, then architectures, then measurements."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import aliased

from lts.controller.store._base import StoreBase, _value_rows
from lts.controller.store.convert import arch_record, candidate_record, measurement_record
from lts.controller.store.models import ArchitectureRow, CandidateRow, MeasurementRow
from lts.controller.store.records import ArchitectureRecord, CandidateRecord, MeasurementRecord


@dataclass(frozen=True)
class CandidateJoin:
    """A candidate (``seq``: its sequence number, see :meth:`JoinsMixin.candidate_joins`),
    its architecture, and its measurement (None when it has none yet)."""

    seq: int
    candidate: CandidateRecord
    arch: ArchitectureRecord
    measurement: MeasurementRecord | None


class JoinsMixin(StoreBase):
    """Joined reads of candidates (methods of :class:`Store`)."""

    def candidate_joins(
        self,
        search_id: int,
        device_id: int | None = None,
        *,
        after: int | None = None,
        limit: int | None = None,
        samples: bool = False,
    ) -> list[CandidateJoin]:
        """The candidates of a search (on one device) with their architecture and measurement,
        in one query. Without ``after``: in the order of :meth:`Store.candidates` (device,
        iteration, insertion). With ``after``: those of sequence number above it, in sequence
        order (at most ``limit``), the cursor of :meth:`Store.candidates_after`. ``samples``:
        the measurements' statistics with their raw samples."""
        measured = aliased(ArchitectureRow)  # the measurement's architecture, for its arch id
        with self._session() as s:
            q = (
                select(CandidateRow, ArchitectureRow, MeasurementRow, measured.arch_id)
                .join(ArchitectureRow, CandidateRow.architecture_id == ArchitectureRow.id)
                .outerjoin(MeasurementRow, CandidateRow.measurement_id == MeasurementRow.id)
                .outerjoin(measured, MeasurementRow.architecture_id == measured.id)
                .where(CandidateRow.search_id == search_id)
            )
            if device_id is not None:
                q = q.where(CandidateRow.device_id == device_id)
            if after is None:
                q = q.order_by(CandidateRow.device_id, CandidateRow.iteration, CandidateRow.id)
            else:
                q = q.where(CandidateRow.id > after).order_by(CandidateRow.id)
            q = q.limit(limit)
            rows = list(s.execute(q))
            values = _value_rows(s, [m.id for _, _, m, _ in rows if m is not None],
                                 samples=samples)  # fmt: skip
            return [
                CandidateJoin(
                    seq=c.id,
                    candidate=candidate_record(c, a.arch_id),
                    arch=arch_record(a),
                    measurement=None if m is None
                    else measurement_record(m, m_arch, values.get(m.id, ())),
                )
                for c, a, m, m_arch in rows
            ]
