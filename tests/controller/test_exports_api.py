"""``GET /searches/{id}/export`` on the session's real search (in-process app)."""

from __future__ import annotations

import csv
import io
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from test_plots import DEVICES, SEQ_LEN, real_search  # tests/controller is on sys.path
from test_plots_api import make_client

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
         f"ids: not on the frontier or baselines of search 1 on {DEVICES[1]}: 0123456789abcdef"),
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
