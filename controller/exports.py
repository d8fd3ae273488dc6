"""Exports of a search's frontier on one device, to take the chosen models away and train them.

Formats (one file per architecture unless said otherwise):

* ``json``: ``{arch_id}.json``, the canonical config; ``ArchConfig.from_json(text)`` reads it
  back with the same content id.
* ``pt``: ``{arch_id}.pt``, an *untrained* PyTorch model: a dict with ``format``
  (``PT_FORMAT``), ``arch_id``, ``config`` (the canonical config as a dict), ``init``,
  ``seed`` and ``state_dict``. Load it with ``load_model`` (both from
  :mod:`lts.controller.model_files`, where the model files are written) or by hand::

      ckpt = torch.load(path, map_location="cpu", weights_only=True)
      model = build_model(ArchConfig.from_dict(ckpt["config"]), init="constant")
      model.load_state_dict(ckpt["state_dict"])

* ``onnx``: ``{arch_id}.onnx``, the same untrained weights exported with the agent's exporter
  (:func:`lts.shared.models.onnx_export.export_onnx`) as the graph the search measured: input
  ``idx`` (batch, seq_len) int64, output ``logp`` (log-probabilities of the last position, or of
  all positions if the search measured ``output=all``), static shapes from the search's
  measurement settings.
* ``csv``: ``frontier.csv``, one row per model (see :func:`csv_columns`): its architecture,
  its sizes (``weight_bytes``: float32 weights; ``onnx_bytes``: the ONNX file's estimate,
  :mod:`lts.controller.report.deploy`), how the search measured it (``measure``: full or
  quick; empty when not recorded) and per
  measured objective of the search (by its column name: ``latency_ms``,
  ``decode_latency_ms``, ``peak_memory_mb``) its value, p10 and p90, the cost model's
  prediction (``..._predicted``, empty when none) and whether the value is that prediction
  (``..._stand_in``: a quick measurement that did not measure it).

The weights of ``pt`` and ``onnx`` are the GPT-2-style random initialisation of
:func:`lts.shared.models.build_model` drawn after seeding torch with ``seed`` (torch's global
generator is restored afterwards): the same seed gives the same weights in both formats.
``pt`` and ``onnx`` need PyTorch (the ``agent`` extra) and import it only when called;
``json`` and ``csv`` do not.

By default the frontier is exported; ``ids`` picks members of the frontier or of the
layer-scaled baselines.

Model files cost what the models weigh (4 bytes per parameter): :func:`weight_bytes` says how
much before anything is built, :func:`check_cost` refuses an export over a parameter budget,
and :func:`bundle` builds one model at a time, straight into the zip, and stops between two
models when its ``cancelled`` callback says so (the client left, the server stops).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lts.controller.model_files import DEFAULT_SHAPE, require_torch, write_onnx, write_pt
from lts.controller.report import ModelRow, build_report
from lts.controller.report.deploy import BYTES_PER_PARAM
from lts.controller.store import Store
from lts.shared.config import ArchConfig
from lts.shared.errors import BuildError, ConfigError, LTSError
from lts.shared.objectives import get as objective

logger = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("json", "onnx", "pt", "csv")
CSV_NAME = "frontier.csv"
#: The CSV's columns before and after those of the objectives (:func:`csv_columns`).
CSV_HEAD: tuple[str, ...] = (
    "arch_id", "role", "device", "backbone", "n_layer", "d_model", "d_embed", "div_val",
    "n_head", "d_inner", "decoder_params", "total_params", "weight_bytes", "onnx_bytes",
    "figures", "measure",
)  # fmt: skip
CSV_TAIL: tuple[str, ...] = ("config",)
_MEDIA = {"json": "application/json", "csv": "text/csv", "onnx": "application/octet-stream",
          "pt": "application/octet-stream", "zip": "application/zip"}  # fmt: skip
#: What a model file adds besides its float32 weights (BYTES_PER_PARAM a parameter), at most.
FILE_OVERHEAD_BYTES = 1 << 20


class ExportCancelled(LTSError):
    """An export stopped between two models (its ``cancelled`` callback said so)."""


@dataclass(frozen=True)
class Member:
    """A model to export: its reported row, ``role`` (``frontier`` or ``baseline``), config
    and total parameter count."""

    row: ModelRow
    role: str
    config: ArchConfig
    total_params: int

    @property
    def arch_id(self) -> str:
        return self.row.arch_id


@dataclass(frozen=True)
class Selection:
    """The models picked from one device of a search; ``shape`` holds the measurement
    settings that fix the ONNX graph (``batch_size``, ``seq_len``, ``output``)."""

    search_id: int
    device: str
    status: str
    members: list[Member]
    shape: dict[str, Any]
    objectives: tuple[str, ...] = ()
    #: What makes the device's figures doubtful (the report's reliability warnings).
    warnings: tuple[str, ...] = ()


def parse_ids(text: str | None) -> list[str] | None:
    """``"a,b"`` as ``["a", "b"]`` (None or blank: None, i.e. the whole frontier)."""
    if text is None:
        return None
    ids = [part.strip() for part in text.split(",") if part.strip()]
    return list(dict.fromkeys(ids)) or None


def select(
    store: Store, search_id: int, device: str | None = None, ids: list[str] | None = None
) -> Selection:
    """The frontier of ``device`` (an agent or device name; may be left out when the search ran
    on one device), or the members ``ids`` of its frontier or baselines, in frontier order.

    Raises StoreError for an unknown search, ConfigError (field ``device``) for a device the
    search did not run on and (field ``ids``) for ids on neither its frontier nor its baselines.
    """
    report = build_report(store, search_id, device)
    if len(report.devices) != 1:
        names = ", ".join(d.device or d.agent for d in report.devices)
        raise ConfigError("device", f"search {search_id} ran on several devices; name one of: "
                                    f"{names}")  # fmt: skip
    d = report.devices[0]
    name = d.device or d.agent
    rows = [(r, "frontier") for r in d.frontier]
    if ids is not None:
        known = {r.arch_id: (r, role) for r, role in rows}
        for c in d.comparisons:
            known.setdefault(c.baseline.arch_id, (c.baseline, "baseline"))
        for r in d.cross:  # another device's frontier member, measured here at the end
            known.setdefault(r.arch_id, (r, "cross"))
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ConfigError(
                "ids", f"not on the frontier, baselines or cross figures of search "
                       f"{search_id} on {name}: {', '.join(unknown)}"
            )  # fmt: skip
        rows = [known[i] for i in ids]
    archs = store.architectures(r.arch_id for r, _ in rows)
    members = [
        Member(r, role, archs[r.arch_id].to_config(), archs[r.arch_id].total_params)
        for r, role in rows
    ]
    shape = _shape(store, search_id, d.device_id)
    return Selection(search_id, name, d.status, members, shape, d.objectives,
                     d.reliability.warnings)  # fmt: skip


def _shape(store: Store, search_id: int, device_id: int | None) -> dict[str, Any]:
    """The graph-shaping settings of the device's measurements (all of a search's share them):
    those of one of its measurements."""
    if device_id is not None:
        ids = [c.measurement_id for c in store.candidate_figures(search_id, device_id)
               if c.measurement_id is not None]  # fmt: skip
        for m in store.get_measurements(ids[:1]).values():
            if m.settings:
                return {k: m.settings.get(k, v) for k, v in DEFAULT_SHAPE.items()}
    return dict(DEFAULT_SHAPE)


# ---------------------------------------------------------------------------- documents
def manifest(sel: Selection) -> dict[str, Any]:
    """The selection as one JSON-ready object: every member's config and figures."""
    data = [
        {
            **{k: v for k, v in _csv_row(sel, m).items() if k not in ("config", "device")},
            "n_head": list(m.config.n_head),
            "d_inner": list(m.config.d_inner),
            "config": m.config.to_dict(),
        }
        for m in sel.members
    ]
    return {"search_id": sel.search_id, "device": sel.device, "status": sel.status,
            "shape": sel.shape, "warnings": list(sel.warnings), "data": data,
            "count": len(data)}  # fmt: skip


