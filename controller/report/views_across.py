"""The report across devices as JSON, written alike by the REST API (``GET /searches/{id}/joint``
and ``/pick``), ``controller pick --json`` and the dashboard: :class:`JointPublic` (the models
with figures on every device, each device's) and :class:`PickPublic` (the model chosen for a
budget, with its export command). The per-device shapes are :mod:`lts.controller.report.views`'.
"""

from __future__ import annotations

import shlex

from pydantic import Field

from lts.controller.report import deploy
from lts.controller.report.joint import JointReport, JointRow
from lts.controller.report.pick import Pick
from lts.controller.report.views import ModelPublic, _Public, model_public


class JointModelPublic(_Public):
    """A model with its figures on every device (``devices``: by device name, each as a
    model on that device); ``member``: on the joint frontier."""

    arch_id: str
    n_layer: int
    d_model: int
    decoder_params: int
    total_params: int
    weight_bytes: int
    onnx_bytes: int
    proxy: float
    member: bool
    devices: dict[str, ModelPublic]


class JointPublic(_Public):
    """The models with figures on every device of ``devices`` (by decoder parameters):
    ``joint`` true for a joint search (its frontier is ``member``s), else each device's
    frontier and baselines and, after the cross step, the other devices' frontier members
    measured there; ``objectives``: the measured objectives each device's figures hold."""

    search_id: int
    joint: bool
    devices: list[str]
    objectives: list[str]
    data: list[JointModelPublic]
    count: int
    members: int = Field(description="rows on the joint frontier")


def joint_row_public(r: JointRow) -> JointModelPublic:
    return JointModelPublic(
        arch_id=r.arch_id, n_layer=r.n_layer, d_model=r.d_model,
        decoder_params=r.decoder_params, total_params=r.total_params,
        weight_bytes=deploy.weight_bytes(r.total_params),
        onnx_bytes=deploy.onnx_bytes(r.total_params), proxy=r.proxy, member=r.member,
        devices={k: model_public(v) for k, v in r.devices.items()},
    )  # fmt: skip


def joint_public(j: JointReport) -> JointPublic:
    data = [joint_row_public(r) for r in j.rows]
    return JointPublic(search_id=j.search_id, joint=j.joint, devices=j.devices,
                       objectives=list(j.objectives), data=data, count=len(data),
                       members=sum(r.member for r in j.rows))  # fmt: skip


class BudgetPublic(_Public):
    device: str
    caps: dict[str, float] = Field(description="objective name -> the most allowed (its unit)")


class PickPublic(_Public):
    """What ``controller pick`` and ``GET /searches/{id}/pick`` answer: the ``choice`` (null:
    no model meets the budgets) among ``candidates`` models, ``within`` of which met every
    budget; its deployment figures (``weight_bytes``, ``onnx_bytes`` in the choice) and the
    command that exports it; ``notes``: what its figures leave open."""

    search_id: int
    by: str = Field(
        description="median: each figure's median is read against its cap; p90: "
        "its p90 where it has one"
    )
    budgets: list[BudgetPublic]
    devices: list[str]
    objectives: list[str]
    candidates: int
    within: int
    choice: JointModelPublic | None
    export: str | None = Field(description="the command that exports the choice (ONNX)")
    notes: list[str]


def pick_public(p: Pick) -> PickPublic:
    choice = joint_row_public(p.choice) if p.choice is not None else None
    return PickPublic(
        search_id=p.search_id, by=p.by,
        budgets=[BudgetPublic(device=b.device, caps=dict(b.caps)) for b in p.budgets],
        devices=p.devices, objectives=list(p.objectives), candidates=p.candidates,
        within=p.within, choice=choice, export=export_command(p), notes=list(p.notes),
    )  # fmt: skip


def export_command(p: Pick) -> str | None:
    """The command that exports the chosen model as ONNX (from the first device's search
    figures: the same model on any device)."""
    if p.choice is None:
        return None
    device = shlex.quote(p.devices[0])
    return (
        f"controller export {p.search_id} --device {device} --ids {p.choice.arch_id} "
        "--format onnx --out models/"
    )
