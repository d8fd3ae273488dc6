"""The web dashboard: ``/`` redirects to ``/ui/``; ``/ui/...`` pages (searches, one search,
an architecture, devices), their assets, and a sign-in form.

Access follows the API's: where reads are open (loopback), so are the pages. Where reads need
the token, ``GET /ui/...`` redirects to ``/ui/login``, whose form (``POST``) checks the token
and keeps a value derived from it (:func:`lts.controller.api.deps.cookie_value`, not the token)
in an HttpOnly, SameSite=Strict cookie that the API accepts for reads
(:data:`lts.controller.api.deps.TOKEN_COOKIE`); the token never travels in a URL, no script can
read the cookie, and whoever reads it anyway can read but not write. Wrong tokens count
towards the address's backoff, as on the API. The assets hold no data and are served to
anyone.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Cookie, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from lts.controller.api.deps import TOKEN_COOKIE, StateDep, check_token, cookie_value
from lts.controller.dashboard import Assets, login_html, page_html
from lts.shared.tokens import token_matches

router = APIRouter(include_in_schema=False)
assets = Assets()

#: Pages may load scripts, styles and data from this server only (plotly draws with inline
#: styles, and its 3-D and WebGL traces compile shaders with ``new Function``).
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_MAX_FORM_BYTES = 4096


def _safe_next(path: str | None) -> str:
    """Where to go after signing in: a dashboard path of this server, else ``/ui/``."""
    if path and path.startswith("/ui/") and not path.startswith("/ui//") and "\\" not in path:
        return path
    return "/ui/"


def _signed_in(state: StateDep, cookie: str | None) -> bool:
    if state.token is None or not state.settings.reads_need_token:
        return True
    return token_matches(cookie, cookie_value(state.token))


@router.get("/")
def read_root() -> RedirectResponse:
    return RedirectResponse("/ui/", status.HTTP_307_TEMPORARY_REDIRECT)


@router.get("/ui")
def read_ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/", status.HTTP_307_TEMPORARY_REDIRECT)


@router.get("/ui/assets/{name}")
def read_asset(name: str, request: Request) -> Response:
    """A dashboard file (kept for a year: its URL changes with its content)."""
    asset = assets.get(name)
    headers = {"Cache-Control": "public, max-age=31536000, immutable",
               "ETag": f'"{asset.tag}"',
               "X-Content-Type-Options": "nosniff"}  # fmt: skip
    if request.headers.get("if-none-match") == f'"{asset.tag}"':
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/ui/login")
def read_login(
    state: StateDep, next_path: Annotated[str | None, Query(alias="next")] = None
) -> HTMLResponse:
    needed = state.token is not None and state.settings.reads_need_token
    body = login_html(assets, next_path=_safe_next(next_path), error=None, needed=needed)
    return HTMLResponse(body, headers=_PAGE_HEADERS)


@router.post("/ui/login")
async def create_login(request: Request, state: StateDep) -> Response:
    """Check the form's token; right: set the cookie and go to ``next``; wrong: 401 and the
    form again. The form is ``application/x-www-form-urlencoded`` (``token``, ``next``)."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > _MAX_FORM_BYTES:
            return HTMLResponse("form too large", 413)
    form = parse_qs(raw.decode("utf-8", "replace"), max_num_fields=8)
    token = (form.get("token") or [""])[0].strip()
    nexts = form.get("next")
    target = _safe_next(nexts[0] if nexts else None)
    needed = state.token is not None and state.settings.reads_need_token
    error = "this server has no token"
    if state.token is not None:
        try:
            check_token(state, token, request.client.host if request.client else None)
        except HTTPException as exc:
            error = "wrong token" if exc.status_code == 401 else str(exc.detail)
            wait = {k: v for k, v in (exc.headers or {}).items() if k == "Retry-After"}
            code, headers = exc.status_code, {**_PAGE_HEADERS, **wait}
            body = login_html(assets, next_path=target, error=error, needed=needed)
            return HTMLResponse(body, code, headers=headers)
        response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
        response.set_cookie(TOKEN_COOKIE, cookie_value(state.token), httponly=True,
                            samesite="strict", path="/",
                            secure=request.url.scheme == "https")  # fmt: skip
        return response
    body = login_html(assets, next_path=target, error=error, needed=needed)
    return HTMLResponse(body, status.HTTP_401_UNAUTHORIZED, headers=_PAGE_HEADERS)


@router.post("/ui/logout")
def create_logout() -> Response:
    response = RedirectResponse("/ui/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/ui/{page:path}")
def read_page(
    page: str,
    request: Request,
    state: StateDep,
    cookie: Annotated[str | None, Cookie(alias=TOKEN_COOKIE)] = None,
) -> Response:
    """Every page: the same document, whose script renders what the path names (searches,
    ``searches/{id}``, ``architectures/{arch_id}``, ``devices``)."""
    if not _signed_in(state, cookie):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/ui/login?next={quote(target, safe='')}",
                                status.HTTP_303_SEE_OTHER)  # fmt: skip
    auth = "open" if state.token is None or not state.settings.reads_need_token else "cookie"
    return HTMLResponse(page_html(assets, auth=auth), headers=_PAGE_HEADERS)