def csv_columns(objectives: tuple[str, ...]) -> list[str]:
    """The CSV's columns for a search of ``objectives``: :data:`CSV_HEAD`, five per measured
    objective (value, p10, p90, prediction, stand-in), :data:`CSV_TAIL`."""
    per = []
    for name in objectives:
        o = objective(name)
        if o.measured:
            c = o.column
            per += [c, f"{c}_p10", f"{c}_p90", f"{c}_predicted", f"{c}_stand_in"]
    return [*CSV_HEAD, *per, *CSV_TAIL]


def csv_text(sel: Selection) -> str:
    """The selection as CSV (header :func:`csv_columns`; lists and the config as JSON)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=csv_columns(sel.objectives), lineterminator="\n")
    writer.writeheader()
    for m in sel.members:
        writer.writerow(_csv_row(sel, m))
    return buf.getvalue()


def _csv_row(sel: Selection, m: Member) -> dict[str, Any]:
    r, c = m.row, m.config
    out: dict[str, Any] = {
        "arch_id": m.arch_id, "role": m.role, "device": sel.device, "backbone": c.backbone,
        "n_layer": c.n_layer, "d_model": c.d_model, "d_embed": c.d_embed, "div_val": c.div_val,
        "n_head": json.dumps(list(c.n_head)), "d_inner": json.dumps(list(c.d_inner)),
        "decoder_params": r.decoder_params, "total_params": m.total_params,
        "weight_bytes": r.weight_bytes, "onnx_bytes": r.onnx_bytes,
        "figures": r.figures, "measure": r.measure,
    }  # fmt: skip
    for name, f in r.values.items():
        col = objective(name).column
        out.update({col: f.value, f"{col}_p10": f.p10, f"{col}_p90": f.p90,
                    f"{col}_predicted": f.predicted, f"{col}_stand_in": f.stand_in})  # fmt: skip
    out["config"] = c.canonical_json()
    return out


# -------------------------------------------------------------------------------- files
def write(sel: Selection, fmt: str, out_dir: str | Path, *, seed: int = 0) -> list[Path]:
    """Write the selection in ``fmt`` (one of :data:`FORMATS`) under ``out_dir``; return the
    paths. ``seed`` fixes the untrained weights of ``pt`` and ``onnx``."""
    if fmt not in FORMATS:
        raise ConfigError("format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt in ("pt", "onnx"):
        require_torch(fmt)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        path = out / CSV_NAME
        path.write_text(csv_text(sel), encoding="utf-8")
        return [path]
    if fmt == "json":
        paths = [out / f"{m.arch_id}.json" for m in sel.members]
        for m, path in zip(sel.members, paths, strict=True):
            path.write_text(m.config.canonical_json() + "\n", encoding="utf-8")
        return paths
    writer = write_pt if fmt == "pt" else write_onnx
    paths = []
    for m in sel.members:
        path = out / f"{m.arch_id}.{fmt}"
        writer(m.config, path, seed=seed, shape=sel.shape)
        logger.info("exported %s", path)
        paths.append(path)
    return paths


def weight_bytes(sel: Selection) -> int:
    """About what the model files of ``sel`` take (``pt`` and ``onnx``: float32 weights)."""
    return sum(m.total_params * BYTES_PER_PARAM + FILE_OVERHEAD_BYTES for m in sel.members)


def check_cost(sel: Selection, fmt: str, max_params: int) -> None:
    """Raise :class:`ConfigError` (field ``ids``) when the model files of ``sel`` would hold
    more than ``max_params`` parameters in all (``json`` and ``csv`` cost nothing)."""
    if fmt not in ("pt", "onnx"):
        return
    total = sum(m.total_params for m in sel.members)
    if total > max_params:
        biggest = max(m.total_params for m in sel.members)
        raise ConfigError(
            "ids",
            f"{len(sel.members)} model(s) of {total:,} parameters in all (the largest "
            f"{biggest:,}) is over this server's export limit of {max_params:,} parameters; "
            "export fewer with ids=ARCH_ID,... (or raise LTS_CONTROLLER_EXPORT_MAX_PARAMS)",
        )


def check_disk(sel: Selection, work_dir: str | Path) -> None:
    """Raise :class:`BuildError` when the free disk under ``work_dir`` cannot hold the model
    files of ``sel`` with room to spare (a quarter more)."""
    need = weight_bytes(sel) * 5 // 4
    free = shutil.disk_usage(work_dir).free
    if need > free:
        raise BuildError(
            f"the export needs about {need / 2**30:.1f} GiB and {work_dir} has "
            f"{free / 2**30:.1f} GiB free; export fewer models"
        )


def bundle(
    sel: Selection,
    fmt: str,
    work_dir: str | Path,
    *,
    seed: int = 0,
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[Path, str]:
    """One file holding the export (for an HTTP response) and its media type: the file itself
    when there is one, else a zip of them (``json``: the manifest; ``csv``: the table). Model
    files are built one at a time and go straight into the zip (stored, not compressed:
    weights do not compress), so the disk holds the zip and at most one model besides;
    ``cancelled`` is asked before each model, and :class:`ExportCancelled` raised when it
    says so (what was written stays in ``work_dir`` for the caller to remove)."""
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        path = work / f"search-{sel.search_id}-frontier.json"
        path.write_text(json.dumps(manifest(sel)), encoding="utf-8")
        return path, _MEDIA["json"]
    if fmt == "csv" or len(sel.members) == 1:
        if cancelled():
            raise ExportCancelled("export cancelled")
        (path,) = write(sel, fmt, work / "files", seed=seed)
        return path, _MEDIA[fmt]
    if fmt not in ("pt", "onnx"):
        raise ConfigError("format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
    require_torch(fmt)
    path = work / f"search-{sel.search_id}-{fmt}.zip"
    writer = write_pt if fmt == "pt" else write_onnx
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for m in sel.members:
            if cancelled():
                raise ExportCancelled(f"export cancelled after {len(zf.namelist())} model(s)")
            one = work / f"{m.arch_id}.{fmt}"
            writer(m.config, one, seed=seed, shape=sel.shape)
            zf.write(one, arcname=one.name)
            one.unlink()
    return path, _MEDIA["zip"]
