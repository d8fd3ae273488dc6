"""The web dashboard's files: hand-written HTML, JavaScript and CSS in ``static/`` and
plotly.js from the installed ``plotly`` package. Nothing is fetched from elsewhere and
nothing is built: :class:`Assets` reads each file once and keeps it.

Served by :mod:`lts.controller.api.routes.dashboard`; the pages call the REST API from the
browser (``static/*.js``: :data:`SCRIPTS`, in the order the page loads them), so every
number they show is the API's.
"""

from __future__ import annotations

import hashlib
import html
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lts.shared.errors import NotFoundError

STATIC_DIR = Path(__file__).parent / "static"


def _plotly_js() -> bytes:
    """plotly.min.js as the ``plotly`` package ships it (its public accessor)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode()


def _static(name: str) -> Callable[[], bytes]:
    return lambda: (STATIC_DIR / name).read_bytes()


#: The page's scripts, in the order it runs them (classic scripts sharing one global scope):
#: the helpers, the search page and its decision parts, then the other pages and the router.
SCRIPTS: tuple[str, ...] = ("common.js", "search.js", "search_decide.js", "app.js")

#: The files served under ``/ui/assets/``: name -> (media type, reader).
_SOURCES: dict[str, tuple[str, Callable[[], bytes]]] = {
    **{name: ("text/javascript; charset=utf-8", _static(name)) for name in SCRIPTS},
    "style.css": ("text/css; charset=utf-8", _static("style.css")),
    "plotly.min.js": ("text/javascript; charset=utf-8", _plotly_js),
}


@dataclass(frozen=True)
class Asset:
    """One file: its bytes, its media type and a content tag
    (the first 12 hex digits of its SHA-256: the ``?v=`` of its URL and its ETag)."""

    body: bytes
    media_type: str
    tag: str


class Assets:
    """The dashboard's files, each read on first use and then kept for the life of the
    process. Thread-safe."""

    def __init__(self) -> None:
        self._cache: dict[str, Asset] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Asset:
        """The asset ``name``; raises :class:`NotFoundError` for any other name."""
        if name not in _SOURCES:
            raise NotFoundError(f"no dashboard asset {name!r}")
        with self._lock:
            asset = self._cache.get(name)
            if asset is None:
                media_type, read = _SOURCES[name]
                body = read()
                tag = hashlib.sha256(body).hexdigest()[:12]
                asset = Asset(body, media_type, tag)
                self._cache[name] = asset
            return asset

    def url(self, name: str) -> str:
        """The asset's URL with its content tag (so a browser may keep it for good)."""
        return f"/ui/assets/{name}?v={self.get(name).tag}"


def page_html(assets: Assets, *, auth: str) -> str:
    """The page every dashboard URL answers (the script renders the page the path names).
    ``auth``: ``open`` (reads need no token) or ``cookie`` (signed in: a sign-out button)."""
    text = (STATIC_DIR / "index.html").read_text()
    for name in (*SCRIPTS, "style.css", "plotly.min.js"):
        text = text.replace("{{" + name + "}}", assets.url(name))
    return text.replace("{{auth}}", html.escape(auth))


def login_html(assets: Assets, *, next_path: str, error: str | None, needed: bool) -> str:
    """The sign-in form; ``error`` is shown above it; ``needed`` False says that reads are
    open on this server (nothing to sign in for)."""
    text = (STATIC_DIR / "login.html").read_text()
    note = "" if needed else (
        '<p class="note">This server serves reads without a token: there is nothing to sign '
        'in for. <a href="/ui/">Open the dashboard</a>.</p>'
    )  # fmt: skip
    message = f'<p class="error" id="login-error">{html.escape(error)}</p>' if error else ""
    return (
        text.replace("{{style.css}}", assets.url("style.css"))
        .replace("{{next}}", html.escape(next_path, quote=True))
        .replace("{{note}}", note)
        .replace("{{error}}", message)
    )
