"""``GET /searches/{id}/plots/{name}.png|.html`` on the session's real search (in-process app
with its lifespan; see test_plots.py for the search)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_plots import DEVICES, real_search  # tests/controller is on sys.path

from lts.controller.api import main
from lts.controller.api.routes import exports as export_routes
from lts.controller.api.routes import plots as plot_routes
from lts.controller.api.settings import Settings
from lts.controller.plots import plot_data
from lts.controller.store import Store

TOKEN = "plots-api-token-0123456789"


@pytest.fixture(scope="session")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_search(tmp_path_factory)


def make_client(db: Path, **settings: object) -> TestClient:
    """The controller's app (every registered router) on ``db``; enter it to start it."""
    return TestClient(main.create_app(Settings(db=str(db), **settings)))


@pytest.fixture(scope="module")
def client(searched: Path) -> Iterator[TestClient]:
    with make_client(searched, token=TOKEN) as c:
        yield c


def test_plot_routes_are_registered() -> None:
    assert plot_routes in main.ROUTE_MODULES and export_routes in main.ROUTE_MODULES


@pytest.mark.parametrize("name", ["latency", "memory", "hypervolume"])
def test_png(client: TestClient, name: str) -> None:
    from PIL import Image

    r = client.get(f"/searches/1/plots/{name}.png", params={"device": DEVICES[1]})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(r.content)) as img:
        img.verify()
        assert img.format == "PNG" and img.size[0] > 400


def test_html_holds_the_frontier(client: TestClient, searched: Path) -> None:
    r = client.get("/searches/1/plots/frontier3d.html", params={"device": DEVICES[0]})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    with Store.open(searched) as store:
        (data,) = plot_data(store, 1, DEVICES[0])
    found = [r.text.count(m.arch_id) > 0 for m in data.frontier]
    assert data.frontier and all(found)
    # the headers of every HTML page (review 2026-12-07, F10: none were sent here)
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    docs = client.get("/docs")
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("path", "params", "code", "detail"),
    [
        ("/searches/99/plots/latency.png", {}, 404, "no search with id 99"),
        ("/searches/1/plots/nope.png", {"device": DEVICES[0]}, 404,
         "no plot nope.png; choose from latency.png, memory.png, hypervolume.png"),
        ("/searches/1/plots/latency.html", {}, 404,
         "no plot latency.html; choose from frontier3d.html"),
        ("/searches/1/plots/latency.png", {}, 422,
         "device: the search ran on several devices; name one of: plots-one, plots-two"),
        ("/searches/1/plots/latency.png", {"device": "nope"}, 422,
         "device: search 1 has no device named 'nope'"),
        ("/searches/x/plots/latency.png", {}, 422, None),
    ],
)  # fmt: skip
def test_errors(
    client: TestClient, path: str, params: dict[str, str], code: int, detail: str | None
) -> None:
    r = client.get(path, params=params)
    assert r.status_code == code, r.text
    if detail is not None:
        assert r.json()["detail"] == detail


def test_reads_need_the_token_when_configured(searched: Path) -> None:
    with make_client(searched, token=TOKEN, read_token=True) as c:
        url = f"/searches/1/plots/hypervolume.png?device={DEVICES[0]}"
        assert c.get(url).status_code == 401
        r = c.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and r.content.startswith(b"\x89PNG")


def test_a_real_controller_serve_serves_plots_and_exports(searched: Path, tmp_path: Path) -> None:
    """``controller serve`` (a subprocess on loopback, reads open) answers both routes."""
    import subprocess
    import sys
    import time

    import httpx

    from lts.controller.search.local_agent import free_port

    port = free_port()
    cmd = [sys.executable, "-c", "from lts.controller.cli import main; main()", "serve",
           "--port", str(port), "--db", str(searched), "--log-level", "warning"]  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "controller serve did not start"
                time.sleep(0.2)
        params = {"device": DEVICES[0]}
        r = httpx.get(f"{url}/searches/1/plots/hypervolume.png", params=params, timeout=60)
        assert r.status_code == 200 and r.content.startswith(b"\x89PNG")
        r = httpx.get(f"{url}/searches/1/export", params={**params, "format": "csv"}, timeout=60)
        assert r.status_code == 200 and r.text.startswith("arch_id,role,device,")
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
