"""A device's rows as a search reports them: one :class:`ModelRow` per model, a
:class:`Figure` per measured objective, the baseline comparisons, and the one builder of a
device's frontier (:func:`device_frontier`). See :mod:`lts.controller.report`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lts.controller import pareto
from lts.controller.report import deploy
from lts.controller.search.config import SearchConfig
from lts.controller.store import (
    ArchitectureRecord,
    CandidateFigures,
    MeasurementRecord,
    ReportedRecord,
    Store,
)
from lts.controller.store.records import stand_ins
from lts.shared.objectives import AT, PROXY, ObjectiveSet


@dataclass(frozen=True)
class Figure:
    """One measured objective's figure of a model: ``value`` (a latency's median, the peak
    memory; None: not measured), ``p10``/``p90`` where the measurement has them, the cost
    model's ``predicted`` value when the model was proposed, and ``stand_in``: ``value`` is
    that prediction (a quick measurement that did not measure it)."""

    value: float | None
    p10: float | None = None
    p90: float | None = None
    predicted: float | None = None
    stand_in: bool = False


def protocol(figures: str, measure: str | None) -> str:
    """What a model's figures rest on: ``full`` where they are the final phase's or the
    search measured it in full, else ``quick``."""
    return "full" if figures == "final" or measure != "quick" else "quick"


@dataclass(frozen=True)
class ModelRow:
    """One model on one device. ``values``: a :class:`Figure` per measured objective of the
    search, by name; ``proxy``: its perplexity proxy's score; ``figures`` says which
    measurement the numbers come from (``final`` or ``search``); ``error`` is set when the
    measurement failed. ``measure``: how the search measured it (``full``, ``quick``; None
    for a search that did not record it). ``total_params``: every parameter, the embedding
    and softmax included (the model's size on disk is 4 bytes each in float32)."""

    arch_id: str
    n_layer: int
    d_model: int
    decoder_params: int
    total_params: int
    proxy: float
    values: dict[str, Figure]
    figures: str
    error: str | None = None
    measure: str | None = None

    def value(self, name: str) -> float | None:
        """Objective ``name``'s value (the proxy's score for ``params``)."""
        if name == PROXY:
            return self.proxy
        figure = self.values.get(name)
        return None if figure is None else figure.value

    @property
    def weight_bytes(self) -> int:
        """Its float32 weights in bytes (:mod:`lts.controller.report.deploy`)."""
        return deploy.weight_bytes(self.total_params)

    @property
    def onnx_bytes(self) -> int:
        """The estimated size of its ONNX export in bytes."""
        return deploy.onnx_bytes(self.total_params)

    # The paper's objectives under the API's flat field names.
    @property
    def latency_ms(self) -> float | None:
        return self.value("latency")

    @property
    def peak_memory_mb(self) -> float | None:
        return self.value("memory")


def _fraction(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


@dataclass(frozen=True)
class Comparison:
    """A baseline and its match; ``ratios``: baseline / match per measured objective."""

    baseline: ModelRow
    match: ModelRow | None
    ratios: dict[str, float | None] = field(default_factory=dict)

    @property
    def speedup(self) -> float | None:
        """Baseline / match of the first timed objective (latency, else decode latency)."""
        for name in ("latency", "decode_latency"):
            if name in self.ratios:
                return self.ratios[name]
        return None

    @property
    def memory_ratio(self) -> float | None:
        return self.ratios.get("memory")


@dataclass(frozen=True)
class Loaded:
    """The records read to make a device's rows (so that a caller needs not read them again)."""

    archs: dict[str, ArchitectureRecord]
    measurements: dict[int, MeasurementRecord]


@dataclass(frozen=True)
class DeviceFrontier:
    """What a device reports: its ``frontier`` (by decoder parameters, then arch id), the
    comparison with each baseline (by depth), the measurement ids behind each model
    (``measurement_ids``: arch id to (search-time, final) ids; every candidate's while the
    device is still searching) and the records read to make the rows (``loaded``)."""

    frontier: list[ModelRow]
    comparisons: list[Comparison]
    measurement_ids: dict[str, tuple[int | None, int | None]]
    loaded: Loaded
    #: Models of the other devices' frontiers measured here at the end (their ``cross``
    #: figures; controller.search.cross), by decoder parameters.
    cross: list[ModelRow] = field(default_factory=list)


def device_frontier(
    store: Store,
    config: SearchConfig,
    search_id: int,
    device_id: int,
    cands: list[CandidateFigures] | None = None,
    members: set[str] | None = None,
) -> DeviceFrontier:
    """The frontier and baseline comparison of one device of a search: from its stored report
    once it has finished, else from its candidates so far (``cands``,
    :meth:`Store.candidate_figures`, read when not given; ``members``: the frontier's arch
    ids when another rule than this device's figures makes it, a joint search's). The one
    builder of what ``controller results``, the API, plots, exports and the dashboard
    show."""
    objectives = config.objective_set()
    reported = store.reported(search_id, device_id)
    cross: list[ModelRow] = []
    if any(r.role != "cross" for r in reported):
        frontier, baselines, cross, loaded = reported_rows(store, reported, objectives, config)
        ids = {r.arch_id: (r.search_measurement_id, r.final_measurement_id) for r in reported
               if r.role != "cross"}  # fmt: skip
    else:  # still searching, stopped or failed: the current frontier
        if cands is None:
            cands = store.candidate_figures(search_id, device_id)
        frontier, baselines, loaded = live_rows(store, config, cands, members)
        ids = {c.arch_id: (c.measurement_id, None) for c in cands if c.measurement_id}
    frontier = sorted(frontier, key=lambda r: (r.decoder_params, r.arch_id))
    comparisons = [compare(b, frontier, objectives)
                   for b in sorted(baselines, key=lambda r: r.n_layer)]  # fmt: skip
    cross = sorted(cross, key=lambda r: (r.decoder_params, r.arch_id))
    return DeviceFrontier(frontier, comparisons, ids, loaded, cross)


def compare(baseline: ModelRow, frontier: list[ModelRow], objectives: ObjectiveSet) -> Comparison:
    """The fastest (first measured objective) frontier model with at least ``baseline``'s
    proxy; the ratios baseline / match of every measured objective. (The frontier is the one
    its figures make, baselines included: a baseline that no member beats is a member, so
    no ratio of the first objective is below 1 on a reported frontier.)"""
    first = objectives.measured_names[0]
    ok = [r for r in frontier if r.value(first) is not None and r.error is None]
    sign = objectives.signs[0]
    big = [r for r in ok if sign * r.proxy <= sign * baseline.proxy]
    if baseline.value(first) is None or not big:
        return Comparison(baseline, None)
    match = min(big, key=lambda r: (r.value(first), r.arch_id))
    ratios: dict[str, float | None] = {}
    for name in objectives.measured_names:
        b, m = baseline.value(name), match.value(name)
        ratios[name] = b / m if b is not None and m else None
    return Comparison(baseline, match, ratios)


#: A candidate's measure and predicted values (by objective).
Estimate = tuple[str | None, dict[str, float]]


def make_row(
    arch: ArchitectureRecord,
    m: MeasurementRecord | None,
    figures: str,
    config: SearchConfig,
    estimate: Estimate = (None, {}),
) -> ModelRow:
    """The row of ``arch`` with the figures of ``m`` for the search's measured objectives;
    ``estimate``: the candidate's measure and predicted values (a prediction stands in for a
    search-time quick measurement's missing objective, :func:`stand_ins`)."""
    done = m if m is not None and m.ok else None  # the measurement, when it succeeded
    measure, predicted = estimate
    names = config.objective_set().measured_names
    extra: dict[str, float] = {}
    if done is not None and figures == "search":
        extra = stand_ins(measure, done.status, done.values, predicted, names)
    values: dict[str, Figure] = {}
    for name in names:
        stats = done.stats.get(name, {}) if done is not None else {}
        value = done.values.get(name) if done is not None else None
        values[name] = Figure(
            value=extra.get(name, value),
            p10=_fraction(stats.get("p10")),
            p90=_fraction(stats.get("p90")),
            predicted=predicted.get(name),
            stand_in=name in extra,
        )
    return ModelRow(
        arch_id=arch.arch_id,
        n_layer=arch.n_layer,
        d_model=arch.d_model,
        decoder_params=arch.decoder_params,
        total_params=arch.total_params,
        proxy=_proxy(config.proxy, arch),
        values=values,
        figures=figures,
        error=None if done is not None else (m.error if m is not None else "not measured"),
        measure=measure,
    )


def reported_rows(
    store: Store, reported: list[ReportedRecord], objectives: ObjectiveSet, config: SearchConfig
) -> tuple[list[ModelRow], list[ModelRow], list[ModelRow], Loaded]:
    """The frontier, the baselines and the cross figures of a finished device, from its
    stored report (:meth:`Store.reported`), in the report's order: each with the figures of
    its final measurement when that succeeded with every objective (``figures="final"``),
    else of its search-time one (a cross row has only a final one). Reads the architectures
    and measurements named; no candidate is read."""
    archs = store.architectures(r.arch_id for r in reported)
    ids = [i for r in reported for i in (r.final_measurement_id, r.search_measurement_id) if i]
    ms = store.get_measurements(ids)
    estimates = _estimates(store, reported)
    out: dict[str, list[ModelRow]] = {"frontier": [], "baseline": [], "cross": []}
    names = objectives.measured_names
    for r in reported:
        final = ms.get(r.final_measurement_id) if r.final_measurement_id else None
        during = ms.get(r.search_measurement_id) if r.search_measurement_id else None
        estimate = estimates.get(r.arch_id, (None, {}))
        if final is not None and (final.covers(names) or r.role == "cross"):
            row = make_row(archs[r.arch_id], final, "final", config, estimate)
        else:
            row = make_row(archs[r.arch_id], during, "search", config, estimate)
        out.setdefault(r.role, []).append(row)
    return out["frontier"], out["baseline"], out["cross"], Loaded(archs, ms)


def _estimates(store: Store, reported: list[ReportedRecord]) -> dict[str, Estimate]:
    """The measure and predictions of each reported architecture's candidate (its last one)."""
    if not reported:
        return {}
    first = reported[0]
    found = store.last_candidates(first.search_id, first.device_id, [r.arch_id for r in reported])
    return {a: (c.measure, dict(c.predicted)) for a, c in found.items()}


def live_rows(
    store: Store, config: SearchConfig, cands: list[CandidateFigures],
    members: set[str] | None = None,
) -> tuple[list[ModelRow], list[ModelRow], Loaded]:  # fmt: skip
    """The current frontier and the baselines of a device that has not finished, from its
    candidates so far (:meth:`Store.candidate_figures`; search-time figures): the frontier is
    that of ``config`` over the feasible, successfully measured candidates with a value for
    every objective (predictions standing in where the rule allows), or those of ``members``
    among them where given; baselines are the candidates of negative iteration, measured or
    not. Full records are read for those rows only (with the default proxy; another proxy
    needs every candidate's architecture)."""
    bounds = config.bounds()
    objectives = config.objective_set()
    names = objectives.measured_names
    # The feasible candidates with every objective (by architecture, the last one of each).
    feasible: dict[str, tuple[CandidateFigures, dict[str, float]]] = {}
    for c in cands:
        if c.iteration < 0 or not c.ok:  # a screened one was never measured
            continue
        values, _ = c.filled(names)
        if len(values) == len(names) and bounds.feasible(values):
            feasible[c.arch_id] = (c, values)
    unique = list(feasible.values())
    chosen: list[CandidateFigures] = []
    if members is not None:
        chosen = [c for c, _ in unique if c.arch_id in members]
    elif unique:
        if config.proxy == "decoder_params":
            scores = [float(c.decoder_params) for c, _ in unique]
        else:
            archs = store.architectures(c.arch_id for c, _ in unique)
            scores = [_proxy(config.proxy, archs[c.arch_id]) for c, _ in unique]
        rows = [objectives.minimised([score, *(v[n] for n in names)])
                for score, (_, v) in zip(scores, unique, strict=True)]  # fmt: skip
        chosen = [unique[i][0] for i in pareto.frontier(rows, config.frontier)]
    based = [c for c in cands if c.iteration < 0]
    archs = store.architectures(c.arch_id for c in chosen + based)
    ms = store.get_measurements(c.measurement_id for c in chosen + based if c.measurement_id)

    def row(c: CandidateFigures) -> ModelRow:
        estimate = (c.measure, dict(c.predicted))
        return make_row(archs[c.arch_id], ms.get(c.measurement_id or -1), "search", config,
                        estimate)  # fmt: skip

    return [row(c) for c in chosen], [row(c) for c in based], Loaded(archs, ms)


def joint_live_members(
    store: Store, config: SearchConfig, search_id: int, devices: dict[str, int]
) -> set[str]:
    """The arch ids of a running joint search's current frontier: over the candidates
    measured on every device (``devices``: device id by agent as given), by the joint
    objectives and bounds (:meth:`SearchConfig.joint_objectives`)."""
    objectives = config.joint_objectives()
    bounds = config.joint_bounds()
    base = config.objective_set().measured_names
    joined: dict[str, dict[str, float]] = {}
    params: dict[str, int] = {}
    for label, device_id in devices.items():
        for c in store.candidate_figures(search_id, device_id):
            if c.iteration < 0 or not c.ok:
                continue
            values, _ = c.filled(base)
            if len(values) != len(base):
                continue
            joined.setdefault(c.arch_id, {}).update(
                {f"{n}{AT}{label}": v for n, v in values.items()})  # fmt: skip
            params[c.arch_id] = c.decoder_params
    ids = [a for a, v in joined.items()
           if len(v) == len(objectives.measured_names) and bounds.feasible(v)]  # fmt: skip
    if not ids:
        return set()
    if config.proxy == "decoder_params":
        scores = {a: float(params[a]) for a in ids}
    else:  # another proxy: from the architectures
        archs = store.architectures(ids)
        scores = {a: _proxy(config.proxy, archs[a]) for a in ids}
    rows = [objectives.minimised([scores[a], *(joined[a][n] for n in objectives.names[1:])])
            for a in ids]  # fmt: skip
    return {ids[i] for i in pareto.frontier(rows, config.frontier)}


def _proxy(proxy: str, arch: ArchitectureRecord) -> float:
    if proxy == "decoder_params":
        return float(arch.decoder_params)
    from lts.controller.proxies import get_proxy

    return float(get_proxy(proxy)(arch.to_config()))
