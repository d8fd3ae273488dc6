"""Builds the agent's FastAPI app: :func:`create_app` and its lifespan (nothing else here)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from lts.agent import device
from lts.agent.api.deps import AgentState, TokenFirst
from lts.agent.api.errors import install_error_handlers
from lts.agent.api.main import api_router
from lts.agent.auth import load_token
from lts.agent.jobs import JobQueue, Measurer
from lts.agent.measure import Measurer as RealMeasurer
from lts.agent.measure import estimate_memory_mb as default_estimate
from lts.agent.settings import Settings
from lts.shared import __version__
from lts.shared.config import ArchConfig
from lts.shared.schemas import MeasureSettings
from lts.shared.swagger import install_offline_docs
from lts.shared.tokens import AuthBackoff
from lts.shared.web import BodyGuard
from lts.shared.web_origin import SameOriginWrites

logger = logging.getLogger(__name__)

MeasurerFactory = Callable[[list[int] | None], Measurer]
MemoryEstimate = Callable[[ArchConfig, MeasureSettings], float]

#: How long shutting down waits for running measurements before closing the measurers.
SHUTDOWN_WAIT_S = 5.0


def _default_measurer(
    cpus: list[int] | None,
    *,
    start_timeout_s: float = 180.0,
    allowance_s: float | None = None,
    log_level: str = "WARNING",
) -> Measurer:
    """A started :class:`agent.measure.Measurer` (its helper processes warm and waiting)."""
    measurer = RealMeasurer(
        cpus=cpus, start_timeout_s=start_timeout_s, allowance_s=allowance_s, log_level=log_level
    )
    measurer.start()
    return measurer


def create_app(
    settings: Settings,
    *,
    measurers: Sequence[Measurer] | None = None,
    measurer_factory: MeasurerFactory | None = None,
    estimate_memory_mb: MemoryEstimate = default_estimate,
) -> FastAPI:
    """The agent's app. Checks the settings now (raises :class:`ConfigError`: token, slots,
    runtime, device); the lifespan starts one measurer per slot (or uses ``measurers``, which
    the caller then owns and closes, or makes them with ``measurer_factory``; default: real
    measurers with the settings' helper time-outs) and the queue, and stops them at shutdown."""
    token = load_token(settings)
    slot_cpus, caps = device.check_machine(settings)
    if measurers is not None and len(measurers) != len(slot_cpus):
        raise ValueError(f"{len(measurers)} measurers for {len(slot_cpus)} slots")
    budget_mb = settings.memory_budget_mb or device.default_memory_budget_mb(settings.slots)
    gpu_budget_mb = device.default_gpu_budget_mb(settings.slots)
    defaults = settings.measure_defaults()
    factory = measurer_factory or partial(
        _default_measurer,
        start_timeout_s=settings.helper_start_timeout_s,
        allowance_s=settings.item_allowance_s,
        # The helpers log at the agent's level where one was given, else warnings only.
        log_level=settings.log_level if "log_level" in settings.model_fields_set else "WARNING",
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = measurers is None
        started = list(measurers or [])
        if owned:
            started = list(
                await asyncio.gather(
                    *(asyncio.to_thread(factory, cpus) for cpus in slot_cpus)
                )
            )
        info = await asyncio.to_thread(device.device_info, settings.name, defaults, len(started))
        queue = JobQueue(
            started,
            estimate_memory_mb=estimate_memory_mb,
            memory_budget_mb=budget_mb,
            gpu_memory_budget_mb=gpu_budget_mb,
            max_queue=settings.max_queue,
            keep_jobs=settings.keep_jobs,
            keep_jobs_s=settings.keep_jobs_s,
            slot_cpus=slot_cpus,
        )
        queue.start()
        app.state.agent = AgentState(
            settings, token, defaults, caps, queue, info, AuthBackoff()
        )
        logger.info(
            "agent %r ready: %d slot(s) %s, defaults %s/%s/%d thread(s), budget %.0f MB, "
            "fingerprint %s",
            settings.name, len(started), slot_cpus, defaults.runtime, defaults.device,
            defaults.threads, budget_mb, info.fingerprint,
        )  # fmt: skip
        try:
            yield
        finally:
            await asyncio.to_thread(queue.close, SHUTDOWN_WAIT_S)
            if owned:
                for measurer in started:
                    await asyncio.to_thread(measurer.close)

    app = FastAPI(
        title="LTS agent",
        version=__version__,
        summary="Measures Transformer candidates' latency and peak memory on this device.",
        lifespan=lifespan,
        docs_url=None,  # served offline below
        redoc_url=None,
    )
    install_offline_docs(app)
    install_error_handlers(app)
    # The outermost middleware runs first: a write from another site's page is refused, then
    # a body without the token, then the body is read within its bounds, then the app.
    app.add_middleware(
        BodyGuard,
        max_bytes=settings.max_body_bytes,
        timeout_s=settings.body_timeout_s,
        max_readers=settings.max_body_connections,
    )
    app.add_middleware(TokenFirst)
    app.add_middleware(SameOriginWrites)
    app.include_router(api_router)
    return app
