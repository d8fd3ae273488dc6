"""``GET /objectives``: the objectives a search can optimise, as declared once
(:mod:`lts.shared.objectives`): what clients name columns and axes by."""

from __future__ import annotations

from fastapi import APIRouter

from lts.controller.api.errors import responses
from lts.controller.api.schemas import ObjectivePublic, ObjectivesPublic
from lts.shared.objectives import DEFAULT_OBJECTIVES, OBJECTIVES

router = APIRouter(tags=["objectives"])


@router.get("/objectives", response_model=ObjectivesPublic, responses=responses(401))
def read_objectives() -> ObjectivesPublic:
    """Every objective, in declaration order, and the default set."""
    data = [
        ObjectivePublic(
            name=o.name, sense=o.sense, unit=o.unit, label=o.label, source=o.source,
            timed=o.timed, column=o.column, bound=o.bound, description=o.description,
        )
        for o in OBJECTIVES.values()
    ]
    return ObjectivesPublic(data=data, count=len(data), default=list(DEFAULT_OBJECTIVES))
