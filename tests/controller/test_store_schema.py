"""The store's schema version on a real engine (``store_url``: a SQLite file and a PostgreSQL
database): a store refuses a database at another version, ``controller db upgrade`` applies the
migration steps in one transaction, and one engine per URL is shared by the Stores of a process
and by its threads."""

from __future__ import annotations

import json
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
from lts.shared.schemas import DeviceInfo, LatencyStats, MeasurementResult, MeasureSettings

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


# --------------------------------------------------------------------- older versions
def _arch(n: int) -> ArchConfig:
    arch = {"backbone": "gpt2", "n_layer": n, "d_model": 64, "n_head": 2, "d_inner": 128,
            "n_token": 1000, "cutoffs": [200, 500]}  # fmt: skip
    return ArchConfig.from_dict(arch)


_STATS = {"median": 12.5, "p10": 12.0, "p90": 13.0, "mean": 12.6, "min": 11.9, "cv": 0.02,
          "n": 3, "samples": [12.4, 12.5, 12.6]}  # fmt: skip


def _older_store(url: str, version: int) -> dict[str, Any]:
    """A database as version ``version`` (1 or 2) wrote it: made by this release, then its
    schema taken back (the steps of the migrations undone, the old columns filled as those
    versions filled them). One search on one device: candidate ``full`` measured (prefill
    12.5 ms, 40 MiB), ``decode`` measured under settings that timed decode (7.5 ms), ``none``
    not measured, ``failed`` failed; version 2 adds ``quick``'s predictions (3.5 ms, 12.25 MiB)."""
    full, decode, none, failed = _arch(1), _arch(2), _arch(3), _arch(4)
    decoded = MeasureSettings(metric="decode")
    result = MeasurementResult(arch_id=full.arch_id, latency_ms=LatencyStats(**_STATS),
                               peak_memory_mb=40.0, settings=MeasureSettings())  # fmt: skip
    with Store(url) as store:
        dev = store.upsert_device("box", _device_info())
        sid = store.create_search({}, seed=1).id
        store.add_candidates(sid, dev.id, 0, [(a, "random", ()) for a in (full, decode, none,
                                                                            failed)])  # fmt: skip
        m1, _ = store.add_measurement(full, dev.id, "k", result=result)
        m2, _ = store.add_measurement(decode, dev.id, decoded.cache_key(), result=result.model_copy(
            update={"arch_id": decode.arch_id, "latency_ms": LatencyStats(**{**_STATS,
                    "median": 7.5}), "peak_memory_mb": None, "settings": decoded}))  # fmt: skip
        m3, _ = store.add_measurement(failed, dev.id, "k", status="failed", error="killed")
        store.link_candidates(sid, dev.id, 0, [(full.arch_id, m1.id, False),
                                               (decode.arch_id, m2.id, False),
                                               (failed.arch_id, m3.id, False)])  # fmt: skip
        cand = {c.arch_id: c for c in store.candidates(sid, dev.id)}
    ids = _sql(url, "SELECT c.id, a.arch_id FROM candidates c JOIN architectures a "
                    "ON a.id = c.architecture_id")  # fmt: skip
    cid = {arch: i for i, arch in ids}
    for column, kind in (("latency_ms", "FLOAT"), ("peak_memory_mb", "FLOAT"),
                         ("latency", "JSON"), ("samples", "JSON")):  # fmt: skip
        _sql(url, f"ALTER TABLE measurements ADD COLUMN {column} {kind}")
    stats = {k: v for k, v in _STATS.items() if k not in ("median", "samples")}
    _sql(url, f"UPDATE measurements SET latency_ms = 12.5, peak_memory_mb = 40.0, latency = "
              f"'{json.dumps(stats)}', samples = '{json.dumps(_STATS['samples'])}' "
              f"WHERE id = {m1.id}")  # fmt: skip
    _sql(url, f"UPDATE measurements SET latency_ms = 7.5, latency = '{{}}', samples = '[]' "
              f"WHERE id = {m2.id}")  # fmt: skip
    _sql(url, f"UPDATE measurements SET latency = '{{}}', samples = '[]' WHERE id = {m3.id}")
    _sql(url, "DROP TABLE measurement_values")
    for column in ("predicted_latency_ms", "predicted_memory_mb"):
        _sql(url, f"ALTER TABLE candidates ADD COLUMN {column} FLOAT")
    _sql(url, "ALTER TABLE candidates DROP COLUMN predicted")
    if version == 2:
        _sql(url, "UPDATE candidates SET measure = 'quick', predicted_latency_ms = 3.5, "
                  f"predicted_memory_mb = 12.25 WHERE id = {cid[none.arch_id]}")  # fmt: skip
    else:
        for column in ("measure", "predicted_latency_ms", "predicted_memory_mb"):
            _sql(url, f"ALTER TABLE candidates DROP COLUMN {column}")
    _sql(url, f"UPDATE lts_schema SET version = {version}")
    return {"sid": sid, "did": dev.id, "full": full.arch_id, "decode": decode.arch_id,
            "none": none.arch_id, "failed": failed.arch_id, "cand": cand}  # fmt: skip


