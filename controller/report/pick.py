"""The decision a search exists for: the model to ship for a budget on one or more devices.

:func:`pick` chooses, among a search's reported models, the one with the best proxy (most
decoder parameters by default: the lowest perplexity the proxy predicts) whose figures meet
every cap of every budget (:class:`Budget`: per device, a cap per measured objective in its
unit, e.g. ``latency`` 30 ms, ``memory`` 200 MiB), read as the median (``by="median"``) or as
the p90 where the figure has one (``by="p90"``: nine runs in ten within the budget). Ties go
to the lower first measured objective on the first device, then the arch id.

On one device the candidates are its reported frontier (the best model within a budget is
always on the frontier: a model that beats it meets the budget too). On several devices they
are the models with figures on all of them (:func:`~lts.controller.report.joint.joint_report`:
a joint search's members, or each device's frontier measured on the others by the cross step);
a model not measured on every named device does not qualify.

``controller pick``, ``GET /searches/{id}/pick`` and the dashboard's budget form all call
:func:`pick` (through :func:`parse_budgets` for their input), and show its :class:`Pick`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from lts.controller.report import ModelRow, SearchReport
from lts.controller.report.joint import (
    JointRow,
    choose_devices,
    device_label,
    joint_report,
)
from lts.shared.errors import ConfigError
from lts.shared.objectives import measured

#: The budget options, each the search option that caps its objective (max_latency_ms, ...).
CAPS: dict[str, str] = {o.bound: o.name for o in measured() if o.bound}
#: Most devices one pick may name, and the largest cap (both far above any real use).
MAX_DEVICES = 64
MAX_CAP = 1e9
#: How a figure is read against its cap.
By = Literal["median", "p90"]
BY: tuple[str, ...] = ("median", "p90")


@dataclass(frozen=True)
class Budget:
    """A device (agent or device name) and its caps: objective name -> the most allowed, in
    the objective's unit."""

    device: str
    caps: dict[str, float]


@dataclass(frozen=True)
class Pick:
    """What :func:`pick` chose: ``choice`` (None: no model meets the budgets) among
    ``candidates`` models, of which ``within`` met every budget; ``devices`` the device names
    in the search's order (the keys of the choice's ``devices``); ``notes``: what a user
    should know about the choice (a p90 over a cap, a predicted figure)."""

    search_id: int
    budgets: list[Budget]
    by: str
    devices: list[str]
    objectives: tuple[str, ...]
    candidates: int
    within: int
    choice: JointRow | None
    notes: list[str] = field(default_factory=list)


def parse_budgets(devices: Sequence[str], caps: Mapping[str, Sequence[str]]) -> list[Budget]:
    """The budgets of a request: ``devices`` named (``--device``, ``device=``) and, per cap
    option (``max_latency_ms``, ...), its values, each ``X`` (on every device named) or
    ``NAME=X`` (on device NAME, which is named by it if it was not). ConfigError naming the
    option for a bad value, an unknown option, too many devices or no device."""
    order = list(dict.fromkeys(d.strip() for d in devices if d.strip()))
    per: dict[str, dict[str, float]] = {}
    common: dict[str, float] = {}
    for option, values in caps.items():
        if option not in CAPS:
            raise ConfigError(option, f"unknown budget; choose from {', '.join(CAPS)}")
        for text in values:
            name, _, number = text.rpartition("=")
            cap = _cap(option, number)
            name = name.strip()
            if name:
                if name not in order:
                    order.append(name)
                per.setdefault(name, {})[CAPS[option]] = cap
            else:
                common[CAPS[option]] = cap
    if not order:
        raise ConfigError("device", "name a device: --device NAME (or a cap NAME=X)")
    if len(order) > MAX_DEVICES:
        raise ConfigError("device", f"at most {MAX_DEVICES} devices, got {len(order)}")
    if any(len(n) > 200 for n in order):
        raise ConfigError("device", "a device name has at most 200 characters")
    return [Budget(d, {**common, **per.get(d, {})}) for d in order]


