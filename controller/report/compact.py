"""A search as the dashboard draws it, in one compact answer (``GET /searches/{id}/view``).

The same read model as every other view (:func:`~lts.controller.report.build_report`, the
joint report, the store's candidate figures), rendered as columns (one list per field, not
one object per model) and with only the fields the page draws: for a 10,000-candidate search
it is a few hundred kB instead of the frontier's and the candidate cursor's megabytes, and
the page parses and draws it at once. Per device: its header and trust figures
(:class:`~lts.controller.report.views.DeviceFrontierPublic`'s, without the members), the
baseline comparisons as objects (a few), the frontier as columns and every candidate's
figures as columns (``points``); for two or more devices, the joint report as columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from lts.controller.report import DeviceReport, ModelRow, SearchReport, build_report, deploy
from lts.controller.report.joint import joint_report
from lts.controller.report.views import comparison_public, header_public
from lts.controller.store import Store
from lts.shared.objectives import qualified


def search_view(store: Store, search_id: int) -> dict[str, Any]:
    """The compact view of search ``search_id`` (JSON-ready; non-finite floats as None)."""
    report = build_report(store, search_id)
    names = report.config.objective_set().measured_names
    devices = [_device(store, report, d, names) for d in report.devices]
    joint = None
    if len(report.devices) >= 2 and all(d.device_id is not None for d in report.devices):
        j = joint_report(report)
        joint = {
            "joint": j.joint, "devices": j.devices, "objectives": list(j.objectives),
            **_columns(j.rows, "arch_id", "n_layer", "decoder_params", "total_params", "member"),
            "values": {qualified(n, d): [_num(r.devices[d].value(n)) for r in j.rows]
                       for d in j.devices for n in j.objectives},
            "p90": {qualified(n, d): [_num(_p90(r.devices[d], n)) for r in j.rows]
                    for d in j.devices for n in j.objectives},
        }  # fmt: skip
    s = report.search
    return {"search_id": s.id, "status": s.status, "objectives": list(names),
            "devices": devices, "joint": joint}  # fmt: skip


def _device(
    store: Store, report: SearchReport, d: DeviceReport, names: Sequence[str]
) -> dict[str, Any]:
    header = json.loads(header_public(d).model_dump_json())
    return {
        **header,
        "reliability": {
            "measurements": d.reliability.measurements,
            "busy": d.reliability.busy,
            "wide": d.reliability.wide,
            "warnings": list(d.reliability.warnings),
        },
        "hypervolume_ratio": _num(d.hypervolume_ratio),
        "baselines": [json.loads(comparison_public(c).model_dump_json()) for c in d.comparisons],
        "frontier": rows_columns(d.frontier, names),
        "cross": len(d.cross),
        "points": _points(store, report.search.id, d.device_id, names),
    }


def rows_columns(rows: Sequence[ModelRow], names: Iterable[str]) -> dict[str, Any]:
    """Model rows as columns: what the frontier table and charts draw."""
    names = list(names)
    return {
        **_columns(rows, "arch_id", "n_layer", "d_model", "decoder_params", "total_params"),
        "weight_bytes": [deploy.weight_bytes(r.total_params) for r in rows],
        "onnx_bytes": [deploy.onnx_bytes(r.total_params) for r in rows],
        **_columns(rows, "figures"),
        "objectives": {n: {
            "value": [_num(r.values[n].value if n in r.values else None) for r in rows],
            "p10": [_num(r.values[n].p10 if n in r.values else None) for r in rows],
            "p90": [_num(r.values[n].p90 if n in r.values else None) for r in rows],
            "stand_in": [bool(n in r.values and r.values[n].stand_in) for r in rows],
        } for n in names},
    }  # fmt: skip


def _points(
    store: Store, search_id: int, device_id: int | None, names: Sequence[str]
) -> dict[str, Any]:
    """Every candidate of the device with its figures (a quick measurement's missing value:
    the prediction that stands in for it, as the candidate cursor shows it)."""
    cands = store.candidate_figures(search_id, device_id) if device_id is not None else []
    filled = [c.filled(names)[0] if c.ok else {} for c in cands]
    status = [c.status if c.status else ("screened" if c.measure == "screened" else "pending")
              for c in cands]  # fmt: skip
    return {
        **_columns(cands, "seq", "arch_id", "iteration", "origin", "n_layer", "decoder_params"),
        "status": status,
        **_columns(cands, "cache_hit"),
        "values": {n: [_num(v.get(n)) for v in filled] for n in names},
    }


def _columns(items: Sequence[Any], *fields: str) -> dict[str, list[Any]]:
    """``fields`` of ``items`` as columns: one list per field, in the items' order."""
    return {f: [getattr(x, f) for x in items] for f in fields}


def _p90(row: ModelRow, name: str) -> float | None:
    f = row.values.get(name)
    return None if f is None else (f.p90 if f.p90 is not None else f.value)


def _num(v: float | None) -> float | None:
    """``v``, or None when it is missing or not finite (strict JSON)."""
    if v is None or v != v or v in (float("inf"), float("-inf")):
        return None
    return float(v)
