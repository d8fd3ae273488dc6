"""The dashboard in a real browser: Debian's Chromium, headless, driven by selenium, against a
real ``controller serve`` over a copy of the session's SQLite store (a real finished search,
tests/controller/api/conftest.py) plus one search running now on two real agents.

Every page must load with no console error, no failed request and no request that leaves the
server; the numbers it shows must be the API's; the running search's page must update by
itself; the sign-in must refuse a wrong token. Screenshots of each page are written to the
session's temporary folder (or to ``$LTS_SCREENSHOTS_DIR``). Skipped, saying why, only where
Chromium or its driver is not installed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from apiserver import AGENT_NAME, CONTROLLER_TOKEN, FAST, Filled, Server, launch_server, wait_for
from browser import READY, Browser, PageLoad, chromium_or_skip, mb, ms

from lts.controller.agents import AgentsFile, AgentSpec
from lts.controller.search.local_agent import free_port

pytestmark = pytest.mark.browser

SECOND = "second"  # the second agent of the running search


@pytest.fixture(scope="module")
def home(filled: Filled, tmp_path_factory: pytest.TempPathFactory) -> Path:
    chromium_or_skip()  # before starting anything
    if "://" in filled.db:  # the PostgreSQL run of ``filled``: the API tests cover it
        pytest.skip("the dashboard's browser tests run on a copy of the SQLite store")
    home = tmp_path_factory.mktemp("dashboard")
    shutil.copy(filled.db, home / "lts.sqlite")  # this module's searches stay out of the others'
    (home / "controller.token").write_text(CONTROLLER_TOKEN + "\n")
    (home / "controller.token").chmod(0o600)
    return home


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("LTS_SCREENSHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder)
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def agents_file(home: Path, filled: Filled, start_agent: Callable[..., Any]) -> Path:
    second = start_agent("--name", "second-device")
    token_file = home / "second.token"
    token_file.write_text(second.token)
    token_file.chmod(0o600)
    registry = AgentsFile(home / "agents.toml")
    registry.add(AgentSpec(AGENT_NAME, filled.agent_url,
                           token_file=str(filled.home / "agent.token")))  # fmt: skip
    registry.add(AgentSpec(SECOND, second.url, token_file=str(token_file)))
    registry.add(AgentSpec("down", f"http://127.0.0.1:{free_port()}"))
    return registry.path


@pytest.fixture(scope="module")
def server(home: Path, agents_file: Path) -> Iterator[Server]:
    """Reads open (loopback), the controller token for writes."""
    # an agent busy measuring may answer GET /device slowly on a loaded machine: wait longer
    # than launch_server's 1 s (the last --agent-timeout-s wins)
    server = launch_server(home, home / "lts.sqlite", agents_file, "--agent-timeout-s", "15",
                           "--token-file", str(home / "controller.token"))  # fmt: skip
    server.token = CONTROLLER_TOKEN
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def running(api: httpx.Client) -> Iterator[int]:
    """A search on both agents, running in the server while the tests look at it."""
    body = {"agents": [AGENT_NAME, SECOND], **FAST, "iterations": 300, "seed": 5,
            "baseline_layers": "1", "name": "running-now"}  # fmt: skip
    r = api.post("/searches", json=body)
    assert r.status_code == 202, r.text
    sid = r.json()["id"]
    wait_for(lambda: _measured(api, sid) >= 4, 240, "the running search's first measurements")
    yield sid
    api.post(f"/searches/{sid}/stop")


@pytest.fixture(scope="module")
def browser(server: Server, screenshots: Path) -> Iterator[Browser]:
    b = Browser(server.url, screenshots)
    yield b
    b.close()


def _measured(api: httpx.Client, sid: int) -> int:
    return api.get(f"/searches/{sid}/candidates", params={"limit": 1000}).json()["count"]


def all_candidates(api: httpx.Client, sid: int) -> list[dict]:
    out, after = [], 0
    while True:
        page = api.get(f"/searches/{sid}/candidates", params={"after": after, "limit": 1000})
        out += page.json()["data"]
        after = page.json()["next_after"]
        if len(page.json()["data"]) < 1000:
            return out


# --------------------------------------------------------------------------------- pages
def test_searches_page_lists_the_searches_newest_first(
    browser: Browser, api: httpx.Client, running: int
) -> None:
    load = browser.open("/ui/")
    load.assert_clean()
    listed = api.get("/searches", params={"limit": 1000}).json()
    ids = sorted((s["id"] for s in listed["data"]), reverse=True)[:20]
    assert [int(i) for i in browser.attrs("#searches tr[data-search]", "data-search")] == ids
    for sid in ids:
        detail = api.get(f"/searches/{sid}").json()
        row = f'#searches tr[data-search="{sid}"]'
        assert browser.texts(f"{row} [data-status]") == [detail["status"]]
        if detail["status"] != "running":  # a running search's counts move on
            total = sum(d["candidates"] for d in detail["devices"])
            assert browser.texts(f'{row} [data-col="candidates"]') == [f"{total:,}"]
            iterations = ", ".join(f"{d['iterations_done']} / {d['iterations']}"
                                   for d in detail["devices"])  # fmt: skip
            assert browser.texts(f'{row} [data-col="iterations"]') == [iterations]
    assert "page 1 of 1" in browser.texts("#page-info")[0]
    # two requests (the count, the page), none per search (the list carries their devices)
    fetched = browser.fetched_paths()
    assert [u for u in fetched if u.startswith("/searches")] == ["/searches", "/searches"]
    browser.screenshot("searches")


def test_search_page_shows_the_api_frontier_baselines_and_candidates(
    browser: Browser, api: httpx.Client, filled: Filled
) -> None:
    sid = filled.search_id
    load = browser.open(f"/ui/searches/{sid}")
    load.assert_clean()
    frontier = api.get(f"/searches/{sid}/frontier").json()
    for device in frontier["data"]:
        section = f'section.device[data-position="{device["position"]}"]'
        members = device["members"]
        assert members, "the finished search has a frontier"
        assert browser.attrs(f"{section} tr[data-member]", "data-member") == [
            m["arch_id"] for m in members
        ]
        assert browser.texts(f'{section} tr[data-member] [data-col="decoder_params"]') == [
            f"{m['decoder_params']:,}" for m in members
        ]
        assert browser.texts(f'{section} tr[data-member] [data-col="latency_ms"]') == [
            ms(m["latency_ms"]) for m in members
        ]
        assert browser.texts(f'{section} tr[data-member] [data-col="peak_memory_mb"]') == [
            mb(m["peak_memory_mb"]) for m in members
        ]
        speedups = [("-" if b["speedup"] is None else f"{b['speedup']:.2f}x")
                    for b in device["baselines"]]  # fmt: skip
        shown = browser.texts(f'{section} tr[data-baseline] [data-col="ratio-latency"]')
        assert shown == speedups
        # the counts are the API's, as the CLI and the API's search show them
        for key in ("candidates", "measured", "cache_hits", "screened", "failed"):
            assert browser.texts(f'{section} [data-stat="{key}"]') == [f"{device[key]:,}"]
        assert browser.texts(f'{section} [data-stat="frontier"]') == [str(len(members))]
        assert browser.texts(f'{section} [data-stat="hypervolume"]') == [
            f"{device['hypervolume']:.4f}"
        ]
        # every chart drew (plotly's root node), the 3-D one included (WebGL in software)
        charts = browser.driver.execute_script(
            "return [...document.querySelectorAll(arguments[0] + ' [data-chart]')]"
            ".map(c => c.dataset.chart + ':' + Boolean(c.querySelector('.main-svg')))",
            section,
        )
        assert charts == [f"{c}:true" for c in ("hypervolume", "latency", "memory", "frontier3d")]
    candidates = all_candidates(api, sid)
    assert browser.attrs("#candidates-note", "data-count") == [str(len(candidates))]
    # two requests draw the page: the search and its compact view (no candidate cursor)
    fetched = browser.fetched_paths()
    assert sorted(u for u in fetched if u.startswith("/searches")) == [
        f"/searches/{sid}",
        f"/searches/{sid}/view",
    ]
    measured = [c for c in candidates if c["iteration"] >= 0 and c["measurement"]
                and c["measurement"]["status"] == "done" and not c["cache_hit"]]  # fmt: skip
    assert browser.texts('[data-stat="measured"]') == [str(len(measured))]
    # the table sorts: by latency, ascending then descending
    browser.driver.find_element("css selector", 'th[data-sort="latency_ms"]').click()
    shown = [float(v) for v in browser.attrs('#candidate-table [data-col="latency_ms"]',
                                             "data-value") if v]  # fmt: skip
    assert shown == sorted(shown) and len(shown) == len(
        [c for c in candidates if c["measurement"] and "latency" in c["measurement"]["values"]]
    )
    browser.driver.find_element("css selector", 'th[data-sort="latency_ms"]').click()
    shown = [float(v) for v in browser.attrs('#candidate-table [data-col="latency_ms"]',
                                             "data-value") if v]  # fmt: skip
    assert shown == sorted(shown, reverse=True)
    browser.driver.execute_script("window.scrollTo(0, 0)")
    browser.screenshot("search")


def test_running_search_page_updates_by_itself(
    browser: Browser, api: httpx.Client, running: int
) -> None:
    load = browser.open(f"/ui/searches/{running}")
    load.assert_clean()
    browser.driver.execute_script("window.__same_page = true")
    seen = int(browser.attrs("#live", "data-seen")[0])
    assert seen > 0 and browser.texts("#search-status [data-status]") == ["running"]
    grown = browser.wait_for(
        "const seen = document.querySelector('#live').dataset.seen;"
        f"return window.__same_page && Number(seen) > {seen} && seen",
        240, "the running search's page to show new candidates",
    )  # fmt: skip
    assert int(grown) > seen
    assert browser.driver.execute_script("return window.__same_page") is True  # never reloaded
    # what it shows now is what the API had when the page last polled (it keeps polling)
    assert int(browser.attrs("#candidates-note", "data-count")[0]) <= _measured(api, running)
    # two devices: the comparison is drawn from the architectures measured on both
    assert browser.texts("#compare select[data-compare] option") == [AGENT_NAME, SECOND] * 2
    browser.wait_for("return Number(document.querySelector('#compare-summary').dataset.shared) > 0",
                     120, "an architecture measured on both devices")  # fmt: skip
    again = browser.report(browser.driver.current_url)
    again.assert_clean()  # polling went on without an error
    browser.driver.execute_script("window.scrollTo(0, 0)")
    browser.screenshot("search-running")
    compare = browser.driver.find_element("css selector", "#compare")
    browser.driver.execute_script("arguments[0].scrollIntoView()", compare)
    compare.screenshot(str(browser.screenshots / "compare-devices.png"))


def test_architecture_page_shows_every_measurement_and_exports(
    browser: Browser, api: httpx.Client, filled: Filled
) -> None:
    device = api.get(f"/searches/{filled.search_id}/frontier").json()["data"][0]
    arch_id = device["members"][0]["arch_id"]
    url = f"/architectures/{arch_id}/measurements"
    # The module's running search may measure this architecture again (its baselines are the
    # same shapes) while the page loads: the page shows what was there before it, in order,
    # and nothing that was not there after it.
    before = [str(m["id"]) for m in api.get(url).json()["data"]]
    load = browser.open(f"/ui/architectures/{arch_id}?search={filled.search_id}"
                        f"&device={device['agent']}")  # fmt: skip
    load.assert_clean()
    arch = api.get(f"/architectures/{arch_id}").json()
    measurements = api.get(url).json()["data"]
    shown = browser.attrs("#measurements tr[data-measurement]", "data-measurement")
    assert shown[: len(before)] == before and before
    assert shown == [str(m["id"]) for m in measurements][: len(shown)]
    measurements = measurements[: len(shown)]
    assert browser.texts('#measurements [data-col="latency_ms"]') == [
        ms(m["latency_ms"]) for m in measurements
    ]
    assert browser.texts('[data-fact="decoder params"]') == [f"{arch['decoder_params']:,}"]
    assert browser.texts("#params tr[data-param] td.num") == [
        f"{v:,}" for v in arch["params"].values()
    ]
    links = dict(zip(browser.attrs("#downloads [data-export]", "data-export"),
                     browser.attrs("#downloads [data-export]", "href"), strict=True))  # fmt: skip
    assert sorted(links) == ["csv", "json", "onnx", "pt"]
    exported = api.get(links["json"])
    assert exported.status_code == 200, exported.text
    assert [m["arch_id"] for m in exported.json()["data"]] == [arch_id]
    assert api.get(links["csv"]).status_code == 200
    browser.screenshot("architecture")


def test_devices_page_shows_the_devices_and_which_agents_are_up(
    browser: Browser, api: httpx.Client, running: int
) -> None:
    load = browser.open("/ui/devices")
    load.assert_clean()
    devices = api.get("/devices").json()["data"]
    assert browser.attrs("#devices tr[data-device]", "data-device") == [d["name"] for d in devices]
    agents = {a["name"]: a["reachable"] for a in api.get("/agents").json()["data"]}
    shown = dict(zip(browser.attrs("#agents-table tr[data-agent]", "data-agent"),
                     browser.texts("#agents-table tr[data-agent] [data-status]"),
                     strict=True))  # fmt: skip
    assert shown == {name: "up" if up else "down" for name, up in agents.items()}
    assert shown == {AGENT_NAME: "up", SECOND: "up", "down": "down"}
    browser.screenshot("devices")


OUTSIDE = "http://lts-outside.invalid/x"  # .invalid never resolves (RFC 2606)

#: Two requests the page makes itself (one outside, one to its server that answers 404),
#: then an error logged by its script; window.__done counts the requests that ended.
MISBEHAVE = f"""
    window.__done = 0;
    const done = () => {{ window.__done += 1; }};
    fetch('{OUTSIDE}').then(done, done);
    fetch('/no-such-route').then(done, done);
    console.error('lts: an error the page logged');
