"""Models across devices: the rows of a search's devices joined by architecture.

:func:`joint_report` lists every model that has figures on each of the chosen devices, with
each device's figures (its :class:`~lts.controller.report.ModelRow` there), and marks the
joint frontier: the models no other listed model beats on the proxy and on every device's
objectives at once, within the search's caps on every device. Where a device's figures come
from: its reported frontier, its baselines and, after the cross step
(:mod:`lts.controller.search.cross`), the other devices' frontier members measured there. A
joint search (``--joint``) reports one frontier with every device's figures, so all of its
members are listed. What ``controller results``, ``GET /searches/{id}/joint``, ``controller
pick`` across devices and the dashboard's comparison show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lts.controller import pareto
from lts.controller.report import DeviceReport, ModelRow, SearchReport
from lts.shared.errors import ConfigError
from lts.shared.objectives import ObjectiveSet, qualified


@dataclass(frozen=True)
class JointRow:
    """One model with its figures on each device (``devices``: its row there, by device
    name); ``member``: on the joint frontier."""

    arch_id: str
    n_layer: int
    d_model: int
    decoder_params: int
    total_params: int
    proxy: float
    devices: dict[str, ModelRow]
    member: bool


@dataclass(frozen=True)
class JointReport:
    """The models with figures on every device of ``devices`` (names, in the search's
    order), by decoder parameters; ``objectives``: the measured objectives each device's
    figures hold; ``joint``: the search was a joint one."""

    search_id: int
    devices: list[str]
    objectives: tuple[str, ...]
    rows: list[JointRow]
    joint: bool


def device_label(d: DeviceReport) -> str:
    """A device's name in joint views: the device's own, else the agent's."""
    return d.device or d.agent


def choose_devices(report: SearchReport, names: Sequence[str] | None) -> list[DeviceReport]:
    """The devices of ``report`` named (agent or device names; None: all), in the search's
    order. ConfigError (field ``device``) for a name the search did not run on."""
    if not names:
        return list(report.devices)
    known = {n: d for d in report.devices for n in (d.agent, d.device) if n}
    unknown = [n for n in names if n not in known]
    if unknown:
        choices = ", ".join(device_label(d) for d in report.devices)
        raise ConfigError("device", f"search {report.search.id} has no device named "
                                    f"{unknown[0]!r} (devices: {choices})")  # fmt: skip
    chosen = {id(known[n]) for n in names}
    return [d for d in report.devices if id(d) in chosen]


def device_rows(d: DeviceReport) -> dict[str, ModelRow]:
    """Every model with figures on device ``d``, by arch id: its frontier, its baselines and
    its cross figures (in that order of preference), those that succeeded."""
    out: dict[str, ModelRow] = {}
    for row in [*d.frontier, *(c.baseline for c in d.comparisons), *d.cross]:
        if row.error is None and row.arch_id not in out:
            out[row.arch_id] = row
    return out


def joint_report(report: SearchReport, names: Sequence[str] | None = None) -> JointReport:
    """The models of ``report`` with figures on every device named (see the module doc)."""
    devices = choose_devices(report, names)
    labels = [device_label(d) for d in devices]
    config = report.config
    base = config.objective_set()
    measured = base.measured_names
    per = [device_rows(d) for d in devices]
    common = [a for a in per[0] if all(a in rows for rows in per[1:])] if per else []
    rows = []
    for a in common:
        first = per[0][a]
        rows.append(JointRow(
            arch_id=a, n_layer=first.n_layer, d_model=first.d_model,
            decoder_params=first.decoder_params, total_params=first.total_params,
            proxy=first.proxy, devices={lab: r[a] for lab, r in zip(labels, per, strict=True)},
            member=False,
        ))  # fmt: skip
    members = _members(rows, base, labels, config.bounds().limits, config.frontier)
    out = [JointRow(**{**r.__dict__, "member": r.arch_id in members}) for r in rows]
    out.sort(key=lambda r: (r.decoder_params, r.arch_id))
    return JointReport(report.search.id, labels, measured, out, config.joint)


def _members(
    rows: Sequence[JointRow], base: ObjectiveSet, labels: list[str],
    caps: Mapping[str, float], kind: str,
) -> set[str]:  # fmt: skip
    """The joint frontier of ``rows``: non-dominated over the proxy and each device's
    measured objectives, among the rows with every value and within every cap."""
    if not labels:
        return set()
    names = base.measured_names
    objectives = ObjectiveSet.joint(base, labels) if len(labels) > 1 else base
    ok: list[tuple[JointRow, list[float]]] = []
    for r in rows:
        values = [r.devices[lab].value(n) for lab in labels for n in names]
        if any(v is None for v in values):
            continue
        within = all((r.devices[lab].value(n) or 0.0) <= cap
                     for lab in labels for n, cap in caps.items())  # fmt: skip
        if within:
            ok.append((r, [float(v or 0.0) for v in values]))
    if not ok:
        return set()
    points = [objectives.minimised([r.proxy, *values]) for r, values in ok]
    return {ok[i][0].arch_id for i in pareto.frontier(points, kind)}


def joint_names(report: JointReport) -> list[str]:
    """The joint objectives' names of ``report`` (``latency@pi``, ...), in column order."""
    return [qualified(n, d) for d in report.devices for n in report.objectives]
