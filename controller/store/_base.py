"""What the Store's query mixins share: the transaction hook they run in, chunked ``IN``
queries, and the architecture rows (content-addressed by arch id) that measurements,
candidates and reported figures all point at."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lts.controller.store._types import utcnow
from lts.controller.store.convert import ValueRow, measurement_record
from lts.controller.store.models import ArchitectureRow, Base, MeasurementRow, MeasurementValueRow
from lts.controller.store.records import MeasurementRecord
from lts.shared.config import ArchConfig
from lts.shared.params import count_params


class StoreBase(ABC):
    """The base of :class:`lts.controller.store.Store` and its query mixins: it names the one
    thing the mixins need from the Store, a transaction."""

    @abstractmethod
    def _session(self) -> AbstractContextManager[Session]:
        """One transaction (commit or roll back); :class:`lts.controller.store.Store` provides
        it."""


def _chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _arch_rows(s: Session, arch_ids: Sequence[str]) -> list[ArchitectureRow]:
    ids = list(set(arch_ids))
    rows: list[ArchitectureRow] = []
    for chunk in _chunks(ids):
        rows.extend(s.scalars(select(ArchitectureRow).where(ArchitectureRow.arch_id.in_(chunk))))
    return rows


def _ensure_arch_rows(s: Session, cfgs: Sequence[ArchConfig]) -> dict[str, ArchitectureRow]:
    """The rows of ``cfgs``' architectures, the missing ones inserted. Two writers (two
    searches sharing the layer-scaled baselines) may insert the same new architecture at
    once: the insert skips a row that appeared meanwhile (``ON CONFLICT DO NOTHING`` on
    SQLite and PostgreSQL) and the rows are read again, instead of failing the second writer
    on the unique arch id."""
    by_id = {c.arch_id: c for c in cfgs}
    rows = {r.arch_id: r for r in _arch_rows(s, list(by_id))}
    missing = [cfg for arch_id, cfg in by_id.items() if arch_id not in rows]
    if missing:
        now = utcnow()
        s.execute(_insert_new(s, ArchitectureRow), [_arch_values(cfg, now) for cfg in missing])
        rows.update((r.arch_id, r) for r in _arch_rows(s, [c.arch_id for c in missing]))
    return rows


def _arch_values(cfg: ArchConfig, now: datetime) -> dict[str, Any]:
    counts = count_params(cfg)
    return {
        "arch_id": cfg.arch_id,
        "backbone": cfg.backbone,
        "config": cfg.to_dict(),
        "n_layer": cfg.n_layer,
        "d_model": cfg.d_model,
        "decoder_params": counts.decoder,
        "total_params": counts.total,
        "params": counts.as_dict(),
        "created_at": now,
    }


def _insert_new(s: Session, model: type[Base]) -> Any:
    """``INSERT`` that skips rows whose unique key exists (plain on other engines)."""
    name = s.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(model).on_conflict_do_nothing()
    return insert(model)


def _value_rows(
    s: Session, measurement_ids: Sequence[int], *, samples: bool = False
) -> dict[int, list[ValueRow]]:
    """The objective rows of each measurement id (``samples``: with the raw samples)."""
    v = MeasurementValueRow
    columns = (v.measurement_id, v.objective, v.value, v.stats, v.samples if samples else None)
    out: dict[int, list[ValueRow]] = {}
    for chunk in _chunks(list(set(measurement_ids))):
        q = select(*(c for c in columns if c is not None)).where(v.measurement_id.in_(chunk))
        for row in s.execute(q.order_by(v.id)):
            mid, objective, value, stats, *rest = row
            out.setdefault(mid, []).append((objective, value, stats, rest[0] if rest else None))
    return out


def _measurement_records(
    s: Session, rows: Sequence[tuple[MeasurementRow, str]], *, samples: bool = False
) -> list[MeasurementRecord]:
    """Records of ``(measurement row, arch id)`` pairs, each with its objective rows (one
    more query for all of them)."""
    values = _value_rows(s, [m.id for m, _ in rows], samples=samples)
    return [measurement_record(m, a, values.get(m.id, ())) for m, a in rows]
