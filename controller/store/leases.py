"""Search leases: the one controller process allowed to run a search at a time.

A runner takes the lease of its search before it writes anything, renews it (a heartbeat)
while it runs and gives it back at the end. Another process finds the lease taken and is
refused, unless the caller's ``takeover`` rule says the holder is gone (its process is dead, or
its heartbeat is old); that rule is the caller's, the store only applies it atomically.

Atomic on every engine: taking a free lease inserts its row (the primary key refuses a second
insert), taking a held one is a conditional ``UPDATE ... WHERE owner = <judged holder> AND
heartbeat_at = <judged heartbeat>`` whose row count says whether this process won. Under
PostgreSQL's READ COMMITTED a second such update waits for the first to commit and then
re-checks its condition against the new row (no match: 0 rows); SQLite runs one writer at a
time. Either way, of several processes that judged the same holder gone, exactly one takes the
lease and the others get :class:`SearchConflict`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.exc import IntegrityError

from lts.controller.store._base import StoreBase
from lts.controller.store._types import utcnow
from lts.controller.store.convert import lease_record
from lts.controller.store.models import SearchLeaseRow
from lts.controller.store.records import LeaseRecord
from lts.shared.errors import SearchConflict


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
            if held.owner != owner and not takeover(held):
                raise SearchConflict(
                    f"search {search_id} is being run by process {held.pid} on {held.host} "
                    f"(last heartbeat {held.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC); stop it first"
                )
            # Take it only if it is still the lease we judged: same holder, same heartbeat.
            taken = s.execute(
                update(SearchLeaseRow)
                .where(
                    SearchLeaseRow.search_id == search_id,
                    SearchLeaseRow.owner == held.owner,
                    SearchLeaseRow.heartbeat_at == held.heartbeat_at,
                )
                .values(owner=owner, host=host, pid=pid, acquired_at=now, heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )
            if _rowcount(taken) != 1:
                raise SearchConflict(f"search {search_id} was just taken over by another process")
            return None if held.owner == owner else held

    def renew_lease(self, search_id: int, owner: str) -> bool:
        """Record a heartbeat; False if ``owner`` no longer holds the lease (taken over)."""
        with self._session() as s:
            done = s.execute(
                update(SearchLeaseRow)
                .where(SearchLeaseRow.search_id == search_id, SearchLeaseRow.owner == owner)
                .values(heartbeat_at=utcnow())
            )
            return bool(_rowcount(done))

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


def _rowcount(result: Result[Any]) -> int:
    """The number of rows an UPDATE or DELETE matched: the Session answers such a statement
    with a :class:`CursorResult` (typed as any :class:`Result`)."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"no row count in a {type(result).__name__} (not an UPDATE or DELETE)")
    return result.rowcount
