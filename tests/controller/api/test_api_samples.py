"""``GET /architectures/{id}/measurements?samples=true`` says what it answers (review
2026-12-07, F12): a store written before agents' figures were checked may hold samples that
are not finite numbers; they are answered as null, and the OpenAPI schema allows it."""

from __future__ import annotations

import math
from pathlib import Path

from fastapi.testclient import TestClient

from lts.controller.api.main import create_app
from lts.controller.api.settings import Settings
from lts.controller.store import Store
from lts.shared.config import ArchConfig
from lts.shared.schemas import DeviceInfo, LatencyStats, MeasurementResult, MeasureSettings

TINY = ArchConfig.from_dict({"backbone": "gpt2", "n_layer": 1, "d_model": 64, "n_head": 2,
                             "d_inner": 128, "n_token": 1000, "cutoffs": [200, 500]})  # fmt: skip


def test_non_finite_samples_are_null_and_the_schema_says_so(tmp_path: Path) -> None:
    db = tmp_path / "lts.sqlite"
    info = DeviceInfo(name="old", fingerprint="f" * 16, hostname="h", os="linux",
                      machine="x86_64", cpu_model="c", cores_logical=1, memory_total_mb=1.0,
                      defaults=MeasureSettings())  # fmt: skip
    settings = MeasureSettings()
    stats = LatencyStats(median=math.nan, p10=1.0, p90=math.inf, mean=1.0, min=1.0, cv=0.0,
                         n=3, samples=[1.5, math.nan, math.inf])  # fmt: skip
    with Store.open(db) as store:
        device = store.upsert_device("old", info)
        result = MeasurementResult(arch_id=TINY.arch_id, latency_ms=stats, peak_memory_mb=1.0,
                                   settings=settings)  # fmt: skip
        store.add_measurement(TINY, device.id, settings.cache_key(), result=result)
    with TestClient(create_app(Settings(db=str(db), agents_file=tmp_path / "a.toml"))) as c:
        r = c.get(f"/architectures/{TINY.arch_id}/measurements", params={"samples": "true"})
        assert r.status_code == 200
        (m,) = r.json()["data"]
        assert m["samples"] == [1.5, None, None] and m["latency_ms"] is None
        schema = c.get("/openapi.json").json()["components"]["schemas"]["MeasurementPublic"]
        items = schema["properties"]["samples"]["anyOf"][0]["items"]
        assert {"type": "null"} in items["anyOf"] and {"type": "number"} in items["anyOf"]
