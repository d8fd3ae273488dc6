"""What ``controller results``, the search's live progress, the report and the plots show of
a search with a cost model (schema version 2): per device "proposed P, measured M (quick Q,
full F), screened S" and the model's median errors, a quick measurement's memory marked
predicted, and screened candidates never on the frontier nor drawn. The store is a real
SQLite file written through the Store (:func:`testkit.screening_search`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from testkit import COST_MODEL, screening_search
from typer.testing import CliRunner

from lts.controller.cli import app
from lts.controller.commands.live_progress import LiveProgress
from lts.controller.plots import plot_data
from lts.controller.report import (
    CostModelSummary,
    PredictionErrors,
    build_report,
    cost_model_summary,
)
from lts.controller.search.progress import DeviceProgress
from lts.controller.store import Store
from lts.shared.config import ArchConfig
from lts.shared.schemas import LatencyStats, MeasurementResult, MeasureSettings

cli = CliRunner()


@pytest.fixture
def searched(tmp_path: Path) -> tuple[str, dict[str, Any]]:
    db = str(tmp_path / "lts.sqlite")
    return db, screening_search(db)


def test_results_text_shows_counts_cost_model_and_predicted_memory(searched: tuple) -> None:
    db, ids = searched
    r = cli.invoke(app, ["results", str(ids["search"]), "--db", db])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())  # the table title may wrap
    assert "proposed 4, measured 2 (quick 1, full 1), screened 1, 0 from the cache" in text
    assert "cost model MdAPE: latency 6.0%, memory 3.1%" in text
    assert "~7.50" in text and "~: predicted by the cost model" in text
    assert ids["arch"]["screened"] not in text


def test_results_json_carries_counts_and_cost_model(searched: tuple) -> None:
    db, ids = searched
    r = cli.invoke(app, ["results", str(ids["search"]), "--db", db, "--json"])
    assert r.exit_code == 0, r.output
    (dev,) = json.loads(r.output)["devices"]
    counts = {k: dev[k] for k in ("candidates", "measured", "quick", "full", "screened",
                                  "cache_hits", "failed")}  # fmt: skip
    assert counts == {"candidates": 4, "measured": 2, "quick": 1, "full": 1, "screened": 1,
                      "cache_hits": 0, "failed": 0}  # fmt: skip
    assert dev["cost_model"]["errors"]["latency"] == COST_MODEL["latency"]
    assert dev["cost_model"]["margin"] == COST_MODEL["margin"]
    front = {m["arch_id"]: m for m in dev["members"]}
    assert set(front) == {ids["arch"]["full"], ids["arch"]["quick"]}
    quick = front[ids["arch"]["quick"]]
    assert (quick["peak_memory_mb"], quick["memory_predicted"], quick["measure"]) == (
        7.5,
        True,
        "quick",
    )
    assert quick["objectives"]["memory"] == {"value": 7.5, "p10": None, "p90": None,
                                             "predicted": 7.5, "stand_in": True}  # fmt: skip


def test_a_search_without_a_cost_model_shows_plain_counts(searched: tuple) -> None:
    db, ids = searched
    with Store.open(db) as store:
        store.update_search_device(ids["search_device"], state={})
    r = cli.invoke(app, ["results", str(ids["search"]), "--db", db])
    assert r.exit_code == 0, r.output
    assert "cost model MdAPE" not in r.output
    (dev,) = json.loads(cli.invoke(app, ["results", "--db", db, "--json"]).output)["devices"]
    assert dev["cost_model"] is None


def test_a_finished_device_reports_measure_and_prediction(searched: tuple) -> None:
    """A finished device's rows come from its stored report: the final figures of the full
    member (measured), the search-time ones of the quick member whose final re-measurement
    failed (its memory still the predicted one); both with the candidate's prediction."""
    db, ids = searched
    sid, did, arch, mid = ids["search"], ids["device"], ids["arch"], ids["measurement"]
    with Store.open(db) as store:
        full_cfg = store.architectures([arch["full"]])[arch["full"]].to_config()
        final = _measure(store, full_cfg, did, 1.1, 12.0)
        quick_cfg = store.architectures([arch["quick"]])[arch["quick"]].to_config()
        failed, _ = store.add_measurement(quick_cfg, did, "final", status="failed", error="oom")
        reported = [
            (arch["full"], "frontier", mid["full"], final),
            (arch["quick"], "frontier", mid["quick"], failed.id),
        ]
        store.set_reported(sid, did, reported)
        store.update_search_device(ids["search_device"], status="done")
        (dev,) = build_report(store, sid).devices
    rows = {r.arch_id: r for r in dev.frontier}
    full, quick = rows[arch["full"]], rows[arch["quick"]]
    memory, latency = full.values["memory"], full.values["latency"]
    assert (full.figures, latency.value, memory.value, memory.stand_in) == ("final", 1.1, 12.0,
                                                                            False)  # fmt: skip
    assert (full.measure, latency.predicted, memory.predicted) == ("full", 1.2, 10)
    memory = quick.values["memory"]
    shown = (quick.figures, quick.latency_ms, memory.value, memory.stand_in)
    assert shown == ("search", 2.0, 7.5, True)


