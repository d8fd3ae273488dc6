"""Exports of a real small search's frontier: config JSON, untrained PyTorch files, ONNX (run
in ONNX Runtime against the PyTorch model), CSV, the CLI and its errors.

The store is the session's real search of ``test_plots.py`` (two devices on real agents).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_plots import DEVICES, SEQ_LEN, real_search  # tests/controller is on sys.path
from testkit import assert_fp32_close
from typer.testing import CliRunner

from lts.controller import exports, model_files
from lts.controller.cli import app
from lts.controller.report import build_report, deploy
from lts.controller.store import Store
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError

cli = CliRunner()


@pytest.fixture(scope="session")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_search(tmp_path_factory)


@pytest.fixture
def store(searched: Path):
    with Store.open(searched) as s:
        yield s


def _frontier(store: Store, device: str) -> list:
    (d,) = build_report(store, 1, device).devices
    return d.frontier


def _baseline_ids(store: Store, device: str) -> list[str]:
    (d,) = build_report(store, 1, device).devices
    return [c.baseline.arch_id for c in d.comparisons]


def _a_baseline(store: Store, device: str, front: list) -> tuple[str, str]:
    """A baseline off the frontier when there is one, with its role in an export: baselines
    join the search's population, so one on the frontier is exported as a frontier member."""
    on = {r.arch_id for r in front}
    ids = _baseline_ids(store, device)
    base = next((b for b in reversed(ids) if b not in on), ids[-1])
    return base, "frontier" if base in on else "baseline"


def test_select_the_frontier_or_ids(store: Store) -> None:
    front = _frontier(store, DEVICES[0])
    sel = exports.select(store, 1, DEVICES[0])
    assert sel.device == DEVICES[0] and sel.status == "done"
    assert [m.arch_id for m in sel.members] == [r.arch_id for r in front]
    assert {m.role for m in sel.members} == {"frontier"}
    assert sel.shape == {"batch_size": 1, "seq_len": SEQ_LEN, "output": "last"}
    base, role = _a_baseline(store, DEVICES[0], front)
    picked = exports.select(store, 1, DEVICES[0], [front[-1].arch_id, base])
    assert [(m.arch_id, m.role) for m in picked.members] == [
        (front[-1].arch_id, "frontier"), (base, role)
    ]  # fmt: skip
    assert exports.parse_ids(" a, b,,a ") == ["a", "b"] and exports.parse_ids(" ") is None
    with pytest.raises(ConfigError, match=r"ids: not on the frontier, .*: nope$"):
        exports.select(store, 1, DEVICES[0], [front[0].arch_id, "nope"])
    with pytest.raises(ConfigError, match="several devices; name one of: plots-one, plots-two"):
        exports.select(store, 1)


def test_json_configs_round_trip_to_the_same_id(store: Store, tmp_path: Path) -> None:
    sel = exports.select(store, 1, DEVICES[1])
    paths = exports.write(sel, "json", tmp_path)
    assert [p.name for p in paths] == [f"{m.arch_id}.json" for m in sel.members]
    for p in paths:
        cfg = ArchConfig.from_json(p.read_text())
        assert cfg.arch_id == p.stem
    doc = exports.manifest(sel)
    assert doc["count"] == len(sel.members)
    (device,) = [d for d in build_report(store, 1).devices if DEVICES[1] in (d.agent, d.device)]
    assert doc["warnings"] == list(device.reliability.warnings)  # the report's, as the API's
    for row in doc["data"]:
        assert ArchConfig.from_dict(row["config"]).arch_id == row["arch_id"]
    json.dumps(doc, allow_nan=False)  # strict JSON


def test_csv_has_the_frontier_rows(store: Store, tmp_path: Path) -> None:
    front = _frontier(store, DEVICES[0])
    (path,) = exports.write(exports.select(store, 1, DEVICES[0]), "csv", tmp_path)
    assert path.name == "frontier.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert list(rows[0]) == exports.csv_columns(("params", "latency", "memory"))
    assert list(rows[0])[16:21] == ["latency_ms", "latency_ms_p10", "latency_ms_p90",
                                    "latency_ms_predicted", "latency_ms_stand_in"]  # fmt: skip
    assert [r["arch_id"] for r in rows] == [r.arch_id for r in front]
    for row, model in zip(rows, front, strict=True):
        assert int(row["n_layer"]) == model.n_layer and int(row["d_model"]) == model.d_model
        assert int(row["decoder_params"]) == model.decoder_params
        assert int(row["weight_bytes"]) == 4 * int(row["total_params"])
        assert int(row["onnx_bytes"]) == deploy.onnx_bytes(int(row["total_params"]))
        assert float(row["latency_ms"]) == pytest.approx(model.latency_ms)
        assert float(row["peak_memory_mb"]) == pytest.approx(model.peak_memory_mb)
        assert row["device"] == DEVICES[0] and row["figures"] == model.figures
        assert len(json.loads(row["n_head"])) == model.n_layer
        assert ArchConfig.from_json(row["config"]).arch_id == model.arch_id


