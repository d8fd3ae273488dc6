"""The result store on a real SQLite file: schema, cache invariants, round trips."""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC
from pathlib import Path

import pytest

from controller.store import SCHEMA_VERSION, Store, database_url
from controller.store import schema as schema_mod
from shared.config import ArchConfig
from shared.errors import SearchConflict, StoreError
from shared.params import count_params
from shared.schemas import DeviceInfo, LatencyStats, MeasurementResult, MeasureSettings


def _cfg(n_layer: int = 2, d_model: int = 64) -> ArchConfig:
    return ArchConfig.from_dict(
        {
            "backbone": "gpt2",
            "n_layer": n_layer,
            "d_model": d_model,
            "n_head": 2,
            "d_inner": 2 * d_model,
            "n_token": 1000,
            "cutoffs": [200, 500],
        }
    )


def _info(fingerprint: str = "fp-1", name: str = "box") -> DeviceInfo:
    return DeviceInfo(
        name=name,
        fingerprint=fingerprint,
        hostname="h",
        os="linux",
        machine="x86_64",
        cpu_model="cpu",
        cores_logical=2,
        memory_total_mb=4096.0,
        defaults=MeasureSettings(),
    )


def _result(cfg: ArchConfig, median: float = 1.5, memory: float | None = 12.0) -> MeasurementResult:
    samples = [median, median * 1.01, median * 0.99]
    return MeasurementResult(
        arch_id=cfg.arch_id,
        latency_ms=LatencyStats(
            median=median,
            p10=min(samples),
            p90=max(samples),
            mean=median,
            min=min(samples),
            cv=0.01,
            n=3,
            samples=samples,
        ),
        peak_memory_mb=memory,
        memory={"method": "vmhwm"},
        settings=MeasureSettings(),
        context={"threads": 1},
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "lts.sqlite"


@pytest.fixture
def store(db_path: Path) -> Store:
    with Store.open(db_path) as s:
        yield s


def test_new_database_is_versioned_wal_and_reopens(store: Store, db_path: Path) -> None:
    assert store.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version FROM lts_schema").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    with Store.open(db_path) as again:
        assert again.schema_version == SCHEMA_VERSION


def test_newer_schema_is_refused(store: Store, db_path: Path) -> None:
    store.close()
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE lts_schema SET version = ?", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store.open(db_path)


def test_older_schema_is_migrated_through_the_hook(
    store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.close()
    ran: list[int] = []

    def step(conn: object) -> None:
        ran.append(1)

    monkeypatch.setattr(schema_mod, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(schema_mod.MIGRATIONS, SCHEMA_VERSION, step)
    with Store.open(db_path) as migrated:
        assert migrated.schema_version == SCHEMA_VERSION + 1
    assert ran == [1]


def test_unversioned_database_with_our_tables_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE devices (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version"):
        Store.open(path)


def test_database_url() -> None:
    assert database_url("postgresql://u:p@h/db") == "postgresql://u:p@h/db"
    assert database_url("a/b.sqlite").startswith("sqlite:////")
    assert database_url(None).endswith("/lts.sqlite")


def test_unopenable_url_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        Store(f"sqlite:///{tmp_path}")  # a directory, not a file


def test_devices_are_name_plus_fingerprint(store: Store) -> None:
    a = store.upsert_device("box", _info("fp-1"), url="http://127.0.0.1:1")
    again = store.upsert_device("box", _info("fp-1"), url="http://127.0.0.1:2")
    other = store.upsert_device("box", _info("fp-2"))
    assert again.id == a.id and again.url == "http://127.0.0.1:2"
    assert other.id != a.id
    assert a.first_seen.tzinfo is UTC
    assert [d.id for d in store.list_devices()] == [a.id, other.id]
    assert "2 cores" in a.summary()


def test_architectures_are_stored_once_with_counts(store: Store) -> None:
    cfg = _cfg()
    first, second = store.add_architectures([cfg, cfg])
    assert first == second
    assert first.decoder_params == count_params(cfg).decoder
    assert first.to_config() == cfg
    assert store.get_architecture(cfg.arch_id) == first
    with pytest.raises(StoreError):
        store.get_architecture("nope")


def test_measurement_cache_never_stores_twice(store: Store, db_path: Path) -> None:
    dev = store.upsert_device("box", _info())
    cfg = _cfg()
    key = MeasureSettings().cache_key()
    rec, new = store.add_measurement(cfg, dev.id, key, result=_result(cfg))
    assert new and rec.ok and rec.latency_ms == 1.5 and rec.samples[0] == 1.5
    again, new_again = store.add_measurement(cfg, dev.id, key, result=_result(cfg, median=9.0))
    assert not new_again and again.id == rec.id and again.latency_ms == 1.5
    other_key = MeasureSettings(threads=2).cache_key()
    assert store.find_measurements([cfg.arch_id], dev.id, other_key) == {}
    assert store.find_measurements([cfg.arch_id], dev.id, key)[cfg.arch_id] == rec
    assert store.count_measurements() == 1
    # The unique constraint holds in the database itself, not only in the method.
    conn = sqlite3.connect(db_path)
    row = conn.execute(
        "SELECT architecture_id, device_id, settings_hash, settings_key FROM measurements"
    ).fetchone()
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO measurements (architecture_id, device_id, settings_hash, settings_key, "
            "settings, status, latency, samples, memory, context, created_at) "
            "VALUES (?, ?, ?, ?, '{}', 'done', '{}', '[]', '{}', '{}', '2024-01-01')",
            row,
        )
    conn.close()


def test_failed_measurement_is_cached_with_its_error(store: Store) -> None:
    dev = store.upsert_device("box", _info())
    cfg = _cfg(3)
    rec, _ = store.add_measurement(
        cfg, dev.id, "k", status="failed", error="worker killed (out of memory)"
    )
    assert not rec.ok and rec.error == "worker killed (out of memory)" and rec.latency_ms is None
    with pytest.raises(ValueError):
        store.add_measurement(cfg, dev.id, "k2", status="failed")


def test_inf_and_nan_survive_a_round_trip(store: Store) -> None:
    dev = store.upsert_device("box", _info())
    cfg = _cfg(4)
    result = _result(cfg, median=math.inf, memory=math.nan)
    result.latency_ms.samples = [1.0, math.inf, math.nan, -math.inf]
    result.context["temperature_c"] = math.nan
    store.add_measurement(cfg, dev.id, "k", result=result)
    (back,) = store.find_measurements([cfg.arch_id], dev.id, "k").values()
    assert back.latency_ms == math.inf and math.isnan(back.peak_memory_mb)
    assert back.samples[:2] == (1.0, math.inf) and math.isnan(back.samples[2])
    assert back.samples[3] == -math.inf
    assert math.isnan(back.context["temperature_c"])
    assert not back.ok
    # A missing value stays missing (None), distinct from NaN.
    cfg2 = _cfg(5)
    store.add_measurement(cfg2, dev.id, "k", result=_result(cfg2, memory=None))
    assert store.find_measurements([cfg2.arch_id], dev.id, "k")[cfg2.arch_id].peak_memory_mb is None


def test_search_lifecycle(store: Store) -> None:
    dev = store.upsert_device("box", _info())
    search = store.create_search({"population": 10}, seed=7, name="first")
    assert search.status == "running" and search.created_at.tzinfo is UTC
    assert store.latest_search() == search
    sd = store.add_search_device(search.id, 0, "box")
    assert store.add_search_device(search.id, 0, "box").id == sd.id
    sd = store.update_search_device(sd.id, device_id=dev.id, status="running")
    a, b = _cfg(1), _cfg(2)
    cands = [(a, "random", ()), (b, "mutation", (a.arch_id,))]
    store.add_candidates(search.id, dev.id, 0, cands)
    store.add_candidates(search.id, dev.id, 0, cands)  # a resumed run records them again
    rec, _ = store.add_measurement(a, dev.id, "k", result=_result(a))
    store.link_candidates(search.id, dev.id, 0, [(a.arch_id, rec.id, False)])
    got = store.candidates(search.id, dev.id)
    assert [(c.arch_id, c.origin, c.parents) for c in got] == [
        (a.arch_id, "random", ()),
        (b.arch_id, "mutation", (a.arch_id,)),
    ]
    assert got[0].measurement_id == rec.id and got[0].cache_hit is False
    assert got[1].measurement_id is None
    store.complete_iteration(
        sd.id, 0, hypervolume=math.nan, frontier_size=1, n_measured=1, state={"rng": [1, 2]}
    )
    with pytest.raises(StoreError, match="out of order"):
        store.complete_iteration(sd.id, 2, hypervolume=0.5, frontier_size=1, n_measured=1, state={})
    (sd_now,) = store.search_devices(search.id)
    assert sd_now.iteration_done == 0 and sd_now.state == {"rng": [1, 2]}
    (hv,) = store.hypervolumes(search.id, dev.id)
    assert math.isnan(hv.hypervolume)
    store.set_reported(search.id, dev.id, [(a.arch_id, "frontier", rec.id, rec.id)])
    store.set_reported(search.id, dev.id, [(b.arch_id, "baseline", None, None)])
    (rep,) = store.reported(search.id)
    assert rep.arch_id == b.arch_id and rep.role == "baseline"
    store.set_search_status(search.id, "done")
    done = store.get_search(search.id)
    assert done.status == "done" and done.finished_at is not None
    assert [s.id for s in store.list_searches()] == [search.id]
    with pytest.raises(StoreError):
        store.get_search(999)


def test_candidate_figures_agree_with_the_full_records(store: Store) -> None:
    dev = store.upsert_device("box", _info())
    search = store.create_search({}, seed=1)
    a, b, c, base = _cfg(1), _cfg(2), _cfg(3), _cfg(4)
    store.add_candidates(search.id, dev.id, -1, [(base, "baseline", ())])
    store.add_candidates(search.id, dev.id, 0, [(a, "random", ()), (b, "random", ())])
    store.add_candidates(search.id, dev.id, 1, [(c, "mutation", (a.arch_id,))])
    ok, _ = store.add_measurement(a, dev.id, "k", result=_result(a, median=2.5, memory=None))
    bad, _ = store.add_measurement(b, dev.id, "k", status="failed", error="killed")
    store.link_candidates(
        search.id, dev.id, 0, [(a.arch_id, ok.id, True), (b.arch_id, bad.id, False)]
    )
    figures = store.candidate_figures(search.id, dev.id)
    records = store.candidates(search.id, dev.id)
    assert [(f.arch_id, f.iteration, f.measurement_id, f.cache_hit) for f in figures] == [
        (r.arch_id, r.iteration, r.measurement_id, r.cache_hit) for r in records
    ]
    by_arch = {f.arch_id: f for f in figures}
    fa, fb, fc = by_arch[a.arch_id], by_arch[b.arch_id], by_arch[c.arch_id]
    assert (fa.ok, fa.status, fa.latency_ms, fa.peak_memory_mb) == (True, "done", 2.5, None)
    assert fa.decoder_params == count_params(a).decoder
    assert (fb.ok, fb.status, fb.latency_ms) == (False, "failed", None)
    assert (fc.ok, fc.status, fc.measurement_id) == (False, None, None)  # not measured yet
    assert figures[0].arch_id == base.arch_id and figures[0].iteration == -1
    assert store.candidate_figures(search.id, dev.id + 1) == []


def test_a_search_lease_has_one_holder(store: Store) -> None:
    sid = store.create_search({}, seed=1).id
    assert store.lease(sid) is None
    assert store.acquire_lease(sid, "a", "host-1", 11, lambda held: False) is None
    assert store.acquire_lease(sid, "a", "host-1", 11, lambda held: False) is None  # ours
    with pytest.raises(SearchConflict, match=r"process 11 on host-1 .* stop it first"):
        store.acquire_lease(sid, "b", "host-2", 22, lambda held: False)
    judged = []
    taken = store.acquire_lease(sid, "b", "host-2", 22, lambda held: judged.append(held) or True)
    assert taken is not None and taken.owner == "a" and judged == [taken]
    assert store.renew_lease(sid, "a") is False and store.renew_lease(sid, "b") is True
    held = store.lease(sid)
    assert (held.owner, held.host, held.pid) == ("b", "host-2", 22)
    assert held.heartbeat_at >= held.acquired_at
    store.release_lease(sid, "a")  # not the holder: nothing happens
    assert store.lease(sid) is not None
    store.release_lease(sid, "b")
    assert store.lease(sid) is None


def test_a_failed_transaction_writes_nothing(store: Store) -> None:
    search = store.create_search({}, seed=1)
    with pytest.raises(ValueError):
        store.add_candidates(search.id, 1, 0, [(_cfg(), "bogus", ())])
    assert store.candidates(search.id) == []
