"""``/architectures/{id}``: an architecture's config, parameter counts and measurements."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from lts.controller.api import reads
from lts.controller.api.deps import StoreDep
from lts.controller.api.errors import responses
from lts.controller.api.schemas import ArchitecturePublic, MeasurementsPublic

router = APIRouter(prefix="/architectures", tags=["architectures"])

ArchId = Annotated[
    str, Path(min_length=1, max_length=64, description="the content id (config hash)")
]


@router.get("/{arch_id}", response_model=ArchitecturePublic, responses=responses(401, 404))
def read_architecture(arch_id: ArchId, store: StoreDep) -> ArchitecturePublic:
    """The config (loadable by ``lts.shared.config.ArchConfig.from_dict``), its parameter counts
    and how many measurements the store holds of it."""
    return reads.read_architecture(store, arch_id)


@router.get(
    "/{arch_id}/measurements", response_model=MeasurementsPublic, responses=responses(401, 404)
)
def read_measurements(
    arch_id: ArchId,
    store: StoreDep,
    samples: Annotated[bool, Query(description="include the raw timed runs (ms)")] = False,
) -> MeasurementsPublic:
    """Every measurement of the architecture: each device and settings, with the latency
    statistics, peak memory, the settings and the run context."""
    return reads.read_measurements(store, arch_id, samples)
