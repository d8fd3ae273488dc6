"""The dashboard's routes without a browser: redirects, assets, the sign-in and its cookie,
and the offline /docs of both services (the real apps, in process)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lts.controller.api.deps import cookie_value
from lts.controller.api.main import create_app
from lts.controller.api.settings import Settings
from lts.controller.dashboard import SCRIPTS
from lts.shared.swagger import swagger_ui_dir

TOKEN = "dashboard-token-0123456789"


def client(tmp_path: Path, **settings: object) -> TestClient:
    app = create_app(Settings(db=str(tmp_path / "lts.sqlite"),
                              agents_file=tmp_path / "agents.toml", **settings))  # fmt: skip
    return TestClient(app, follow_redirects=False)


@pytest.fixture
def open_reads(tmp_path: Path) -> Iterator[TestClient]:
    with client(tmp_path, token=TOKEN) as c:
        yield c


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[TestClient]:
    with client(tmp_path, token=TOKEN, read_token=True) as c:
        yield c


def test_root_redirects_to_the_dashboard_and_pages_are_open_on_loopback(
    open_reads: TestClient,
) -> None:
    assert open_reads.get("/").headers["location"] == "/ui/"
    assert open_reads.get("/ui").headers["location"] == "/ui/"
    for path in ("/ui/", "/ui/searches/1", "/ui/architectures/abc", "/ui/devices"):
        r = open_reads.get(path)
        assert r.status_code == 200 and 'data-auth="open"' in r.text, path
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    page = open_reads.get("/ui/").text
    for name in (*SCRIPTS, "style.css", "plotly.min.js"):
        assert f"/ui/assets/{name}?v=" in page
    loads = re.findall(r'<script src="/ui/assets/([^?"]+)', page)
    assert loads == ["plotly.min.js", *SCRIPTS]  # in order: the helpers first, the router last


def test_assets_are_served_from_the_packages_compressed_and_cached(
    open_reads: TestClient,
) -> None:
    r = open_reads.get("/ui/assets/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert "immutable" in r.headers["cache-control"]
    assert len(r.content) > 1_000_000 and b"plotly.js" in r.content[:2000]  # decoded by httpx
    etag = r.headers["etag"]
    again = open_reads.get("/ui/assets/plotly.min.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.content
    plain = open_reads.get("/ui/assets/app.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text.startswith("//")
    assert plain.headers["content-type"].startswith("text/javascript")
    missing = open_reads.get("/ui/assets/../../pyproject.toml")
    assert missing.status_code == 404
    assert open_reads.get("/ui/assets/secrets.txt").json()["detail"].startswith("no dashboard")


def test_pages_redirect_to_the_sign_in_where_reads_need_the_token(locked: TestClient) -> None:
    r = locked.get("/ui/searches/3?x=1")
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login?next=%2Fui%2Fsearches%2F3%3Fx%3D1"
    form = locked.get("/ui/login", params={"next": "/ui/searches/3?x=1"})
    assert form.status_code == 200 and 'value="/ui/searches/3?x=1"' in form.text
    assert locked.get("/ui/assets/style.css").status_code == 200  # no data in assets


@pytest.mark.parametrize("token", ["", "wrong", TOKEN + "x"])
def test_the_sign_in_refuses_a_wrong_token(locked: TestClient, token: str) -> None:
    r = locked.post("/ui/login", data={"token": token, "next": "/ui/devices"})
    assert r.status_code == 401 and "wrong token" in r.text
    assert "set-cookie" not in r.headers
    assert locked.get("/searches").status_code == 401


def test_the_sign_in_sets_an_httponly_cookie_that_reads_accept_and_writes_do_not(
    locked: TestClient,
) -> None:
    r = locked.post("/ui/login", data={"token": TOKEN, "next": "/ui/devices"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/devices"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"lts_token={cookie_value(TOKEN)};")
    assert TOKEN not in cookie  # a value derived from the token, which cannot write
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert TOKEN not in r.headers["location"]
    # the client keeps the cookie: pages and reads pass
    assert locked.get("/ui/devices").status_code == 200
    assert 'data-auth="cookie"' in locked.get("/ui/").text
    assert locked.get("/searches").status_code == 200
    # writes still need the header (a cookie rides along on any request: no CSRF this way)
    assert locked.post("/searches", json={"agents": ["x"]}).status_code == 401
    out = locked.post("/ui/logout")
    assert out.status_code == 303 and 'lts_token=""' in out.headers["set-cookie"]
    assert locked.get("/searches").status_code == 401
    assert locked.get("/ui/").status_code == 303


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/ui/", "/docs",
                                    "/ui//evil.example", "javascript:alert(1)"])  # fmt: skip
def test_the_sign_in_goes_nowhere_but_the_dashboard(locked: TestClient, target: str) -> None:
    r = locked.post("/ui/login", data={"token": TOKEN, "next": target})
    assert r.status_code == 303 and r.headers["location"] == "/ui/"


def test_a_large_sign_in_form_is_refused(locked: TestClient) -> None:
    r = locked.post("/ui/login", content=b"token=" + b"x" * 10_000,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.status_code == 413


def test_the_controller_docs_are_served_offline(open_reads: TestClient) -> None:
    page = open_reads.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "/docs/assets/swagger-ui-bundle.js" in page.text
    js = open_reads.get("/docs/assets/swagger-ui-bundle.js")
    assert js.status_code == 200
    assert js.content == (swagger_ui_dir() / "swagger-ui-bundle.js").read_bytes()
    assert open_reads.get("/docs/assets/swagger-ui.css").status_code == 200
    assert open_reads.get("/redoc").status_code == 404  # no CDN page left behind
    assert "/ui/" not in open_reads.get("/openapi.json").json()["paths"]


def test_the_agent_docs_are_served_offline() -> None:
    pytest.importorskip("torch")
    from lts.agent.main import create_app as create_agent_app
    from lts.agent.settings import Settings as AgentSettings

    agent = TestClient(create_agent_app(AgentSettings(token="agent-token-012345")))  # no lifespan
    page = agent.get("/docs")
    assert page.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    assert agent.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert agent.get("/redoc").status_code == 404


def test_the_cookie_value_cannot_write_or_stand_for_the_token(locked: TestClient) -> None:
    derived = cookie_value(TOKEN)
    as_bearer = {"Authorization": f"Bearer {derived}"}
    assert locked.post("/searches/1/stop", headers=as_bearer).status_code == 401
    assert locked.get("/searches", headers=as_bearer).status_code == 401
    locked.cookies.set("lts_token", TOKEN)  # the raw token is not what the cookie holds
    assert locked.get("/searches").status_code == 401
    locked.cookies.set("lts_token", derived)
    assert locked.get("/searches").status_code == 200


def test_wrong_tokens_back_off_per_address(locked: TestClient) -> None:
    """After 10 wrong tokens each one blocks the address for longer; while it is blocked even
    the right token is not compared (429 with Retry-After), so guessing gains nothing."""
    wrong = {"Authorization": "Bearer not-the-token-0123"}
    codes = [locked.get("/searches", headers=wrong).status_code for _ in range(11)]
    assert codes == [401] * 11
    blocked = locked.get("/searches", headers={"Authorization": f"Bearer {TOKEN}"})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert "too many wrong tokens" in blocked.json()["detail"]
    form = locked.post("/ui/login", data={"token": TOKEN, "next": "/ui/"})
    assert form.status_code == 429 and "set-cookie" not in form.headers
    assert locked.get("/health").status_code == 200  # what needs no token still answers


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://localhost:18950"}, {"Origin": "null"},
])  # fmt: skip
def test_no_page_of_another_site_can_write_even_without_auth(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    """CSRF: a form on another site posted through the browser of someone on this machine
    (it stopped a running search of a --no-auth controller) is refused before anything."""
    with client(tmp_path, no_auth=True) as c:
        forged = {**headers, "Content-Type": "text/plain"}
        for path in ("/searches/1/stop", "/searches", "/ui/logout", "/ui/login"):
            r = c.post(path, headers=forged, content=b"")
            assert r.status_code == 403, (path, r.text)
            assert r.json()["field"] == "origin" and "another site" in r.json()["detail"]
        own = c.post("/searches/1/stop", headers={"Origin": "http://testserver",
                                                  "Sec-Fetch-Site": "same-origin"})  # fmt: skip
        assert own.status_code == 404  # through to the route: no such search
        assert c.get("/searches", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200
