"""What the Store's query mixins share: the transaction hook they run in, chunked ``IN``
queries, and the architecture rows (content-addressed by arch id) that measurements,
candidates and reported figures all point at."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.store._types import utcnow
from controller.store.models import ArchitectureRow
from shared.config import ArchConfig
from shared.params import count_params


class StoreBase(ABC):
    """The base of :class:`controller.store.Store` and its query mixins: it names the one
    thing the mixins need from the Store, a transaction."""

    @abstractmethod
    def _session(self) -> AbstractContextManager[Session]:
        """One transaction (commit or roll back); :class:`controller.store.Store` provides it."""


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
