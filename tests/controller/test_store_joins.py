"""The joined read of candidates with their architecture and measurement (one SQL query) on a
real engine: it returns exactly what reading candidates, architectures and measurements one
after the other returns, in the same order, for a whole search, one device, and the cursor."""

from __future__ import annotations

from typing import Any

import pytest

from lts.controller.store import Store
from lts.shared.config import ArchConfig
from lts.shared.schemas import DeviceInfo, LatencyStats, MeasurementResult, MeasureSettings


def _cfg(n_layer: int, d_model: int = 64) -> ArchConfig:
    return ArchConfig.from_dict(
        {"backbone": "gpt2", "n_layer": n_layer, "d_model": d_model, "n_head": 2,
         "d_inner": 2 * d_model, "n_token": 1000, "cutoffs": [200, 500]}
    )  # fmt: skip


def _device(store: Store, name: str) -> int:
    info = DeviceInfo(name=name, fingerprint=f"fp-{name}", hostname="h", os="linux",
                      machine="x86_64", cpu_model="cpu", cores_logical=2,
                      memory_total_mb=4096.0, defaults=MeasureSettings())  # fmt: skip
    return store.upsert_device(name, info).id


def _result(cfg: ArchConfig, median: float) -> MeasurementResult:
    stats = LatencyStats(median=median, p10=median, p90=median, mean=median, min=median,
                         cv=0.0, n=1, samples=[median])  # fmt: skip
    return MeasurementResult(arch_id=cfg.arch_id, latency_ms=stats, peak_memory_mb=10.0,
                             memory={"method": "vmhwm"}, settings=MeasureSettings(),
                             context={"threads": 1})  # fmt: skip


@pytest.fixture
def store(store_url: str) -> Store:
    with Store(store_url) as s:
        yield s


def _separately(store: Store, pairs: list[tuple[int, object]]) -> list[tuple[object, ...]]:
    """What the join should return, read query by query."""
    cands = [c for _, c in pairs]
    archs = store.architectures(c.arch_id for c in cands)
    ms = store.get_measurements(c.measurement_id for c in cands if c.measurement_id)
    return [
        (seq, c, archs[c.arch_id], ms.get(c.measurement_id) if c.measurement_id else None)
        for seq, c in pairs
    ]


def _joined(rows: list) -> list[tuple[object, ...]]:
    return [(r.seq, r.candidate, r.arch, r.measurement) for r in rows]


def test_the_join_returns_what_separate_reads_return(store: Store) -> None:
    box, pi = _device(store, "box"), _device(store, "pi")
    search = store.create_search({}, seed=1)
    other = store.create_search({}, seed=2)
    a, b, c, base = _cfg(1), _cfg(2), _cfg(3), _cfg(4, 96)
    for dev in (pi, box):  # pi's rows first: device order must still win without a cursor
        store.add_candidates(search.id, dev, -1, [(base, "baseline", ())])
        store.add_candidates(search.id, dev, 0, [(a, "random", ()), (b, "random", ())])
    store.add_candidates(search.id, box, 1, [(c, "mutation", (a.arch_id,))])
    store.add_candidates(other.id, box, 0, [(a, "random", ())])
    ok, _ = store.add_measurement(a, box, "k", result=_result(a, 2.5))
    bad, _ = store.add_measurement(b, box, "k", status="failed", error="killed")
    store.link_candidates(search.id, box, 0, [(a.arch_id, ok.id, False), (b.arch_id, bad.id, True)])

    everything = store.candidate_joins(search.id)
    assert len(everything) == 7
    records = store.candidates(search.id)
    def key(c: Any) -> tuple[int, int, str]:
        return c.device_id, c.iteration, c.arch_id

    pairs = {key(c): seq for seq, c in store.candidates_after(search.id)}
    assert _joined(everything) == _separately(store, [(pairs[key(c)], c) for c in records])
    on_box = store.candidate_joins(search.id, box)
    assert [r.candidate.device_id for r in on_box] == [box] * 4
    assert _joined(on_box) == _separately(
        store, [(pairs[key(c)], c) for c in records if c.device_id == box]
    )
    measured = {r.arch.arch_id: r.measurement for r in on_box}
    assert measured[a.arch_id].values["latency"] == 2.5
    assert measured[a.arch_id].arch_id == a.arch_id
    assert measured[b.arch_id].error == "killed"
    assert measured[c.arch_id] is None and measured[base.arch_id] is None

    # The cursor: sequence order, above ``after``, at most ``limit``, on one device or all.
    for device in (None, box):
        cursor = store.candidates_after(search.id, device_id=device)
        assert _joined(store.candidate_joins(search.id, device, after=0)) == _separately(
            store, cursor
        )
        after = cursor[1][0]
        page = store.candidate_joins(search.id, device, after=after, limit=2)
        assert _joined(page) == _separately(
            store, store.candidates_after(search.id, after, device_id=device, limit=2)
        )
    assert store.candidate_joins(search.id, box, after=max(r.seq for r in everything)) == []
    assert store.candidate_joins(search.id + 100) == []
