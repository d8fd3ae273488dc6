"""The report as JSON: one public shape per view, built from the report's records in one place
each, and written alike by the REST API, ``controller results --json``, the exports' manifest
and (through the API) the dashboard.

* :class:`ModelPublic`: a model on a device, a :class:`FigurePublic` per measured objective
  under ``objectives`` (and, for the paper's objectives, the flat ``latency_ms``, ``p10_ms``,
  ``p90_ms``, ``peak_memory_mb``, ``predicted_latency_ms``, ``predicted_memory_mb`` and
  ``memory_predicted`` that clients of the first releases read: the same figures);
* :class:`DeviceHeaderPublic`: a device's progress and counts (the API's search devices and
  frontier devices, the CLI's device titles);
* :class:`DeviceFrontierPublic`: a header with the frontier's members and the baseline
  comparisons.

Across devices (the joint report, the pick): :mod:`lts.controller.report.views_across`.

Every float that may be infinite or NaN is written as ``null`` (strict JSON).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lts.controller.report import (
    Comparison,
    CostModelSummary,
    DeviceHeader,
    DeviceReport,
    Figure,
    ModelRow,
)


class _Public(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="null")


class FigurePublic(_Public):
    """One measured objective's figure: ``value`` (a latency's median, the peak memory),
    ``p10``/``p90`` where measured, the cost model's ``predicted`` value when the model was
    proposed, ``stand_in``: the value is that prediction (a quick measurement that did not
    measure it)."""

    value: float | None
    p10: float | None = None
    p90: float | None = None
    predicted: float | None = None
    stand_in: bool = False


class ModelPublic(_Public):
    """One model's figures on one device; ``figures`` says which measurement they come from
    (``final``: measured again at the end; ``search``: the search-time one); ``error`` is set
    when that measurement failed. ``objectives``: a figure per measured objective of the
    search (the proxy's score is ``proxy``)."""

    arch_id: str
    n_layer: int
    d_model: int
    decoder_params: int
    total_params: int = Field(description="every parameter, the embedding and softmax included")
    weight_bytes: int = Field(description="its float32 weights: 4 bytes per parameter")
    onnx_bytes: int = Field(
        description="the estimated size of its ONNX export (the weights "
        "plus the graph, calibrated on real exports)"
    )
    proxy: float
    figures: str
    error: str | None = None
    measure: str | None = Field(
        None, description="how the search measured it: full or quick (null: not recorded)"
    )
    objectives: dict[str, FigurePublic]
    latency_ms: float | None = Field(None, description="objectives.latency.value")
    p10_ms: float | None = Field(None, description="objectives.latency.p10")
    p90_ms: float | None = Field(None, description="objectives.latency.p90")
    decode_latency_ms: float | None = Field(None, description="objectives.decode_latency.value")
    peak_memory_mb: float | None = Field(None, description="objectives.memory.value (MiB)")
    predicted_latency_ms: float | None = Field(None, description="objectives.latency.predicted")
    predicted_memory_mb: float | None = Field(None, description="objectives.memory.predicted")
    memory_predicted: bool = Field(False, description="objectives.memory.stand_in")


class ComparisonPublic(_Public):
    """A layer-scaled baseline and the fastest frontier model with at least its decoder
    parameters; ``ratios``: baseline / model per measured objective (above 1: the model is
    faster, smaller); ``speedup`` the first timed objective's, ``memory_ratio`` peak
    memory's."""

    baseline: ModelPublic
    match: ModelPublic | None
    ratios: dict[str, float | None]
    speedup: float | None
    memory_ratio: float | None


class DeviceHeaderPublic(_Public):
    """One agent of a search and its progress there: ``candidates`` proposed so far
    (baselines excluded), of which ``measured`` anew (``quick`` and ``full`` by protocol),
    ``screened`` out by the cost model (never measured) and ``cache_hits`` (found in the
    store); the last ``hypervolume`` and ``frontier_size``; ``objectives``: the search's."""

    position: int
    agent: str
    device: str | None = Field(description="the device's name once the agent was reached")
    device_id: int | None
    fingerprint: str | None = Field(None, description="the device's fingerprint (GET /device)")
    status: str
    message: str | None
    iterations_done: int
    iterations: int
    candidates: int = Field(description="candidates proposed so far (baselines excluded)")
    measured: int = Field(description="of those, measured anew (not found in the cache)")
    quick: int = Field(description="of those measured, with the quick measurement only")
    full: int = Field(description="of those measured, with the full protocol")
    screened: int = Field(description="of those proposed, screened out by the cost model: "
                                      "predicted dominated, never measured")  # fmt: skip
    cache_hits: int = Field(description="of those proposed, measured before (the store's)")
    failed: int = Field(description="of those proposed, whose measurement failed")
    cost_model: CostModelSummary | None = Field(
        description="the cost model's error as the search last recorded it (fractions: 0.06 "
        "is 6 %); null when the search has none"
    )
    hypervolume: float | None = Field(
        description="of the frontier, in the box hypervolume_box (1: the whole box)"
    )
    hypervolume_box: dict[str, dict[str, float]] | None = Field(
        None,
        description="per objective, the ideal (0) and reference (1) values the "
        "hypervolume is normalised by, in the objective's unit; fixed by the first iteration",
    )
    frontier_size: int
    objectives: list[str]
    updated_at: datetime | None = None


class ReliabilityPublic(_Public):
    """How far a device's figures can be trusted: of the ``measurements`` behind them,
    ``busy`` were taken on a busy device and ``wide`` have a p10-p90 span wider than +-30%
    of their median; ``warnings`` in words where most are."""

    measurements: int
    busy: int
    wide: int
    warnings: list[str]


class FrontierMemberPublic(ModelPublic):
    backbone: str
    params: dict[str, int] = Field(description="decoder, attention, feed_forward, ... (elements)")
    config: dict[str, Any]
    search_measurement_id: int | None = None
    final_measurement_id: int | None = None


class DeviceFrontierPublic(DeviceHeaderPublic):
    """A device's header, its frontier (``members``, by decoder parameters) and the
    comparison with each baseline."""

    search_settings: dict[str, Any] | None = Field(
        None, description="the settings of every search-time measurement on this device"
    )
    final_settings: dict[str, Any] | None = Field(
        None, description="the settings of the final measurements (None: none made)"
    )
    members: list[FrontierMemberPublic] = Field(default_factory=list)
    baselines: list[ComparisonPublic] = Field(default_factory=list)
    cross: list[ModelPublic] = Field(
        default_factory=list,
        description="models of the other devices' frontiers measured "
        "here at the end of the search (--cross-measure)",
    )
    reliability: ReliabilityPublic = Field(
        default_factory=lambda: ReliabilityPublic(measurements=0, busy=0, wide=0, warnings=[])
    )
    hypervolume_ratio: float | None = Field(
        None,
        description="the frontier's hypervolume over the layer-scaled baselines', on "
        "one box (each objective from the best to the worst of both, +10%); above 1: better "
        "than scaling a standard model",
    )


def figure_public(f: Figure) -> FigurePublic:
    return FigurePublic(value=f.value, p10=f.p10, p90=f.p90, predicted=f.predicted,
                        stand_in=f.stand_in)  # fmt: skip


def model_fields(row: ModelRow) -> dict[str, Any]:
    """The fields of :class:`ModelPublic` of ``row`` (the flat ones from its objectives)."""
    latency = row.values.get("latency")
    memory = row.values.get("memory")
    decode = row.values.get("decode_latency")
    return {
        "arch_id": row.arch_id, "n_layer": row.n_layer, "d_model": row.d_model,
        "decoder_params": row.decoder_params, "total_params": row.total_params,
        "weight_bytes": row.weight_bytes, "onnx_bytes": row.onnx_bytes, "proxy": row.proxy,
        "figures": row.figures, "error": row.error, "measure": row.measure,
        "objectives": {n: figure_public(f) for n, f in row.values.items()},
        "latency_ms": latency.value if latency else None,
        "p10_ms": latency.p10 if latency else None,
        "p90_ms": latency.p90 if latency else None,
        "decode_latency_ms": decode.value if decode else None,
        "peak_memory_mb": memory.value if memory else None,
        "predicted_latency_ms": latency.predicted if latency else None,
        "predicted_memory_mb": memory.predicted if memory else None,
        "memory_predicted": bool(memory and memory.stand_in),
    }  # fmt: skip


def model_public(row: ModelRow) -> ModelPublic:
    return ModelPublic(**model_fields(row))


def comparison_public(c: Comparison) -> ComparisonPublic:
    return ComparisonPublic(
        baseline=model_public(c.baseline),
        match=model_public(c.match) if c.match is not None else None,
        ratios=dict(c.ratios),
        speedup=c.speedup,
        memory_ratio=c.memory_ratio,
    )


def header_fields(h: DeviceHeader) -> dict[str, Any]:
    n = h.counts
    return {
        "position": h.position, "agent": h.agent, "device": h.device, "device_id": h.device_id,
        "fingerprint": h.fingerprint,
        "status": h.status, "message": h.message, "iterations_done": h.iterations_done,
        "iterations": h.iterations, "candidates": n.proposed, "measured": n.measured,
        "quick": n.quick, "full": n.full, "screened": n.screened, "cache_hits": n.cache_hits,
        "failed": n.failed,
        "cost_model": h.cost_model, "hypervolume": h.hypervolume,
        "frontier_size": h.frontier_size, "objectives": list(h.objectives),
        "updated_at": h.updated_at, "hypervolume_box": h.hypervolume_box,
    }  # fmt: skip


def header_public(h: DeviceHeader) -> DeviceHeaderPublic:
    return DeviceHeaderPublic(**header_fields(h))


def device_frontier_public(
    d: DeviceReport, members: list[FrontierMemberPublic], settings: tuple[Any, Any] = (None, None)
) -> DeviceFrontierPublic:
    """The public frontier of report ``d``, with its ``members`` (rows with their records)
    and the search-time and final measurement ``settings``."""
    return DeviceFrontierPublic(
        **header_fields(d),
        search_settings=settings[0],
        final_settings=settings[1],
        members=members,
        baselines=[comparison_public(c) for c in d.comparisons],
        cross=[model_public(r) for r in d.cross],
        reliability=ReliabilityPublic(
            measurements=d.reliability.measurements,
            busy=d.reliability.busy,
            wide=d.reliability.wide,
            warnings=list(d.reliability.warnings),
        ),
        hypervolume_ratio=d.hypervolume_ratio,
    )


def frontier_members(d: DeviceReport) -> list[FrontierMemberPublic]:
    """The members of ``d``'s frontier with their architectures and measurement ids."""
    if d.loaded is None:
        return []
    archs = d.loaded.archs
    out = []
    for row in d.frontier:
        arch = archs[row.arch_id]
        during, final = d.measurement_ids.get(row.arch_id, (None, None))
        out.append(FrontierMemberPublic(
            **model_fields(row), backbone=arch.backbone, params=arch.params, config=arch.config,
            search_measurement_id=during, final_measurement_id=final,
        ))  # fmt: skip
    return out


def measurement_settings(d: DeviceReport) -> tuple[Any, Any]:
    """The settings of the device's search-time and final measurements (one key each)."""
    if d.loaded is None:
        return None, None
    ms = d.loaded.measurements
    during = [ms[i].settings for i, _ in d.measurement_ids.values() if i in ms]
    final = [ms[i].settings for _, i in d.measurement_ids.values() if i in ms]
    return (during[0] if during else None), (final[0] if final else None)


def device_public(d: DeviceReport) -> DeviceFrontierPublic:
    """The public frontier of one device of a report."""
    return device_frontier_public(d, frontier_members(d), measurement_settings(d))


def device_json(d: DeviceReport) -> dict[str, Any]:
    """:func:`device_public` as plain JSON (non-finite floats as null)."""
    return json.loads(device_public(d).model_dump_json())
