"""Store faults (issue 12, point 6): a database locked by another writer for longer than the
busy timeout is waited out (bounded retries with backoff), and a full database stops the
search cleanly as ``interrupted`` with the reason, resumable once there is room again. Real
SQLite files; the lock is held by a second real connection; "full" is SQLite's own
SQLITE_FULL, reached through ``PRAGMA max_page_count`` on the store's connections."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import event
from test_search_runtime import FAST, FakeAgent, FakeClient, _config

from lts.controller.agents import AgentSpec
from lts.controller.search.runner import SearchRunner, start_search
from lts.controller.store import Store
from lts.shared.errors import StoreBusy, StoreFull


class _Holder:
    """A second real connection holding the write lock from ``start()`` until ``seconds`` pass
    or ``release()``; ``released`` is set once its COMMIT let the lock go."""

    def __init__(self, path: Path, seconds: float) -> None:
        self.path, self.seconds = path, seconds
        self.locked, self.released, self._release = (threading.Event() for _ in range(3))
        self.thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        conn = sqlite3.connect(self.path, timeout=5, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")  # the write lock, as another controller's write holds it
        self.locked.set()
        self._release.wait(self.seconds)
        conn.execute("COMMIT")
        self.released.set()
        conn.close()

    def start(self) -> _Holder:
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def release(self) -> None:
        self._release.set()
        self.thread.join()


def test_a_write_lock_held_past_the_busy_timeout_is_waited_out(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    with Store.open(db, busy_timeout_ms=200, retry_delays_s=(0.2, 0.4, 0.8)) as store:
        sid = start_search(store, _config(agents=["a"])).id
        holder = _Holder(db, 1.2).start()  # six times the busy timeout
        store.set_search_status(sid, "interrupted", "written once the lock was free")
        assert holder.released.is_set()  # the write waited the holder out (no clock involved)
        holder.release()
        assert store.get_search(sid).message == "written once the lock was free"

        # Held past every retry: a clear, bounded failure (not a hang, not a traceback), while
        # the lock is still held (the holder would hold it for a minute).
        holder = _Holder(db, 60.0).start()
        with pytest.raises(StoreBusy, match=r"database is locked.*after 4 attempts"):
            store.set_search_status(sid, "running")
        assert not holder.released.is_set()
        holder.release()


def test_a_full_store_stops_the_search_as_interrupted_and_resume_completes_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.sqlite"
    agent = FakeAgent("a")
    specs = [AgentSpec("a", "http://a")]

    def runner(store: Store, sid: int) -> SearchRunner:
        return SearchRunner(store, sid, specs, policy=FAST,
                            client_factory=lambda spec: FakeClient(agent, "a"))  # fmt: skip

    with Store.open(db) as store:
        sid = start_search(store, _config(agents=["a"])).id
    with sqlite3.connect(db) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]

    full = Store.open(db)
    limit = f"PRAGMA max_page_count = {pages + 4}"
    event.listen(full._engine, "connect", lambda dbapi, _: dbapi.execute(limit))
    full._engine.dispose()  # new connections: limited
    with pytest.raises(StoreFull, match="database or disk is full"):
        asyncio.run(runner(full, sid).run())
    search = full.get_search(sid)
    assert search.status == "interrupted"
    assert "database or disk is full" in search.message and f"--resume {sid}" in search.message
    assert full.lease(sid) is None  # released: nobody runs it
    measured_before = sum(agent.measured.values())
    assert measured_before > 0
    full.close()

    with Store.open(db) as store:  # room again
        outcome = asyncio.run(runner(store, sid).run())
        assert outcome.status == "done"
        assert set(agent.measured.values()) == {1}, "a measurement was taken twice"
        assert store.count_measurements() == len(agent.measured)


def test_a_search_goes_on_through_a_lock_held_past_the_busy_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "s.sqlite"
    agent = FakeAgent("a")
    with Store.open(db, busy_timeout_ms=100, retry_delays_s=(0.2, 0.4, 0.8, 1.6)) as store:
        sid = start_search(store, _config(agents=["a"])).id
        runner = SearchRunner(store, sid, [AgentSpec("a", "http://a")], policy=FAST,
                              client_factory=lambda spec: FakeClient(agent, "a"))  # fmt: skip

        async def run_with_a_lock_midway():
            task = asyncio.create_task(runner.run())
            while sum(agent.measured.values()) < 5:
                await asyncio.sleep(0.001)
            holder = _Holder(db, 1.5).start()  # fifteen times the busy timeout
            outcome = await task
            holder.thread.join()
            return outcome

        outcome = asyncio.run(run_with_a_lock_midway())
        assert outcome.status == "done"
        assert set(agent.measured.values()) == {1}
        assert store.count_measurements() == len(agent.measured)
    assert any("store busy: database is locked" in r.getMessage() for r in caplog.records)