def test_pt_loads_and_onnx_matches_it_in_onnx_runtime(store: Store, tmp_path: Path) -> None:
    import torch

    from lts.shared.models.onnx_export import make_session

    sel = exports.select(store, 1, DEVICES[0])
    member = max(sel.members, key=lambda m: m.config.n_layer)  # the deepest: most to go wrong
    sel = exports.select(store, 1, DEVICES[0], [member.arch_id])
    (pt,) = exports.write(sel, "pt", tmp_path, seed=3)
    (onnx,) = exports.write(sel, "onnx", tmp_path, seed=3)
    raw = torch.load(pt, map_location="cpu", weights_only=True)  # plain tensors and types only
    assert raw["format"] == model_files.PT_FORMAT and raw["seed"] == 3
    assert ArchConfig.from_dict(raw["config"]).arch_id == member.arch_id
    model = model_files.load_model(pt)
    assert model.cfg.arch_id == member.arch_id and not model.training
    assert sum(p.numel() for p in model.parameters()) == member.total_params

    # the sizes every view shows before an export: the weights, and the ONNX file's estimate
    assert member.row.weight_bytes == 4 * member.total_params
    assert abs(onnx.stat().st_size - member.row.onnx_bytes) <= 0.03 * onnx.stat().st_size
    assert abs(pt.stat().st_size - member.row.weight_bytes) <= 0.03 * pt.stat().st_size

    session = make_session(onnx, threads=1)
    (inp,) = session.get_inputs()
    assert (inp.name, inp.shape) == ("idx", [1, SEQ_LEN])
    idx = np.random.default_rng(0).integers(0, member.config.n_token, (1, SEQ_LEN))
    (logp,) = session.run(["logp"], {"idx": idx})
    with torch.inference_mode():
        want = model(torch.from_numpy(idx), output="last").numpy()
    assert logp.shape == want.shape == (1, 1, member.config.n_token)
    assert_fp32_close(logp, want, "ONNX Runtime vs torch")
    # The same seed gives the same weights; another seed other weights.
    again = model_files.build_untrained(member.config, seed=3).state_dict()
    other = model_files.build_untrained(member.config, seed=4).state_dict()
    key = next(k for k in again if k.endswith("c_fc.weight"))
    assert torch.equal(again[key], model.state_dict()[key])
    assert not torch.equal(other[key], again[key])


def test_bundle_for_http(store: Store, tmp_path: Path) -> None:
    sel = exports.select(store, 1, DEVICES[1])
    path, media = exports.bundle(sel, "json", tmp_path / "a")
    assert media == "application/json" and json.loads(path.read_text())["count"] == len(sel.members)
    path, media = exports.bundle(sel, "csv", tmp_path / "b")
    assert media == "text/csv" and path.name == "frontier.csv"
    two = exports.select(store, 1, DEVICES[1], [m.arch_id for m in sel.members[:2]])
    path, media = exports.bundle(two, "pt", tmp_path / "c")
    assert media == "application/zip"
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == sorted(f"{m.arch_id}.pt" for m in two.members)
    one = exports.select(store, 1, DEVICES[1], [sel.members[0].arch_id])
    path, media = exports.bundle(one, "pt", tmp_path / "d")
    assert media == "application/octet-stream" and path.name == f"{one.members[0].arch_id}.pt"


def test_export_cli(searched: Path, tmp_path: Path, store: Store) -> None:
    front = _frontier(store, DEVICES[1])
    args = ["export", "1", "--device", DEVICES[1], "--db", str(searched), "--out", str(tmp_path)]
    r = cli.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["format"] == "json" and doc["device"] == DEVICES[1]
    assert [Path(p).name for p in doc["files"]] == [f"{m.arch_id}.json" for m in front]
    base, role = _a_baseline(store, DEVICES[1], front)
    r = cli.invoke(app, [*args, "--format", "CSV", "--ids", f"{front[0].arch_id},{base}"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == str(tmp_path / "frontier.csv")
    rows = list(csv.DictReader((tmp_path / "frontier.csv").open()))
    assert [(x["arch_id"], x["role"]) for x in rows] == [
        (front[0].arch_id, "frontier"), (base, role)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["1", "--device", DEVICES[0], "--ids", "0123456789abcdef,zz"],
         "error: ids: not on the frontier, baselines or cross figures of search 1 on "
         f"{DEVICES[0]}: "
         "0123456789abcdef, zz"),
        (["1"], "error: device: search 1 ran on several devices; name one of: plots-one, "
                "plots-two"),
        (["1", "--device", "nope"], "error: device: search 1 has no device named 'nope'"),
        (["7", "--device", DEVICES[0]], "error: no search with id 7"),
    ],
)  # fmt: skip
def test_export_cli_errors(searched: Path, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "out"
    r = cli.invoke(app, ["export", *args, "--db", str(searched), "--out", str(out)])
    assert r.exit_code == 1
    assert r.stderr.strip() == message
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["pt", "onnx"])
def test_torch_formats_without_torch_fail_in_one_line(
    searched: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    r = cli.invoke(app, ["export", "1", "--device", DEVICES[0], "--format", fmt,
                         "--db", str(searched), "--out", str(tmp_path)])  # fmt: skip
    assert r.exit_code == 1
    assert r.stderr.strip() == (
        f"error: --format {fmt} needs PyTorch (and ONNX for onnx): pip install 'lts[agent]'"
    )
    assert not list(tmp_path.glob(f"*.{fmt}"))


def test_export_in_a_real_process(searched: Path, tmp_path: Path, store: Store) -> None:
    front = _frontier(store, DEVICES[0])
    cmd = [sys.executable, "-c", "from lts.controller.cli import main; main()", "export", "1",
           "--device", DEVICES[0], "--format", "json", "--ids", front[0].arch_id,
           "--db", str(searched), "--out", str(tmp_path)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    (path,) = [Path(line) for line in r.stdout.splitlines()]
    assert ArchConfig.from_json(path.read_text()).arch_id == front[0].arch_id
    r = subprocess.run([*cmd[:4], "2", *cmd[5:]], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr == "error: no search with id 2\n"
