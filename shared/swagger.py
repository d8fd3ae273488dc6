"""Swagger UI at ``/docs`` for both services, served from the ``swagger-ui-bundle-v2`` package
instead of a CDN, so the page works on a lab network with no way out.

Like :mod:`lts.shared.web`, this module imports FastAPI, so :mod:`lts.shared` does not import it:
only the services do. Build the app with ``docs_url=None, redoc_url=None`` and call
:func:`install_offline_docs` on it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from lts.shared.errors import ConfigError

#: Where the assets are served (under the app's root path).
ASSETS_PATH = "/docs/assets"


def swagger_ui_dir() -> Path:
    """The folder of the installed Swagger UI files (``swagger-ui-bundle.js``,
    ``swagger-ui.css``). Raises :class:`ConfigError` when the package is missing."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # pragma: no cover - an extra without it
        raise ConfigError(
            "swagger-ui-bundle-v2",
            "the Swagger UI assets are not installed: pip install 'swagger-ui-bundle-v2'",
        ) from None
    path = Path(str(swagger_ui_path))
    if not (path / "swagger-ui-bundle.js").is_file():
        raise ConfigError("swagger-ui-bundle-v2", f"no swagger-ui-bundle.js in {path}")
    return path


def install_offline_docs(app: FastAPI) -> None:
    """Serve ``GET /docs`` (Swagger UI, no token needed, as FastAPI's own page) with its
    script, style sheet and icon from :data:`ASSETS_PATH` on this server."""
    app.mount(ASSETS_PATH, StaticFiles(directory=swagger_ui_dir()), name="swagger-ui")
    title = f"{app.title} - API documentation"

    @app.get("/docs", include_in_schema=False)
    def read_docs(request: Request) -> HTMLResponse:
        from lts.shared.web import HTML_HEADERS

        root = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=title,
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
        )
        page.headers.update(HTML_HEADERS)
        return page
