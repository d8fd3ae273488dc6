"""The store's schema version on a real engine (``store_url``: a SQLite file and a PostgreSQL
database): a store refuses a database at another version, ``controller db upgrade`` applies the
migration steps in one transaction, and one engine per URL is shared by the Stores of a process
and by its threads."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, inspect, text
from typer.testing import CliRunner

from lts.controller.cli import app
from lts.controller.store import SCHEMA_VERSION, Store, database_url
from lts.controller.store import schema as schema_mod
from lts.controller.store.store import upgrade
from lts.shared.config import ArchConfig
from lts.shared.errors import StoreError
from lts.shared.schemas import DeviceInfo, MeasureSettings

cli = CliRunner()


def _sql(url: str, sql: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql))
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def older_store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store written at version ``SCHEMA_VERSION`` while this release is made to read
    ``SCHEMA_VERSION + 2``, whose two steps add a table and then a column to it."""
    Store(store_url).close()

    def add_table(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE extra_notes (id INTEGER PRIMARY KEY)"))

    def add_column(conn: Connection) -> None:
        conn.execute(text("ALTER TABLE extra_notes ADD COLUMN note VARCHAR(20)"))

    monkeypatch.setattr(schema_mod, "SCHEMA_VERSION", SCHEMA_VERSION + 2)
    monkeypatch.setattr(
        schema_mod, "MIGRATIONS", {SCHEMA_VERSION: add_table, SCHEMA_VERSION + 1: add_column}
    )
    return store_url


def test_an_older_database_is_refused_naming_the_upgrade(older_store: str) -> None:
    with pytest.raises(StoreError) as err:
        Store(older_store)
    message = str(err.value)
    assert f"schema version {SCHEMA_VERSION}, older than this release's" in message
    assert "controller db upgrade --db " in message
    assert _sql(older_store, "SELECT version FROM lts_schema") == [(SCHEMA_VERSION,)]


def test_upgrade_applies_the_steps_in_order_then_the_store_opens(older_store: str) -> None:
    assert upgrade(older_store) == (SCHEMA_VERSION, SCHEMA_VERSION + 2)
    assert _sql(older_store, "SELECT version FROM lts_schema") == [(SCHEMA_VERSION + 2,)]
    _sql(older_store, "INSERT INTO extra_notes (id, note) VALUES (1, 'added by step 2')")
    with Store(older_store) as store:
        assert store.schema_version == SCHEMA_VERSION + 2
    assert upgrade(older_store) == (SCHEMA_VERSION + 2, SCHEMA_VERSION + 2)  # nothing to do


def test_a_failing_step_leaves_the_database_as_it_was(
    older_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(conn: Connection) -> None:
        raise RuntimeError("step 2 failed")

    monkeypatch.setitem(schema_mod.MIGRATIONS, SCHEMA_VERSION + 1, broken)
    with pytest.raises(RuntimeError, match="step 2 failed"):
        upgrade(older_store)
    assert _sql(older_store, "SELECT version FROM lts_schema") == [(SCHEMA_VERSION,)]
    assert "extra_notes" not in _tables(older_store)  # step 1 was rolled back with it


def test_a_missing_step_is_refused(older_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(schema_mod.MIGRATIONS, SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match=f"no migration from schema version {SCHEMA_VERSION + 1}"):
        upgrade(older_store)
    assert _sql(older_store, "SELECT version FROM lts_schema") == [(SCHEMA_VERSION,)]


def test_the_released_steps_cover_every_version() -> None:
    assert sorted(schema_mod.MIGRATIONS) == list(range(1, SCHEMA_VERSION))


def test_a_newer_database_is_refused_by_the_store_and_by_the_upgrade(store_url: str) -> None:
    Store(store_url).close()
    _sql(store_url, f"UPDATE lts_schema SET version = {SCHEMA_VERSION + 1}")
    for attempt in (lambda: Store(store_url), lambda: upgrade(store_url)):
        with pytest.raises(StoreError, match=r"newer than this release's.*upgrade lts"):
            attempt()


def test_a_database_lacking_a_table_or_column_of_its_version_is_refused(store_url: str) -> None:
    Store(store_url).close()
    _sql(store_url, "DROP TABLE search_leases")
    with pytest.raises(StoreError, match="lacks the table search_leases"):
        Store(store_url)
    _sql(store_url, "DELETE FROM lts_schema")
    with pytest.raises(StoreError, match="schema version table is empty"):
        Store(store_url)


def test_a_dropped_column_is_refused(store_url: str) -> None:
    Store(store_url).close()
    _sql(store_url, "ALTER TABLE searches DROP COLUMN message")
    with pytest.raises(StoreError, match="lacks the columns message of the table searches"):
        Store(store_url)


def test_upgrade_creates_nothing(tmp_path: Path, store_url: str) -> None:
    missing = tmp_path / "none.sqlite"
    with pytest.raises(StoreError, match="no database at"):
        upgrade(missing)
    assert not missing.exists()
    _sql(store_url, "SELECT 1")  # an empty database (SQLite: an empty file)
    with pytest.raises(StoreError, match="no LTS store"):
        upgrade(store_url)  # an empty database
    assert _tables(store_url) == set()


def test_db_upgrade_command_exit_codes(older_store: str, tmp_path: Path) -> None:
    done = cli.invoke(app, ["db", "upgrade", "--db", older_store])
    assert done.exit_code == 0, done.output
    assert done.output == (
        f"upgraded the store from schema version {SCHEMA_VERSION} to {SCHEMA_VERSION + 2}\n"
    )
    again = cli.invoke(app, ["db", "upgrade", "--db", older_store])
    assert again.exit_code == 0 and "nothing to do" in again.output
    missing = cli.invoke(app, ["db", "upgrade", "--db", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 1
    assert missing.output.count("\n") == 1 and missing.output.startswith("error: no database at")


def test_the_stores_of_one_url_share_one_engine(store_url: str) -> None:
    with Store(store_url) as first, Store(store_url) as second:
        assert first._engine is second._engine
        first.close()
        assert second.create_search({}, seed=1).id == 1  # the engine lives on for the second
    with Store(store_url) as later:
        assert later._engine is not first._engine  # the last close disposed of it
    with Store("sqlite://") as one, Store("sqlite://") as other:
        assert one._engine is not other._engine  # an in-memory database is its engine's own
        one.create_search({}, seed=1)
        assert other.latest_search() is None


def test_one_store_serves_many_threads_at_once(store_url: str) -> None:
    """The API's worker threads and a lease heartbeat share one Store: writes and reads from
    eight threads at once all land, each in its own session."""
    with Store(store_url) as store:
        start = threading.Barrier(8, timeout=30)
        made: list[int] = []
        errors: list[BaseException] = []

        def work(seed: int) -> None:
            try:
                start.wait()
                for n in range(5):
                    sid = store.create_search({"n": n}, seed=seed).id
                    assert store.get_search(sid).seed == seed
                    made.append(sid)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert sorted(made) == list(range(1, 41))
        assert store.latest_search().id == 40


# ------------------------------------------------------------------------ version 1 to 2
_V2_COLUMNS = ("measure", "predicted_latency_ms", "predicted_memory_mb")


def _version_1_store(url: str) -> tuple[int, int, str, str]:
    """A database as version 1 wrote it: a search on one device with a candidate measured in
    full and one not measured, then the schema taken back to version 1 (the columns version 2
    added dropped, the version set back). Returns (search id, device id, measured arch id,
    unmeasured arch id)."""
    a, b = (
        ArchConfig.from_dict({"backbone": "gpt2", "n_layer": n, "d_model": 64, "n_head": 2,
                              "d_inner": 128, "n_token": 1000, "cutoffs": [200, 500]})
        for n in (1, 2)
    )  # fmt: skip
    with Store(url) as store:
        dev = store.upsert_device("box", _device_info())
        sid = store.create_search({}, seed=1).id
        store.add_candidates(sid, dev.id, 0, [(a, "random", ()), (b, "random", ())])
        m, _ = store.add_measurement(a, dev.id, "k", status="failed", error="killed")
        store.link_candidates(sid, dev.id, 0, [(a.arch_id, m.id, False)])
    for column in _V2_COLUMNS:
        _sql(url, f"ALTER TABLE candidates DROP COLUMN {column}")
    _sql(url, "UPDATE lts_schema SET version = 1")
    return sid, dev.id, a.arch_id, b.arch_id


def _device_info() -> DeviceInfo:
    return DeviceInfo(name="box", fingerprint="fp", hostname="h", os="linux", machine="x86_64",
                      cpu_model="cpu", cores_logical=2, memory_total_mb=1024.0,
                      defaults=MeasureSettings())  # fmt: skip


def test_db_upgrade_takes_a_version_1_database_to_version_2(store_url: str) -> None:
    sid, did, measured, unmeasured = _version_1_store(store_url)
    with pytest.raises(StoreError, match="schema version 1, older than this release's"):
        Store(store_url)
    done = cli.invoke(app, ["db", "upgrade", "--db", store_url])
    assert done.exit_code == 0, done.output
    assert done.output == "upgraded the store from schema version 1 to 2\n"
    assert _sql(store_url, "SELECT version FROM lts_schema") == [(2,)]
    with Store(store_url) as store:
        old = {c.arch_id: c for c in store.candidates(sid, did)}
        assert {(c.measure, c.predicted_latency_ms, c.predicted_memory_mb)
                for c in old.values()} == {(None, None, None)}  # fmt: skip
        assert old[measured].measurement_id is not None  # the rows are kept as they were
        # A candidate measured before version 2 counts as measured in full.
        n = store.candidate_counts(sid)[did]
        assert (n.proposed, n.measured, n.full, n.quick, n.screened) == (2, 1, 1, 0, 0)
        store.set_candidate_measure(sid, did, 0, [(unmeasured, "screened", 3.5, 12.25)])
        after = {c.arch_id: c for c in store.candidates(sid, did)}[unmeasured]
        assert (after.measure, after.predicted_latency_ms, after.predicted_memory_mb) == (
            "screened", 3.5, 12.25)  # fmt: skip
    assert upgrade(store_url) == (2, 2)  # nothing left to do


def _columns(url: str) -> dict[str, tuple[str, bool]]:
    engine = create_engine(url)
    try:
        found = inspect(engine).get_columns("candidates")
        return {c["name"]: (str(c["type"]), c["nullable"]) for c in found}
    finally:
        engine.dispose()


def test_the_upgraded_columns_are_those_a_new_database_gets(
    store_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The step adds the columns with the types ``CREATE TABLE`` gives a new database of the
    same engine."""
    _version_1_store(store_url)
    upgrade(store_url)
    if store_url.startswith("sqlite"):
        Store(new := database_url(tmp_path / "new.sqlite")).close()
        assert _columns(store_url) == _columns(new)
        return
    server = request.getfixturevalue("pg_server")
    name = server.create_database()
    try:
        Store(server.url(name)).close()
        assert _columns(store_url) == _columns(server.url(name))
    finally:
        server.drop_database(name)
