"""``GET /health``: liveness, without a token (what container health checks call)."""

from __future__ import annotations

from fastapi import APIRouter

from lts.controller.api.deps import StateDep
from lts.controller.api.schemas import HealthPublic
from lts.shared import __version__

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthPublic)
def read_health(state: StateDep) -> HealthPublic:
    """The controller is up and serving; no token needed."""
    return HealthPublic(version=__version__, running=len(state.runs.running()))
