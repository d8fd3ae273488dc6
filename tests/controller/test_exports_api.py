"""``GET /searches/{id}/export`` on the session's real search (in-process app)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from test_plots import DEVICES, SEQ_LEN, real_search  # tests/controller is on sys.path
from test_plots_api import make_client

from lts.controller import exports as exports_module
from lts.controller.api.export_runs import ExportRuns, sweep_stale
from lts.controller.report import build_report
from lts.controller.store import Store
from lts.shared.config import ArchConfig


@pytest.fixture(scope="session")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_search(tmp_path_factory)


@pytest.fixture(scope="module")
def client(searched: Path) -> Iterator[TestClient]:
    with make_client(searched, no_auth=True) as c:
        yield c


@pytest.fixture(scope="module")
def frontier(searched: Path) -> list[str]:
    with Store.open(searched) as store:
        (d,) = build_report(store, 1, DEVICES[1]).devices
    return [r.arch_id for r in d.frontier]


def _get(client: TestClient, **params: str):
    return client.get("/searches/1/export", params={"device": DEVICES[1], **params})


def test_json(client: TestClient, frontier: list[str]) -> None:
    r = _get(client)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert doc["device"] == DEVICES[1] and doc["count"] == len(frontier)
    assert [m["arch_id"] for m in doc["data"]] == frontier
    for m in doc["data"]:
        assert ArchConfig.from_dict(m["config"]).arch_id == m["arch_id"]


def test_csv(client: TestClient, frontier: list[str]) -> None:
    r = _get(client, format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["arch_id"] for row in rows] == frontier


def test_pt_one_file_and_onnx_zip(client: TestClient, frontier: list[str]) -> None:
    r = _get(client, format="pt", ids=frontier[0])
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert f'filename="{frontier[0]}.pt"' in r.headers["content-disposition"]
    import torch

    ckpt = torch.load(io.BytesIO(r.content), weights_only=True)
    assert ArchConfig.from_dict(ckpt["config"]).arch_id == frontier[0]
    r = _get(client, format="onnx", ids=",".join(frontier[:2]))
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert sorted(zf.namelist()) == sorted(f"{i}.onnx" for i in frontier[:2])
        model = zf.read(f"{frontier[0]}.onnx")
    import onnxruntime as ort

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    (logp,) = session.run(["logp"], {"idx": np.zeros((1, SEQ_LEN), dtype=np.int64)})
    assert logp.shape[:2] == (1, 1) and np.isfinite(logp).all()


@pytest.mark.parametrize(
    ("params", "code", "detail"),
    [
        ({"ids": "0123456789abcdef"}, 422,
         "ids: not on the frontier, baselines or cross figures of search 1 on "
         f"{DEVICES[1]}: 0123456789abcdef"),
        ({"format": "xml"}, 422, None),
        ({"device": "nope"}, 422, "device: search 1 has no device named 'nope'"),
        ({"seed": "-1"}, 422, None),
    ],
)  # fmt: skip
def test_errors(client: TestClient, params: dict[str, str], code: int, detail: str | None) -> None:
    r = _get(client, **params)
    assert r.status_code == code, r.text
    if detail is not None:
        assert r.json()["detail"] == detail
    r = client.get("/searches/42/export", params={"device": DEVICES[1]})
    assert r.status_code == 404 and r.json()["detail"] == "no search with id 42"


def test_torch_formats_without_torch_answer_501(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    r = _get(client, format="onnx")
    assert r.status_code == 501
    assert r.json()["detail"].startswith("--format onnx needs PyTorch")


# ------------------------------------------------------------- bounded model exports (F3)
def test_an_export_over_the_parameter_budget_is_refused_before_anything_is_built(
    searched: Path, frontier: list[str]
) -> None:
    """Review 2026-12-07, F3: one GET of a 324-member frontier wrote 9.4 GB in 30 s."""
    with make_client(searched, no_auth=True, export_max_params=1000) as c:
        r = _get(c, format="pt")
        assert r.status_code == 422 and r.json()["field"] == "ids"
        assert "over this server's export limit of 1,000 parameters" in r.json()["detail"]
        assert _get(c, format="json").status_code == 200  # no model files: no cost


def test_one_model_export_at_a_time(client: TestClient, frontier: list[str]) -> None:
    runs = client.app.state.controller.exports  # type: ignore[attr-defined]
    assert runs._slots.acquire(blocking=False)  # an export is being built
    try:
        r = _get(client, format="pt", ids=frontier[0])
        assert r.status_code == 429 and r.headers["retry-after"] == "10"
        assert "another export is being built" in r.json()["detail"]
    finally:
        runs._slots.release()
    assert _get(client, format="pt", ids=frontier[0]).status_code == 200


def test_an_export_the_disk_cannot_hold_is_refused(
    client: TestClient, frontier: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(exports_module.shutil, "disk_usage", lambda path: usage(10, 10, 0))
    r = _get(client, format="onnx", ids=",".join(frontier[:2]))
    assert r.status_code == 507 and "GiB free" in r.json()["detail"]


class Leaves:
    """A client that disconnects at its first check."""

    async def is_disconnected(self) -> bool:
        return True


def test_an_export_stops_when_its_client_leaves_and_leaves_nothing_behind(
    searched: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(searched) as store:
        sel = exports_module.select(store, 1, DEVICES[1])
    assert len(sel.members) >= 2
    built: list[str] = []
    real = exports_module.write_pt

    def slow_write(cfg: ArchConfig, path: Path, **kw: object) -> None:
        built.append(cfg.arch_id)
        time.sleep(1.0)  # the client leaves meanwhile
        real(cfg, path, **kw)

    monkeypatch.setattr(exports_module, "write_pt", slow_write)
    runs = ExportRuns(max_params=10**12, root=str(tmp_path))
    response = asyncio.run(runs.build(sel, "pt", 0, Leaves()))
    assert response.status_code == 503
    assert len(built) < len(sel.members)  # stopped between two models
    assert list(tmp_path.iterdir()) == []  # its folder is gone
    assert runs.building == 0 and runs._slots.acquire(blocking=False)  # the slot is free


def test_a_finished_export_removes_its_folder_once_sent(client: TestClient, frontier: list[str],
                                                        tmp_path: Path) -> None:  # fmt: skip
    runs = client.app.state.controller.exports  # type: ignore[attr-defined]
    before = set(Path(runs.root).glob("lts-export-*"))
    r = _get(client, format="pt", ids=",".join(frontier[:2]))
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert sorted(zf.namelist()) == sorted(f"{i}.pt" for i in frontier[:2])
    assert set(Path(runs.root).glob("lts-export-*")) <= before


def test_folders_of_stopped_servers_are_swept_at_start(tmp_path: Path) -> None:
    dead = tmp_path / "lts-export-999999999-abc"  # no such process
    mine = tmp_path / f"lts-export-{os.getpid()}-def"
    other = tmp_path / "lts-export-xyz"  # not one of ours by name: kept
    for folder in (dead, mine, other):
        (folder / "files").mkdir(parents=True)
    assert sweep_stale(str(tmp_path)) == [dead.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, other.name])