def _device_info() -> DeviceInfo:
    return DeviceInfo(name="box", fingerprint="fp", hostname="h", os="linux", machine="x86_64",
                      cpu_model="cpu", cores_logical=2, memory_total_mb=1024.0,
                      defaults=MeasureSettings())  # fmt: skip


@pytest.mark.parametrize("version", [1, 2])
def test_db_upgrade_takes_an_older_database_to_the_current_version(
    store_url: str, version: int
) -> None:
    old = _older_store(store_url, version)
    sid, did = old["sid"], old["did"]
    with pytest.raises(StoreError, match=f"schema version {version}, older than this release's"):
        Store(store_url)
    done = cli.invoke(app, ["db", "upgrade", "--db", store_url])
    assert done.exit_code == 0, done.output
    assert done.output == f"upgraded the store from schema version {version} to 3\n"
    assert _sql(store_url, "SELECT version FROM lts_schema") == [(3,)]
    with Store(store_url) as store:
        cands = {c.arch_id: c for c in store.candidates(sid, did)}
        ms = store.get_measurements([c.measurement_id for c in cands.values()
                                     if c.measurement_id], samples=True)  # fmt: skip
        by_arch = {m.arch_id: m for m in ms.values()}
        full = by_arch[old["full"]]
        assert full.values == {"latency": 12.5, "memory": 40.0}
        assert full.stats["latency"] == _STATS  # statistics and samples kept
        assert by_arch[old["decode"]].values == {"decode_latency": 7.5}  # its settings timed decode
        assert by_arch[old["failed"]].values == {} and by_arch[old["failed"]].status == "failed"
        assert old["none"] not in by_arch
        if version == 2:
            assert (cands[old["none"]].measure, cands[old["none"]].predicted) == (
                "quick", {"latency": 3.5, "memory": 12.25})  # fmt: skip
        else:  # a candidate measured before version 2 counts as measured in full
            assert {c.measure for c in cands.values()} == {None}
            assert all(c.predicted == {} for c in cands.values())
            n = store.candidate_counts(sid)[did]
            assert (n.proposed, n.measured, n.full, n.quick, n.failed) == (4, 3, 3, 0, 1)
        store.set_candidate_measure(sid, did, 0, [(old["none"], "screened", {"latency": 3.0})])
        after = {c.arch_id: c for c in store.candidates(sid, did)}[old["none"]]
        assert (after.measure, after.predicted) == ("screened", {"latency": 3.0})
    assert upgrade(store_url) == (3, 3)  # nothing left to do


def _columns(url: str) -> dict[str, set[tuple[str, str]]]:
    """Each table's columns with their types (nullability aside: a column added to a table
    with rows is nullable)."""
    engine = create_engine(url)
    try:
        found = inspect(engine)
        return {t: {(c["name"], str(c["type"])) for c in found.get_columns(t)}
                for t in found.get_table_names()}  # fmt: skip
    finally:
        engine.dispose()


def test_the_upgraded_columns_are_those_a_new_database_gets(
    store_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The steps make the tables and columns, with the types, that ``CREATE TABLE`` gives a
    new database of the same engine."""
    _older_store(store_url, 1)
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
