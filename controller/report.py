"""What a search reports, read back from the store: per device, the frontier and the
comparison with each layer-scaled baseline. :func:`device_frontier` builds it for one device;
``controller results``, the search command's final table, the API's frontier
(:mod:`controller.api.reads`), plots and exports all show what it builds.

A finished device reports the figures of the final re-measurement (larger budget). A device
that has not finished (running elsewhere, interrupted, failed) reports its current frontier
from the search-time measurements, marked as such. A candidate screened out by the cost model
has no measurement, so it is never a frontier member; one measured quickly without its peak
memory ranks by the predicted memory, marked as predicted (``memory_predicted``).

The baseline comparison is the paper's claim made on the user's device: for each baseline,
the fastest frontier model with at least the baseline's decoder parameters (the perplexity
proxy), its speed-up (baseline latency / model latency) and memory ratio (baseline peak
memory / model peak memory; above 1 means less memory).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from lts.controller import pareto
from lts.controller.search.config import SearchConfig
from lts.controller.search.lease import live_devices, live_search
from lts.controller.search.runner import load_config
from lts.controller.store import (
    ArchitectureRecord,
    CandidateCounts,
    CandidateFigures,
    DeviceRecord,
    MeasurementRecord,
    ReportedRecord,
    SearchDeviceRecord,
    SearchRecord,
    Store,
)
from lts.controller.store.records import memory_predicted
from lts.shared.errors import ConfigError


@dataclass(frozen=True)
class ModelRow:
    """One model on one device. ``latency_ms`` is the median; ``figures`` says which
    measurement the numbers come from (``final`` or ``search``); ``error`` is set when the
    measurement failed. ``measure``: how the search measured it (``full`` or ``quick``; None
    for a search that did not record it); ``predicted_latency_ms`` and
    ``predicted_memory_mb``: the cost model's prediction when it was proposed (None: none);
    ``memory_predicted``: ``peak_memory_mb`` is that prediction, not a measurement (a quick
    search-time measurement that did not measure memory)."""

    arch_id: str
    n_layer: int
    d_model: int
    decoder_params: int
    latency_ms: float | None
    p10_ms: float | None
    p90_ms: float | None
    peak_memory_mb: float | None
    figures: str
    error: str | None = None
    measure: str | None = None
    predicted_latency_ms: float | None = None
    predicted_memory_mb: float | None = None
    memory_predicted: bool = False


@dataclass(frozen=True)
class PredictionErrors:
    """How far one of the cost model's predictions is from the measurements: ``n``
    measurements it was fitted on, ``n_scored`` predictions scored on measurements it was not
    fitted on, their median and 90th percentile absolute percentage error (``mdape``,
    ``p90ape``: fractions, 0.06 is 6 %). Any of them may be None (not recorded)."""

    n: int | None = None
    n_scored: int | None = None
    mdape: float | None = None
    p90ape: float | None = None


@dataclass(frozen=True)
class CostModelSummary:
    """The cost model of a device as the search last recorded it (its state's
    ``cost_model``): the error of its ``latency`` and ``memory`` predictions, that of the
    ``quick`` measurements against full ones, and the ``margin`` (per objective, a fraction)
    by which a candidate must be predicted dominated to be screened out (``quick``: the
    uncertainty of a quick measurement), where recorded."""

    latency: PredictionErrors | None = None
    memory: PredictionErrors | None = None
    quick: PredictionErrors | None = None
    margin: dict[str, float] = field(default_factory=dict)


def cost_model_summary(state: Mapping[str, Any]) -> CostModelSummary | None:
    """The ``cost_model`` summary of a search device's state, None when there is none (a
    search before the cost model, or before its first iteration). Every key is optional: one
    missing, or not of its type, reads as None."""
    raw = state.get("cost_model")
    if not isinstance(raw, dict):
        return None

    def error(key: str) -> PredictionErrors | None:
        part = raw.get(key)
        if not isinstance(part, dict):
            return None
        return PredictionErrors(
            n=_count(part.get("n")),
            n_scored=_count(part.get("n_scored")),
            mdape=_fraction(part.get("mdape")),
            p90ape=_fraction(part.get("p90ape")),
        )

    # The margins: a top-level {"latency": m, "memory": m}, else (per key) the "margin" a
    # quantity's own figures carry.
    given = raw.get("margin")
    margin: dict[str, float] = {}
    for key in ("latency", "memory", "quick"):
        own = raw.get(key)
        value = _fraction(given.get(key)) if isinstance(given, dict) else None
        if value is None and isinstance(own, dict):
            value = _fraction(own.get("margin"))
        if value is not None:
            margin[key] = value
    return CostModelSummary(error("latency"), error("memory"), error("quick"), margin)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _fraction(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


@dataclass(frozen=True)
class Comparison:
    baseline: ModelRow
    match: ModelRow | None
    speedup: float | None
    memory_ratio: float | None


@dataclass(frozen=True)
class DeviceReport:
    position: int
    agent: str
    device: str | None
    device_id: int | None
    fingerprint: str | None
    status: str
    message: str | None
    iterations_done: int
    iterations: int
    candidates: int
    cache_hits: int
    hypervolume: float | None
    frontier: list[ModelRow]
    comparisons: list[Comparison]
    counts: CandidateCounts = field(default_factory=CandidateCounts)
    cost_model: CostModelSummary | None = None


@dataclass(frozen=True)
class SearchReport:
    search: SearchRecord
    config: SearchConfig
    devices: list[DeviceReport]

    def to_json(self) -> dict[str, Any]:
        s = self.search
        return {
            "search": {
                "id": s.id,
                "name": s.name,
                "status": s.status,
                "message": s.message,
                "seed": s.seed,
                "created_at": s.created_at.isoformat(),
                "finished_at": s.finished_at.isoformat() if s.finished_at else None,
                "settings": s.settings,
            },
            "devices": [_json_safe(asdict(d)) for d in self.devices],
        }


def build_report(store: Store, search_id: int, device: str | None = None) -> SearchReport:
    """The report of search ``search_id`` (only the device named ``device`` if given)."""
    search = live_search(store, store.get_search(search_id))
    config = load_config(store, search_id)
    known = {d.id: d for d in store.list_devices()}
    names = {i: d.name for i, d in known.items()}
    devices = select_devices(store, search, device, names)
    counts = store.candidate_counts(search_id)
    reports = [
        _device_report(store, config, sd, known.get(sd.device_id or -1), counts) for sd in devices
    ]
    return SearchReport(search, config, reports)


def select_devices(
    store: Store, search: SearchRecord, device: str | None, names: dict[int, str]
) -> list[SearchDeviceRecord]:
    """The search's devices (as :func:`live_devices` shows them); with ``device``, the one of
    that agent or device name (``names``: device names by id). Raises ConfigError (field
    ``device``) when the search ran on no such device."""
    devices = live_devices(store, search)
    if device is None:
        return devices
    chosen = [d for d in devices if device in (d.agent, names.get(d.device_id or -1))]
    if not chosen:
        raise ConfigError("device", f"search {search.id} has no device named {device!r}")
    return chosen


def _device_report(
    store: Store,
    config: SearchConfig,
    sd: SearchDeviceRecord,
    record: DeviceRecord | None,
    counts: dict[int, CandidateCounts],
) -> DeviceReport:
    cands: list[CandidateFigures] = []
    hypervolume: float | None = None
    frontier: list[ModelRow] = []
    comparisons: list[Comparison] = []
    if sd.device_id is not None:  # None: no device has answered for it, nothing is measured
        cands = store.candidate_figures(sd.search_id, sd.device_id)
        hvs = store.hypervolumes(sd.search_id, sd.device_id)
        hypervolume = hvs[-1].hypervolume if hvs else None
        front = device_frontier(store, config, sd.search_id, sd.device_id, cands)
        frontier, comparisons = front.frontier, front.comparisons
    return DeviceReport(
        position=sd.position,
        agent=sd.agent,
        device=record.name if record else None,
        device_id=sd.device_id,
        fingerprint=record.fingerprint if record else None,
        status=sd.status,
        message=sd.message,
        iterations_done=sd.iteration_done + 1,
        iterations=config.iterations,
        candidates=sum(c.iteration >= 0 for c in cands),
        cache_hits=sum(bool(c.cache_hit) for c in cands),
        hypervolume=hypervolume,
        frontier=frontier,
        comparisons=comparisons,
        counts=counts.get(sd.device_id or -1, CandidateCounts()),
        cost_model=cost_model_summary(sd.state),
    )


#: A candidate's measure, predicted latency (ms) and predicted peak memory (MB).
Estimate = tuple[str | None, float | None, float | None]


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


def device_frontier(
    store: Store,
    config: SearchConfig,
    search_id: int,
    device_id: int,
    cands: list[CandidateFigures] | None = None,
) -> DeviceFrontier:
    """The frontier and baseline comparison of one device of a search: from its stored report
    once it has finished (no candidate is read then), else from its candidates so far
    (``cands``, :meth:`Store.candidate_figures`, read when not given). The one builder of
    what ``controller results``, the API, plots and exports show."""
    reported = store.reported(search_id, device_id)
    if reported:
        frontier, baselines, loaded = reported_rows(store, reported)
        ids = {r.arch_id: (r.search_measurement_id, r.final_measurement_id) for r in reported}
    else:  # still searching, stopped or failed: the current frontier
        if cands is None:
            cands = store.candidate_figures(search_id, device_id)
        frontier, baselines, loaded = live_rows(store, config, cands)
        ids = {c.arch_id: (c.measurement_id, None) for c in cands if c.measurement_id}
    frontier = sorted(frontier, key=lambda r: (r.decoder_params, r.arch_id))
    comparisons = [compare(b, frontier) for b in sorted(baselines, key=lambda r: r.n_layer)]
    return DeviceFrontier(frontier, comparisons, ids, loaded)


def compare(baseline: ModelRow, frontier: list[ModelRow]) -> Comparison:
    """The fastest frontier model with at least ``baseline``'s decoder parameters, among
    those measured like the baseline (final or search-time figures) when there are any."""
    ok = [r for r in frontier if r.latency_ms is not None and r.error is None]
    alike = [r for r in ok if r.figures == baseline.figures]
    ok = alike or ok
    big = [r for r in ok if r.decoder_params >= baseline.decoder_params]
    if baseline.latency_ms is None or not big:
        return Comparison(baseline, None, None, None)
    match = min(big, key=lambda r: (r.latency_ms, r.arch_id))
    speedup = baseline.latency_ms / match.latency_ms if match.latency_ms else None
    ratio = None
    if baseline.peak_memory_mb and match.peak_memory_mb:
        ratio = baseline.peak_memory_mb / match.peak_memory_mb
    return Comparison(baseline, match, speedup, ratio)


def _row(
    arch: ArchitectureRecord,
    m: MeasurementRecord | None,
    figures: str,
    estimate: Estimate = (None, None, None),
) -> ModelRow:
    """The row of ``arch`` with the figures of ``m``; ``estimate``: the candidate's measure
    and predicted latency and memory (its predicted memory stands in for a search-time
    quick measurement's that was not measured)."""
    done = m if m is not None and m.ok else None  # the measurement, when it succeeded
    measure, predicted_latency_ms, predicted_memory_mb = estimate
    predicted = (
        done is not None
        and figures == "search"
        and memory_predicted(measure, done.status, done.peak_memory_mb, predicted_memory_mb)
    )
    return ModelRow(
        arch_id=arch.arch_id,
        n_layer=arch.n_layer,
        d_model=arch.d_model,
        decoder_params=arch.decoder_params,
        latency_ms=done.latency_ms if done is not None else None,
        p10_ms=done.latency.get("p10") if done is not None else None,
        p90_ms=done.latency.get("p90") if done is not None else None,
        peak_memory_mb=predicted_memory_mb
        if predicted
        else (done.peak_memory_mb if done else None),
        figures=figures,
        error=None if done is not None else (m.error if m is not None else "not measured"),
        measure=measure,
        predicted_latency_ms=predicted_latency_ms,
        predicted_memory_mb=predicted_memory_mb,
        memory_predicted=predicted,
    )


def reported_rows(
    store: Store, reported: list[ReportedRecord]
) -> tuple[list[ModelRow], list[ModelRow], Loaded]:
    """The frontier and the baselines of a finished device, from its stored report
    (:meth:`Store.reported`), in the report's order: each with the figures of its final
    re-measurement when that succeeded (``figures="final"``), else of its search-time one.
    Reads the architectures and measurements named; no candidate is read."""
    archs = store.architectures(r.arch_id for r in reported)
    ids = [i for r in reported for i in (r.final_measurement_id, r.search_measurement_id) if i]
    ms = store.get_measurements(ids)
    estimates = _estimates(store, reported)
    frontier: list[ModelRow] = []
    baselines: list[ModelRow] = []
    for r in reported:
        final = ms.get(r.final_measurement_id) if r.final_measurement_id else None
        during = ms.get(r.search_measurement_id) if r.search_measurement_id else None
        estimate = estimates.get(r.arch_id, (None, None, None))
        if final is not None and final.ok:
            row = _row(archs[r.arch_id], final, "final", estimate)
        else:
            row = _row(archs[r.arch_id], during, "search", estimate)
        (frontier if r.role == "frontier" else baselines).append(row)
    return frontier, baselines, Loaded(archs, ms)


def _estimates(store: Store, reported: list[ReportedRecord]) -> dict[str, Estimate]:
    """The measure and predictions of each reported architecture's candidate (its last one)."""
    if not reported:
        return {}
    first = reported[0]
    found = store.last_candidates(first.search_id, first.device_id, [r.arch_id for r in reported])
    return {a: (c.measure, c.predicted_latency_ms, c.predicted_memory_mb) for a, c in found.items()}


def live_rows(
    store: Store, config: SearchConfig, cands: list[CandidateFigures]
) -> tuple[list[ModelRow], list[ModelRow], Loaded]:
    """The current frontier and the baselines of a device that has not finished, from its
    candidates so far (:meth:`Store.candidate_figures`; search-time figures): the frontier is
    that of ``config`` over the feasible, successfully measured candidates (unsorted; empty
    when none is); baselines are the candidates of negative iteration, measured or not. Full
    records are read for those rows only (with the default proxy; another proxy needs every
    candidate's architecture)."""
    bounds = config.bounds()
    # The feasible candidates that were measured successfully (by architecture, the last one
    # of each), with their median latency (never None then: see CandidateFigures.ok).
    feasible: dict[str, tuple[CandidateFigures, float]] = {}
    for c in cands:
        latency = c.latency_ms if c.ok else None  # None for a screened one: never measured
        if c.iteration < 0 or latency is None:
            continue
        if bounds.feasible(latency, c.memory_mb or 0.0):
            feasible[c.arch_id] = (c, latency)
    unique = list(feasible.values())
    chosen: list[CandidateFigures] = []
    if unique:
        if config.proxy == "decoder_params":
            scores = [float(c.decoder_params) for c, _ in unique]
        else:
            archs = store.architectures(c.arch_id for c, _ in unique)
            scores = [_proxy(config.proxy, archs[c.arch_id]) for c, _ in unique]
        rows = [
            (score, latency, c.memory_mb or 0.0)
            for score, (c, latency) in zip(scores, unique, strict=True)
        ]
        f = pareto.objectives(rows, _higher_is_better(config.proxy))
        chosen = [unique[i][0] for i in pareto.frontier(f, config.frontier)]
    based = [c for c in cands if c.iteration < 0]
    archs = store.architectures(c.arch_id for c in chosen + based)
    ms = store.get_measurements(c.measurement_id for c in chosen + based if c.measurement_id)

    def row(c: CandidateFigures) -> ModelRow:
        estimate = (c.measure, c.predicted_latency_ms, c.predicted_memory_mb)
        return _row(archs[c.arch_id], ms.get(c.measurement_id or -1), "search", estimate)

    return [row(c) for c in chosen], [row(c) for c in based], Loaded(archs, ms)


def _higher_is_better(proxy: str) -> bool:
    from lts.controller.proxies import get_proxy

    return get_proxy(proxy).higher_is_better


def _proxy(proxy: str, arch: ArchitectureRecord) -> float:
    if proxy == "decoder_params":
        return float(arch.decoder_params)
    from lts.controller.proxies import get_proxy

    return float(get_proxy(proxy)(arch.to_config()))


def _json_safe(value: Any) -> Any:
    """Non-finite floats as null (strict JSON for machines)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
