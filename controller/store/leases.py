"""Search leases: the one controller process allowed to run a search at a time.

A runner takes the lease of its search before it writes anything, renews it (a heartbeat)
while it runs and gives it back at the end. Another process finds the lease taken and is
refused, unless the caller's ``takeover`` rule says the holder is gone (its process is dead, or
its heartbeat is old); that rule is the caller's, the store only applies it atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from controller.store._base import StoreBase
from controller.store._types import utcnow
from controller.store.convert import lease_record
from controller.store.models import SearchLeaseRow
from controller.store.records import LeaseRecord
from shared.errors import SearchConflict


class LeasesMixin(StoreBase):
    """Take, renew, read and give back a search's lease."""

    def acquire_lease(
        self,
        search_id: int,
        owner: str,
        host: str,
        pid: int,
        takeover: Callable[[LeaseRecord], bool],
    ) -> LeaseRecord | None:
        """Take the lease of ``search_id`` for ``owner``; return the lease taken over from a
        holder that ``takeover`` judged gone (None if the lease was free or already ours).
        Raises :class:`SearchConflict` when another holder has it and is not gone."""
        with self._session() as s:
            row = s.get(SearchLeaseRow, search_id)
            now = utcnow()
            if row is None:
                s.add(SearchLeaseRow(search_id=search_id, owner=owner, host=host, pid=pid,
                                     acquired_at=now, heartbeat_at=now))  # fmt: skip
                try:
                    s.flush()
                except IntegrityError:  # another process took it between our read and write
                    raise SearchConflict(
                        f"search {search_id} was just started by another process"
                    ) from None
                return None
            held = lease_record(row)
            if row.owner != owner and not takeover(held):
                raise SearchConflict(
                    f"search {search_id} is being run by process {row.pid} on {row.host} "
                    f"(last heartbeat {held.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC); stop it first"
                )
            row.owner, row.host, row.pid = owner, host, pid
            row.acquired_at = row.heartbeat_at = now
            return None if held.owner == owner else held

    def renew_lease(self, search_id: int, owner: str) -> bool:
        """Record a heartbeat; False if ``owner`` no longer holds the lease (taken over)."""
        with self._session() as s:
            done = s.execute(
                update(SearchLeaseRow)
                .where(SearchLeaseRow.search_id == search_id, SearchLeaseRow.owner == owner)
                .values(heartbeat_at=utcnow())
            )
            return bool(done.rowcount)

    def release_lease(self, search_id: int, owner: str) -> None:
        """Give the lease back (nothing happens if ``owner`` does not hold it)."""
        with self._session() as s:
            s.execute(
                delete(SearchLeaseRow).where(
                    SearchLeaseRow.search_id == search_id, SearchLeaseRow.owner == owner
                )
            )

    def lease(self, search_id: int) -> LeaseRecord | None:
        """Who holds the lease of ``search_id`` (None: nobody)."""
        with self._session() as s:
            row = s.scalar(select(SearchLeaseRow).where(SearchLeaseRow.search_id == search_id))
            return None if row is None else lease_record(row)

    def leases(self, search_ids: Iterable[int]) -> dict[int, LeaseRecord]:
        """The leases held on these searches, by search id (a search nobody runs is absent)."""
        ids = list(set(search_ids))
        if not ids:
            return {}
        with self._session() as s:
            rows = s.scalars(select(SearchLeaseRow).where(SearchLeaseRow.search_id.in_(ids)))
            return {row.search_id: lease_record(row) for row in rows}
