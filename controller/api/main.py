"""Builds the controller's FastAPI app: :func:`create_app`, its lifespan and its routers.

To add a resource: write ``controller/api/routes/<name>.py`` with a module-level
``router = APIRouter(...)`` and add the module to :data:`ROUTE_MODULES` (one line). Every
router listed there gets the read authorisation (:func:`lts.controller.api.deps.require_read`);
mutating routes add ``dependencies=[WriteAuth]`` themselves.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import ModuleType

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from lts.controller.agents import AgentsFile
from lts.controller.api.auth import load_token
from lts.controller.api.cache import FrontierCache
from lts.controller.api.deps import FORM_LIMITS, ControllerState, ReadAuth, TokenFirst
from lts.controller.api.errors import install_error_handlers
from lts.controller.api.export_runs import ExportRuns
from lts.controller.api.routes import (
    agents,
    architectures,
    candidates,
    dashboard,
    devices,
    frontier,
    health,
    joint,
    objectives,
    pick,
)
from lts.controller.api.routes import exports as export_routes
from lts.controller.api.routes import plots as plot_routes
from lts.controller.api.routes import searches as searches_routes
from lts.controller.api.runs import SearchRuns
from lts.controller.api.settings import Settings
from lts.controller.search.runner import ClientFactory
from lts.controller.store import Store, database_url
from lts.shared import __version__
from lts.shared.boundary import BodyGuard, SameOriginWrites
from lts.shared.errors import ConfigError
from lts.shared.swagger import install_offline_docs
from lts.shared.tokens import AuthBackoff

logger = logging.getLogger(__name__)

#: The routers behind the read authorisation, in the order /docs lists them. Plots and
#: exports (controller/api/routes/plots.py, exports.py) are registered by adding them here.
ROUTE_MODULES: tuple[ModuleType, ...] = (
    searches_routes,
    frontier,
    joint,
    pick,
    candidates,
    architectures,
    devices,
    agents,
    plot_routes,
    export_routes,
    objectives,
)


def create_app(
    settings: Settings,
    *,
    client_factory: ClientFactory | None = None,
    route_modules: Sequence[ModuleType] = ROUTE_MODULES,
) -> FastAPI:
    """The controller's app on the store ``settings.db``. Checks the settings now (raises
    :class:`ConfigError`: token, store URL; :class:`StoreError`: the store cannot be
    opened); the lifespan owns the store (one, shared by the requests) and the background
    searches and, at shutdown, stops the searches (they end ``interrupted``, resumable).
    ``client_factory`` replaces the agent client of background searches (tests)."""
    token = load_token(settings)
    url = database_url(settings.db)
    if url in ("sqlite://", "sqlite:///:memory:"):
        raise ConfigError("db", "an in-memory database cannot be served; give a file or a URL")
    Store(url).close()  # create or check the schema now: a bad --db fails at start

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(url)
        registry = AgentsFile(settings.agents_file)
        tf = str(settings.agent_token_file) if settings.agent_token_file else None
        runs = SearchRuns(url, registry, agent_token_file=tf, client_factory=client_factory,
                          allow_agent_urls=settings.allow_agent_urls)  # fmt: skip
        exports = ExportRuns(
            max_exports=settings.max_exports, max_params=settings.export_max_params
        )
        app.state.controller = ControllerState(
            settings, token, store, runs, registry, FrontierCache(), AuthBackoff(), exports
        )
        logger.info(
            "controller API on %s:%d, store %s; writes %s, reads %s",
            settings.host, settings.port, url,
            "open (--no-auth)" if settings.no_auth else ("token" if token else "refused"),
            "token" if settings.reads_need_token else "open",
        )  # fmt: skip
        try:
            yield
        finally:
            exports.close()
            runs.close(settings.stop_wait_s)
            store.close()

    app = FastAPI(
        title="LTS controller",
        version=__version__,
        summary="Searches, Pareto frontiers, architectures and measurements of the LTS store.",
        lifespan=lifespan,
        docs_url=None,  # served offline below
        redoc_url=None,
    )
    install_offline_docs(app)
    install_error_handlers(app)
    # The outermost middleware runs first: a write from another site's page is refused, then
    # a body without the token, then the body is read within its bounds, then gzip (for the
    # clients that accept it: a large frontier is megabytes of JSON), then the app.
    app.add_middleware(GZipMiddleware, compresslevel=6)
    app.add_middleware(
        BodyGuard,
        max_bytes=settings.max_body_bytes,
        timeout_s=settings.body_timeout_s,
        max_readers=settings.max_body_connections,
        limits=FORM_LIMITS,
    )
    app.add_middleware(TokenFirst)
    app.add_middleware(SameOriginWrites)
    app.include_router(health.router)
    app.include_router(dashboard.router)  # its own access rule: see routes/dashboard.py
    for module in route_modules:
        app.include_router(module.router, dependencies=[ReadAuth])
    return app