def _cap(option: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(option, f"not a number: {text!r} (X, or DEVICE=X)") from None
    if not (math.isfinite(value) and 0 < value <= MAX_CAP):
        raise ConfigError(option, f"must be above 0 and at most {MAX_CAP:g}, got {text}")
    return value


def pick(report: SearchReport, budgets: Sequence[Budget], by: str = "median") -> Pick:
    """The best model of ``report`` within ``budgets`` (see the module doc). ConfigError for a
    device the search did not run on (field ``device``), a cap on an objective it did not
    measure (the cap's option) or an unknown ``by``."""
    if by not in BY:
        raise ConfigError("by", f"must be one of {', '.join(BY)}, got {by!r}")
    devices = choose_devices(report, [b.device for b in budgets])
    objectives = report.config.objective_set()
    names = objectives.measured_names
    for b in budgets:
        for name in b.caps:
            if name not in names:
                option = next(o for o, n in CAPS.items() if n == name)
                raise ConfigError(option, f"caps {name}, which search {report.search.id} did "
                                          f"not measure ({', '.join(names)})")  # fmt: skip
    labels = [device_label(d) for d in devices]
    by_name = {n: device_label(d) for d in devices for n in (d.agent, d.device) if n}
    caps = {by_name[b.device]: b.caps for b in budgets}
    if len(devices) == 1:
        d = devices[0]
        rows = [_single(r, labels[0]) for r in d.frontier if r.error is None]
    else:
        rows = joint_report(report, labels).rows
    ok = [r for r in rows if all(_within(r.devices[lab], caps.get(lab, {}), by) for lab in labels)]
    sign = 1.0 if objectives.proxy_higher_is_better else -1.0
    first = names[0]

    def rank(r: JointRow) -> tuple[float, float, str]:
        lead = r.devices[labels[0]].value(first)
        return (-sign * r.proxy, lead if lead is not None else math.inf, r.arch_id)

    choice = min(ok, key=rank) if ok else None
    return Pick(
        search_id=report.search.id, budgets=list(budgets), by=by, devices=labels,
        objectives=names, candidates=len(rows), within=len(ok), choice=choice,
        notes=_notes(choice, caps, by) if choice is not None else [],
    )  # fmt: skip


def figure_for(row: ModelRow, name: str, by: str) -> float | None:
    """The figure of objective ``name`` read against a cap: the median, or the p90 where
    ``by`` asks for it and the figure has one."""
    f = row.values.get(name)
    if f is None:
        return None
    if by == "p90" and f.p90 is not None:
        return f.p90
    return f.value


def _within(row: ModelRow, caps: Mapping[str, float], by: str) -> bool:
    for name, cap in caps.items():
        value = figure_for(row, name, by)
        if value is None or not value <= cap:
            return False
    return True


def _single(row: ModelRow, label: str) -> JointRow:
    return JointRow(row.arch_id, row.n_layer, row.d_model, row.decoder_params,
                    row.total_params, row.proxy, {label: row}, member=True)  # fmt: skip


def _notes(choice: JointRow, caps: Mapping[str, Mapping[str, float]], by: str) -> list[str]:
    """What the figures of the choice leave open: a p90 over a cap read by its median, a
    value that is a prediction."""
    out = []
    for label, row in choice.devices.items():
        for name, cap in caps.get(label, {}).items():
            f = row.values.get(name)
            if f is None:
                continue
            if by == "median" and f.p90 is not None and f.p90 > cap:
                out.append(
                    f"{label}: its {name} p90 ({f.p90:.4g}) is over the cap ({cap:g}): "
                    "one run in ten or more exceeds it (--by p90 picks within it)"
                )
            if f.stand_in:
                out.append(
                    f"{label}: its {name} is the cost model's prediction (a quick "
                    "measurement did not measure it)"
                )
    return out