"""


def misbehave(browser: Browser, path: str, ready: str = READY) -> PageLoad:
    browser.open(path, ready=ready)
    browser.drain()
    browser.driver.execute_script(MISBEHAVE)
    browser.wait_for("return window.__done === 2", 30, "the page's requests to end")
    return browser.report(browser.driver.current_url)


def test_the_page_check_catches_what_the_page_does_wrong(browser: Browser) -> None:
    """The checks count only the page's own requests (not the browser's), and still fail a
    test when the page asks an outside host, when one of its requests fails or when its
    script logs an error."""
    # The dashboard: its Content-Security-Policy blocks the outside request before it leaves,
    # and the browser logs that as an error naming the host.
    browser.open("/ui/searches").assert_clean()
    load = misbehave(browser, "/ui/searches")
    assert any("lts-outside.invalid" in e for e in load.console_errors), load.console_errors
    assert any(f.startswith("404 ") for f in load.failed_requests), load.failed_requests
    assert any("an error the page logged" in e for e in load.console_errors), load.console_errors
    with pytest.raises(AssertionError, match="console errors"):
        load.assert_clean()
    # A page without that policy (a JSON answer; the browser's own favicon request there may
    # fail too): the request leaves, and is seen leaving.
    load = misbehave(browser, "/health", ready="return document.readyState === 'complete'")
    assert load.outside_requests == [OUTSIDE]
    assert any(OUTSIDE in f for f in load.failed_requests), load.failed_requests
    load.console_errors.clear()
    load.failed_requests.clear()
    with pytest.raises(AssertionError, match="requests elsewhere"):
        load.assert_clean()


def test_both_services_docs_work_offline(
    browser: Browser, server: Server, agents_file: Path
) -> None:
    swagger = "return document.querySelector('.swagger-ui .info .title') !== null"
    load = browser.open("/docs", ready=swagger)
    load.assert_clean()
    assert "LTS controller" in browser.texts(".swagger-ui .info .title")[0]
    assert browser.driver.find_elements("css selector", ".opblock")  # the operations listed
    browser.screenshot("docs-controller", max_height=1400)
    agent_url = AgentsFile(agents_file).get(SECOND).url
    load = browser.open("/docs", ready=swagger, base=agent_url)
    load.assert_clean()
    assert "LTS agent" in browser.texts(".swagger-ui .info .title")[0]


def test_sign_in_refuses_a_wrong_token_and_keeps_the_right_one_out_of_urls(
    browser: Browser, home: Path, agents_file: Path
) -> None:
    locked = launch_server(home, home / "lts.sqlite", agents_file, "--read-token",
                           "--token-file", str(home / "controller.token"))  # fmt: skip
    driver = browser.driver
    try:
        with httpx.Client(base_url=locked.url) as anon:
            assert anon.get("/searches").status_code == 401
        browser.drain()
        driver.get(locked.url + "/ui/devices")
        url = urlsplit(driver.current_url)
        assert url.path == "/ui/login" and unquote(url.query) == "next=/ui/devices"
        driver.find_element("id", "token").send_keys("wrong-token")
        driver.find_element("id", "login-submit").click()
        browser.wait_for("return document.querySelector('#login-error')", 30, "the refusal")
        assert browser.texts("#login-error") == ["wrong token"]
        assert urlsplit(driver.current_url).path == "/ui/login"
        assert driver.get_cookie("lts_token") is None
        browser.screenshot("login-refused", max_height=800)

        browser.drain()
        driver.find_element("id", "token").send_keys(CONTROLLER_TOKEN)
        driver.find_element("id", "login-submit").click()
        browser.wait_for("return document.body.dataset.ready === '1'", 60, "the devices page")
        assert urlsplit(driver.current_url).path == "/ui/devices"
        load = browser.report(driver.current_url, base=locked.url)
        load.assert_clean()  # the page's API calls passed with the cookie
        cookie = driver.get_cookie("lts_token")
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
        assert driver.execute_script("return document.cookie") == ""  # scripts cannot read it
        assert browser.texts("#devices tr[data-device] td:first-child")
        for path in ("/ui/", "/ui/devices"):
            page = browser.open(path, base=locked.url)
            page.assert_clean()
            assert CONTROLLER_TOKEN not in driver.current_url

        driver.find_element("css selector", ".signout button").click()
        browser.wait_for("return location.pathname === '/ui/login'", 30, "signing out")
        assert driver.get_cookie("lts_token") is None
        driver.get(locked.url + "/ui/")
        assert urlsplit(driver.current_url).path == "/ui/login"
    finally:
        locked.stop()