def test_plots_draw_no_screened_candidate(searched: tuple) -> None:
    db, ids = searched
    with Store.open(db) as store:
        (data,) = plot_data(store, ids["search"])
    points = {p.arch_id: p for p in data.candidates}
    assert set(points) == {ids["arch"]["full"], ids["arch"]["quick"]}
    assert points[ids["arch"]["quick"]].value("memory") == 7.5  # the predicted memory
    assert data.failed == 0


def test_live_progress_shows_screened_and_the_model_error() -> None:
    live = LiveProgress(Console(file=None, quiet=True), {}, enabled=False)
    info = live.info(DeviceProgress(position=0, agent="box", iterations=3, measured=5,
                                    screened=7, cost_error=0.062))  # fmt: skip
    assert "5 measured" in info and "7 screened" in info and "model ±6%" in info
    info = live.info(DeviceProgress(position=0, agent="box", iterations=3, measured=5))
    assert "screened" not in info and "model" not in info


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({}, None),
        ({"cost_model": "broken"}, None),
        ({"cost_model": {}}, CostModelSummary()),
        (
            {"cost_model": {"latency": {"n": "12", "mdape": float("nan"), "p90ape": True},
                            "memory": [], "margin": {"latency": 0.1, "other": 1, "memory": "x"}}},
            CostModelSummary({"latency": PredictionErrors()}, margin={"latency": 0.1}),
        ),
        (  # the margins may come with each quantity's figures instead
            {"cost_model": {"latency": {"n": 3, "margin": 0.2, "coefficients": [1.0]},
                            "quick": {"n": 2, "margin": 0.05}, "margin": {"latency": 0.1}}},
            CostModelSummary({"latency": PredictionErrors(n=3)}, quick=PredictionErrors(n=2),
                             margin={"latency": 0.1, "quick": 0.05}),
        ),
        (
            {"cost_model": COST_MODEL},
            CostModelSummary(
                {"latency": PredictionErrors(12, 8, 0.06, 0.15),
                 "memory": PredictionErrors(12, 8, 0.031, None)},
                quick=PredictionErrors(5, None, 0.02, 0.05),
                margin={"latency": 0.1, "memory": 0.08},
            ),
        ),
    ],
)  # fmt: skip
def test_the_cost_model_summary_takes_every_key_as_optional(
    state: dict[str, Any], expected: CostModelSummary | None
) -> None:
    assert cost_model_summary(state) == expected


def _measure(store: Store, cfg: ArchConfig, device_id: int, latency: float, memory: float) -> int:
    stats = LatencyStats(median=latency, p10=latency, p90=latency, mean=latency, min=latency,
                         cv=0.0, n=1, samples=[latency])  # fmt: skip
    result = MeasurementResult(arch_id=cfg.arch_id, latency_ms=stats, peak_memory_mb=memory,
                               settings=MeasureSettings())  # fmt: skip
    m, _ = store.add_measurement(cfg, device_id, "final", result=result)
    return m.id
