"""The result store on a real engine: a SQLite file, and a database on a private PostgreSQL
server (``store_url`` of tests/conftest.py; those runs are marked ``postgres``): schema, cache
invariants, round trips, the lease and the candidate cursor under concurrent writers."""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import IntegrityError

from lts.controller.store import SCHEMA_VERSION, Store, database_url
from lts.shared.config import ArchConfig
from lts.shared.errors import SearchConflict, StoreError
from lts.shared.params import count_params
from lts.shared.schemas import DeviceInfo, LatencyStats, MeasurementResult, MeasureSettings


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


def _sql(url: str, sql: str, **params: Any) -> list[Any]:
    """Run one statement on the store's database behind its back; return the rows."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


@pytest.fixture
def store(store_url: str) -> Store:
    with Store(store_url) as s:
        yield s


def test_new_database_is_versioned_and_reopens(store: Store, store_url: str) -> None:
    assert store.schema_version == SCHEMA_VERSION
    assert _sql(store_url, "SELECT version FROM lts_schema") == [(SCHEMA_VERSION,)]
    with Store(store_url) as again:
        assert again.schema_version == SCHEMA_VERSION


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    with Store.open(tmp_path / "lts.sqlite"):
        conn = sqlite3.connect(tmp_path / "lts.sqlite")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()


def test_newer_schema_is_refused(store: Store, store_url: str) -> None:
    store.close()
    _sql(store_url, "UPDATE lts_schema SET version = :v", v=SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match="newer"):
        Store(store_url)


def test_unversioned_database_with_our_tables_is_refused(store_url: str) -> None:
    _sql(store_url, "CREATE TABLE devices (id INTEGER PRIMARY KEY)")
    with pytest.raises(StoreError, match="schema version"):
        Store(store_url)


def test_database_url() -> None:
    assert database_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert database_url("postgres://u:p@h:5433/db") == "postgresql+psycopg://u:p@h:5433/db"
    assert database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("a/b.sqlite").startswith("sqlite:////")
    assert database_url(None).endswith("/lts.sqlite")


def test_unopenable_url_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        Store(f"sqlite:///{tmp_path}")  # a directory, not a file


def test_a_missing_driver_is_a_store_error_naming_it() -> None:
    try:
        import pg8000  # noqa: F401  (a PostgreSQL driver SQLAlchemy knows and LTS never installs)

        pytest.skip("pg8000 is installed here")
    except ImportError:
        pass
    with pytest.raises(StoreError, match=r"driver is not installed.*lts\[postgres\]") as err:
        Store("postgresql+pg8000://lts:secret@127.0.0.1:1/lts")
    assert "secret" not in str(err.value)


@pytest.mark.postgres
def test_an_unreachable_server_is_a_store_error(pg_server: Any) -> None:
    url = pg_server.url("no_such_database")
    with pytest.raises(StoreError, match=r"cannot open the store at .*no_such_database"):
        Store(url)


def test_devices_are_name_plus_fingerprint(store: Store) -> None:
    a = store.upsert_device("box", _info("fp-1"), url="http://127.0.0.1:1")
    again = store.upsert_device("box", _info("fp-1"), url="http://127.0.0.1:2")
    other = store.upsert_device("box", _info("fp-2"))
    assert again.id == a.id and again.url == "http://127.0.0.1:2"
    assert other.id != a.id
    assert a.first_seen.tzinfo is UTC
    assert [d.id for d in store.list_devices()] == [a.id, other.id]
    assert "2 cores" in a.summary()
    # Names compare case-sensitively on every engine.
    assert store.upsert_device("BOX", _info("fp-1")).id not in (a.id, other.id)


def test_time_stamps_are_utc_whatever_the_server_zone(store: Store) -> None:
    before = datetime.now(UTC)
    search = store.create_search({}, seed=1)
    after = datetime.now(UTC)
    back = store.get_search(search.id)
    assert back.created_at.tzinfo is UTC and before <= back.created_at <= after
    assert back.created_at == search.created_at  # to the microsecond


def test_text_longer_than_its_column_is_refused_on_every_engine(store: Store) -> None:
    assert store.create_search({}, seed=1, name="n" * 200).name == "n" * 200
    with pytest.raises(StoreError, match="201 characters is longer than the 200"):
        store.create_search({}, seed=1, name="n" * 201)
    assert store.count_searches() == 1


def test_large_seeds_and_counts_round_trip(store: Store) -> None:
    seed = 2**63 - 1  # the largest SearchConfig allows
    assert store.get_search(store.create_search({"seed": seed}, seed=seed).id).seed == seed


def test_architectures_are_stored_once_with_counts(store: Store) -> None:
    cfg = _cfg()
    first, second = store.add_architectures([cfg, cfg])
    assert first == second
    assert first.decoder_params == count_params(cfg).decoder
    assert first.to_config() == cfg
    assert store.get_architecture(cfg.arch_id) == first
    with pytest.raises(StoreError):
        store.get_architecture("nope")


def test_measurement_cache_never_stores_twice(store: Store, store_url: str) -> None:
    dev = store.upsert_device("box", _info())
    cfg = _cfg()
    key = MeasureSettings().cache_key()
    rec, new = store.add_measurement(cfg, dev.id, key, result=_result(cfg))
    assert new and rec.ok and rec.values["latency"] == 1.5
    stats = store.get_measurements([rec.id], samples=True)[rec.id].stats
    assert stats["latency"]["samples"][0] == 1.5
    again, new_again = store.add_measurement(cfg, dev.id, key, result=_result(cfg, median=9.0))
    assert not new_again and again.id == rec.id and again.values["latency"] == 1.5
    other_key = MeasureSettings(threads=2).cache_key()
    assert store.find_measurements([cfg.arch_id], dev.id, other_key) == {}
    assert store.find_measurements([cfg.arch_id], dev.id, key)[cfg.arch_id] == rec
    assert store.count_measurements() == 1
    # The unique constraint holds in the database itself, not only in the method.
    (row,) = _sql(store_url, "SELECT architecture_id, device_id, settings_hash FROM measurements")
    with pytest.raises(IntegrityError):
        _sql(
            store_url,
            "INSERT INTO measurements (architecture_id, device_id, settings_hash, settings_key, "
            "settings, status, memory, context, created_at) "
            "VALUES (:a, :d, :h, 'k', '{}', 'done', '{}', '{}', '2024-01-01')",
            a=row[0], d=row[1], h=row[2],
        )  # fmt: skip


def test_failed_measurement_is_cached_with_its_error(store: Store) -> None:
    dev = store.upsert_device("box", _info())
    cfg = _cfg(3)
    rec, _ = store.add_measurement(
        cfg, dev.id, "k", status="failed", error="worker killed (out of memory)"
    )
    assert not rec.ok and rec.error == "worker killed (out of memory)" and rec.values == {}
    with pytest.raises(ValueError):
        store.add_measurement(cfg, dev.id, "k2", status="failed")


def test_inf_and_nan_survive_a_round_trip(store: Store) -> None:
    dev = store.upsert_device("box", _info())
    cfg = _cfg(4)
    result = _result(cfg, median=math.inf, memory=math.nan)
    result.latency_ms.samples = [1.0, math.inf, math.nan, -math.inf]
    result.context["temperature_c"] = math.nan
    m, _ = store.add_measurement(cfg, dev.id, "k", result=result)
    back = store.get_measurements([m.id], samples=True)[m.id]
    assert back.values["latency"] == math.inf and math.isnan(back.values["memory"])
    samples = back.stats["latency"]["samples"]
    assert samples[:2] == [1.0, math.inf] and math.isnan(samples[2]) and samples[3] == -math.inf
    assert math.isnan(back.context["temperature_c"])
    # A missing value stays missing, distinct from NaN.
    cfg2 = _cfg(5)
    store.add_measurement(cfg2, dev.id, "k", result=_result(cfg2, memory=None))
    assert "memory" not in store.find_measurements([cfg2.arch_id], dev.id, "k")[cfg2.arch_id].values


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
    state = {"rng": [1, 2], "best": [math.inf, -math.inf], "hv": {"last": math.nan}}
    store.complete_iteration(
        sd.id, 0, hypervolume=math.nan, frontier_size=1, n_measured=1, state=state
    )
    with pytest.raises(StoreError, match="out of order"):
        store.complete_iteration(sd.id, 2, hypervolume=0.5, frontier_size=1, n_measured=1, state={})
    (sd_now,) = store.search_devices(search.id)
    assert sd_now.iteration_done == 0 and sd_now.state["rng"] == [1, 2]
    assert sd_now.state["best"] == [math.inf, -math.inf] and math.isnan(sd_now.state["hv"]["last"])
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
    assert (fa.ok, fa.status, fa.values) == (True, "done", {"latency": 2.5})
    assert fa.decoder_params == count_params(a).decoder
    assert (fb.ok, fb.status, fb.values) == (False, "failed", {})
    assert (fc.ok, fc.status, fc.measurement_id) == (False, None, None)  # not measured yet
    assert figures[0].arch_id == base.arch_id and figures[0].iteration == -1
    assert store.candidate_figures(search.id, dev.id + 1) == []


def _screening_search(store: Store) -> tuple[int, int, dict[str, ArchConfig]]:
    """A search on one device whose candidates cover every measure: ``full`` (new), ``cached``
    (full, a cache hit), ``quick`` (new, memory not measured), ``screened``, ``old`` (measured
    without a measure, as before schema version 2), ``pending`` (not measured yet), ``base``
    (a baseline, measured in full)."""
    dev = store.upsert_device("box", _info())
    sid = store.create_search({}, seed=1).id
    cfgs = dict(
        zip(
            ["full", "cached", "quick", "screened", "old", "pending", "base"],
            [_cfg(n) for n in range(1, 8)],
            strict=True,
        )
    )
    store.add_candidates(sid, dev.id, -1, [(cfgs["base"], "baseline", ())])
    first = ("full", "cached", "quick", "screened", "old")
    store.add_candidates(sid, dev.id, 0, [(cfgs[k], "random", ()) for k in first])
    store.add_candidates(sid, dev.id, 1, [(cfgs["pending"], "mutation", ())])
    links = []
    for key, memory, hit in (
        ("full", 10.0, False),
        ("cached", 11.0, True),
        ("quick", None, False),
        ("old", 12.0, False),
    ):
        m, _ = store.add_measurement(cfgs[key], dev.id, "k", result=_result(cfgs[key], 2.0, memory))
        links.append((cfgs[key].arch_id, m.id, hit))
    store.link_candidates(sid, dev.id, 0, links)
    base, _ = store.add_measurement(cfgs["base"], dev.id, "k", result=_result(cfgs["base"]))
    store.link_candidates(sid, dev.id, -1, [(cfgs["base"].arch_id, base.id, False)])
    store.set_candidate_measure(
        sid,
        dev.id,
        0,
        [
            (cfgs["full"].arch_id, "full", {"latency": 2.1, "memory": 9.5}),
            (cfgs["cached"].arch_id, "full", {}),
            (cfgs["quick"].arch_id, "quick", {"latency": 1.9, "memory": 13.5}),
            (cfgs["screened"].arch_id, "screened", {"latency": 4.0, "memory": math.inf}),
        ],
    )
    store.set_candidate_measure(sid, dev.id, -1, [(cfgs["base"].arch_id, "full", {})])
    return sid, dev.id, cfgs


def _estimate(c: Any) -> tuple[str | None, float | None, float | None]:
    return c.measure, c.predicted.get("latency"), c.predicted.get("memory")


def test_candidates_carry_their_measure_and_prediction(store: Store) -> None:
    sid, did, cfgs = _screening_search(store)
    by_arch = {c.arch_id: c for c in store.candidates(sid, did)}
    got = {k: _estimate(by_arch[c.arch_id]) for k, c in cfgs.items()}
    assert got == {
        "full": ("full", 2.1, 9.5),
        "cached": ("full", None, None),
        "quick": ("quick", 1.9, 13.5),
        "screened": ("screened", 4.0, math.inf),
        "old": (None, None, None),
        "pending": (None, None, None),
        "base": ("full", None, None),
    }
    assert by_arch[cfgs["screened"].arch_id].screened
    assert by_arch[cfgs["screened"].arch_id].measurement_id is None
    # The joins and the figures carry the same three fields.
    joined = {j.candidate.arch_id: j.candidate for j in store.candidate_joins(sid, did)}
    assert joined == by_arch
    figures = {f.arch_id: f for f in store.candidate_figures(sid, did)}
    for arch_id, c in by_arch.items():
        f = figures[arch_id]
        assert _estimate(f) == _estimate(c)
    # Only the quick one's memory is the prediction; a measured memory is never replaced.
    names = ("latency", "memory")
    quick, full = figures[cfgs["quick"].arch_id], figures[cfgs["full"].arch_id]
    assert "memory" not in quick.values
    assert quick.filled(names) == ({"latency": 2.0, "memory": 13.5}, frozenset({"memory"}))
    assert full.filled(names) == ({"latency": 2.0, "memory": 10.0}, frozenset())
    screened = figures[cfgs["screened"].arch_id]
    assert (screened.ok, screened.filled(names)) == (False, ({}, frozenset()))
    # Setting them again replaces them; the other iterations are left alone.
    store.set_candidate_measure(sid, did, 0, [(cfgs["quick"].arch_id, "full", {"memory": 14.0})])
    store.set_candidate_measure(sid, did, 5, [(cfgs["full"].arch_id, "quick", {"latency": 0.1})])
    again = {c.arch_id: c for c in store.candidates(sid, did)}
    assert _estimate(again[cfgs["quick"].arch_id]) == ("full", None, 14.0)
    assert again[cfgs["full"].arch_id] == by_arch[cfgs["full"].arch_id]


def test_an_unknown_measure_is_refused(store: Store) -> None:
    sid, did, cfgs = _screening_search(store)
    before = store.candidates(sid, did)
    with pytest.raises(ValueError, match="unknown measure 'skipped'"):
        rows = [(cfgs["quick"].arch_id, "quick", {}), (cfgs["full"].arch_id, "skipped", {})]
        store.set_candidate_measure(sid, did, 0, rows)
    assert store.candidates(sid, did) == before  # nothing written


def test_candidate_counts_per_device(store: Store) -> None:
    sid, did, cfgs = _screening_search(store)
    other = store.upsert_device("other", _info("fp-2", "other"))
    store.add_candidates(sid, other.id, 0, [(cfgs["full"], "random", ())])
    counts = store.candidate_counts(sid)
    # proposed: 6 (the baseline is not); measured anew: full, quick, old (cached is a hit);
    # quick: 1; full: full and old (measured before measure existed); screened: 1.
    n = counts[did]
    assert (n.proposed, n.measured, n.quick, n.full, n.screened) == (6, 3, 1, 2, 1)
    assert n.proposed == store.count_candidates(sid, did)
    o = counts[other.id]
    assert (o.proposed, o.measured, o.quick, o.full, o.screened) == (1, 0, 0, 0, 0)
    assert store.candidate_counts(sid + 1) == {}
    # The same counts from the candidates themselves.
    cands = [c for c in store.candidates(sid, did) if c.iteration >= 0]
    new = [c for c in cands if c.measurement_id is not None and c.cache_hit is False]
    assert n.measured == len(new)
    assert n.quick + n.full == n.measured
    assert n.screened == sum(c.screened for c in cands)


def test_last_candidates_of_architectures(store: Store) -> None:
    sid, did, cfgs = _screening_search(store)
    store.add_candidates(sid, did, 2, [(cfgs["quick"], "mutation", ())])
    store.set_candidate_measure(sid, did, 2, [(cfgs["quick"].arch_id, "full", {"latency": 1.0})])
    wanted = [cfgs["quick"].arch_id, cfgs["old"].arch_id, _cfg(9).arch_id]
    found = store.last_candidates(sid, did, wanted)
    assert sorted(found) == sorted(wanted[:2])  # never proposed: absent
    assert (found[cfgs["quick"].arch_id].iteration, found[cfgs["quick"].arch_id].measure) == (
        2,
        "full",
    )
    assert store.last_candidates(sid, did + 1, wanted) == {}


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
        store.add_candidates(search.id, 1, 0, [(_cfg(), "not an origin!", ())])
    assert store.candidates(search.id) == []


def _race(*actions: Any) -> list[Any]:
    """Run each action in its own thread, all at once; return what each returned or raised."""
    results: list[Any] = [None] * len(actions)

    def run(i: int) -> None:
        try:
            results[i] = actions[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_racing_takeovers_of_a_lease_have_one_winner(store: Store, store_url: str) -> None:
    """Two processes (here: two Stores, two threads) judge the same stale holder gone at the
    same moment: exactly one takes the lease over, the other is refused."""
    sid = store.create_search({}, seed=1).id
    store.acquire_lease(sid, "gone", "elsewhere", 1, lambda held: False)
    both_judged = threading.Barrier(2, timeout=30)

    def gone(held: Any) -> bool:
        both_judged.wait()  # neither writes before both have read the old lease
        return True

    def take(owner: str) -> Any:
        with Store(store_url) as own:
            return own.acquire_lease(sid, owner, "here", 2, gone)

    results = _race(lambda: take("x"), lambda: take("y"))
    won = [r for r in results if not isinstance(r, Exception)]
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(won) == 1 and won[0].owner == "gone", results
    assert len(lost) == 1 and isinstance(lost[0], SearchConflict), results
    assert "just taken over by another process" in str(lost[0])
    winner = "x" if results[0] is won[0] else "y"
    assert store.lease(sid).owner == winner


def test_racing_first_takers_of_a_free_lease_have_one_winner(store: Store, store_url: str) -> None:
    sid = store.create_search({}, seed=1).id
    start = threading.Barrier(2, timeout=30)

    def take(owner: str) -> Any:
        with Store(store_url) as own:
            start.wait()
            return own.acquire_lease(sid, owner, "here", 2, lambda held: False)

    results = _race(lambda: take("x"), lambda: take("y"))
    assert results.count(None) == 1, results
    (lost,) = [r for r in results if r is not None]
    assert isinstance(lost, SearchConflict), results


@pytest.mark.postgres
def test_candidate_writers_of_one_search_take_turns(pg_url: str) -> None:
    """The cursor of :meth:`Store.candidates_after` on PostgreSQL: while one transaction has
    added candidates to a search and not committed yet, a second writer of that search waits
    (it would otherwise take a higher id and could commit first, and a reader that saw it
    would later skip the first one's lower id). Made deterministic by holding the first
    writer's commit and asking the server which session waits on a lock."""
    with Store(pg_url) as slow, Store(pg_url) as fast, Store(pg_url) as reader:
        dev = slow.upsert_device("box", _info())
        sid = slow.create_search({}, seed=1).id
        other_sid = slow.create_search({}, seed=2).id
        inside, go_on = threading.Event(), threading.Event()

        def hold_commit(conn: Any) -> None:  # runs in the slow writer's thread
            if not inside.is_set():
                inside.set()
                assert go_on.wait(60)

        event.listen(slow._engine, "commit", hold_commit)
        first = threading.Thread(target=slow.add_candidates,
                                 args=(sid, dev.id, 0, [(_cfg(1), "random", ())]))  # fmt: skip
        second = threading.Thread(target=fast.add_candidates,
                                  args=(sid, dev.id, 0, [(_cfg(2), "random", ())]))  # fmt: skip
        try:
            first.start()
            assert inside.wait(30)  # its rows are inserted, its commit held
            # A writer of another search does not wait.
            fast.add_candidates(other_sid, dev.id, 0, [(_cfg(3), "random", ())])
            second.start()
            deadline = time.monotonic() + 30
            while not _sql(pg_url, "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"):
                assert time.monotonic() < deadline, "the second writer did not wait for the first"
                time.sleep(0.02)
            assert second.is_alive() and reader.candidates_after(sid, 0) == []
        finally:
            go_on.set()
            first.join(30)
            if second.ident is not None:
                second.join(30)
            event.remove(slow._engine, "commit", hold_commit)
        seen = reader.candidates_after(sid, 0)
        assert [c.arch_id for _, c in seen] == [_cfg(1).arch_id, _cfg(2).arch_id]
        assert seen[0][0] < seen[1][0]
        assert reader.candidates_after(sid, seen[0][0]) == seen[1:]


def test_processes_opening_a_new_database_at_once_all_succeed(store_url: str) -> None:
    start = threading.Barrier(4, timeout=30)

    def open_store() -> int:
        start.wait()
        with Store(store_url) as opened:
            return opened.schema_version

    assert _race(*[open_store] * 4) == [SCHEMA_VERSION] * 4


#: Writes of a row that two processes may both create first: an architecture (two searches'
#: shared baselines) and a device (two searches reaching one agent).
NEW_ROWS = {
    "architecture": lambda store: store.add_architectures([_cfg(6)])[0],
    "device": lambda store: store.upsert_device("box", _info("fp-new")),
}


@pytest.mark.parametrize("what", sorted(NEW_ROWS))
def test_two_writers_adding_one_new_row_both_succeed(
    store: Store, store_url: str, what: str
) -> None:
    """The second writer, whose insert meets the first one's, gets the row instead of an
    error. The first writer's commit is held until the second one waits on it (seen through
    the server on PostgreSQL; a pause on SQLite, whose writers queue on its file lock)."""
    write = NEW_ROWS[what]
    inside, go_on = threading.Event(), threading.Event()

    def hold_commit(conn: Any) -> None:
        if not inside.is_set():
            inside.set()
            assert go_on.wait(60)

    results: list[Any] = []
    with Store(store_url) as first, Store(store_url) as second:
        event.listen(first._engine, "commit", hold_commit)
        one = threading.Thread(target=lambda: results.append(write(first)))
        two = threading.Thread(target=lambda: results.append(write(second)))
        try:
            one.start()
            assert inside.wait(30)
            two.start()
            if store_url.startswith("postgresql"):
                deadline = time.monotonic() + 30
                sql = "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                while not _sql(store_url, sql):
                    assert time.monotonic() < deadline, "the second writer did not meet the first"
                    time.sleep(0.02)
            else:
                time.sleep(0.5)
        finally:
            go_on.set()
            one.join(30)
            if two.ident is not None:
                two.join(30)
            event.remove(first._engine, "commit", hold_commit)
    assert len(results) == 2, "a writer failed (see the thread's exception above)"
    first_rec, second_rec = results
    if what == "device":
        assert first_rec.id == second_rec.id and len(store.list_devices()) == 1
    else:
        assert first_rec == second_rec == store.get_architecture(first_rec.arch_id)
