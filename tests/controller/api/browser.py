"""A real headless Chromium for the dashboard's tests (Debian's ``chromium`` and
``chromium-driver``, driven by selenium): open a page, wait until its script says it is ready,
and collect what went wrong (console errors, failed or outside requests) and how long it took.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
OPTIONS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--window-size=1400,1000",
    # WebGL in software (SwiftShader), so that the 3-D plots draw with --disable-gpu.
    "--enable-unsafe-swiftshader",
)  # fmt: skip


#: URL schemes of the browser's own pages (a page served over http cannot load them).
BROWSER_PAGES = ("chrome:", "chrome-untrusted:", "chrome-extension:", "devtools:")

#: The dashboard's page is drawn (app.js sets it once the first rendering ended).
READY = "return document.body && document.body.dataset.ready === '1'"


def chromium_or_skip() -> tuple[str, str]:
    """(chromium, chromedriver) paths; skips the test, saying what to install, without them."""
    browser = next((p for n in CHROMIUM_NAMES if (p := shutil.which(n))), None)
    driver = CHROMEDRIVER if Path(CHROMEDRIVER).is_file() else shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("no chromium/chromedriver found: apt-get install chromium chromium-driver "
                    "(the dashboard's browser tests need them)")  # fmt: skip
    pytest.importorskip("selenium", reason="selenium is not installed (pip install '.[dev]')")
    return browser, driver


@dataclass
class PageLoad:
    """What one page load did: console messages at error level, requests that failed or left
    the server, and the navigation timing (ms from the start of the navigation)."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)

    def assert_clean(self) -> None:
        assert not self.console_errors, f"{self.url}: console errors {self.console_errors}"
        assert not self.failed_requests, f"{self.url}: failed requests {self.failed_requests}"
        assert not self.outside_requests, f"{self.url}: requests elsewhere {self.outside_requests}"


class Browser:
    """One Chromium with a fresh profile; :meth:`open` loads a page and reports it."""

    def __init__(self, base_url: str, screenshots: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        browser, driver = chromium_or_skip()
        self.base_url = base_url
        self.screenshots = screenshots
        self.profile = tempfile.mkdtemp(prefix="lts-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for option in (*OPTIONS, f"--user-data-dir={self.profile}"):
            options.add_argument(option)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(driver), options=options)
        self.driver.set_page_load_timeout(120)
        # The first tab opens on the browser's new-tab page, which loads chrome:// resources and
        # looks up outside hosts as a test begins: leave it for an empty page at once, and
        # forget what it did (report() also counts only the page's own requests).
        self.driver.get("about:blank")
        self.drain()

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

    def drain(self) -> None:
        """Forget the logs so far (the next report covers what follows)."""
        self.driver.get_log("browser")
        self.driver.get_log("performance")

    def open(
        self, path: str, *, ready: str = READY, timeout_s: float = 120, base: str | None = None
    ) -> PageLoad:
        """Load ``path`` (on ``base``, else the dashboard's server), wait until the script
        ``ready`` is true (default: the dashboard has rendered its page) and report."""
        self.drain()
        url = (base or self.base_url) + path
        self.driver.get(url)
        self.wait_for(ready, timeout_s, f"{path} to be ready")
        return self.report(url, base=base)

    def report(self, url: str, *, base: str | None = None) -> PageLoad:
        """What the current page did since the last :meth:`drain`. Only the page's own
        requests count: those whose document (CDP loader) is one of the page's frames'
        documents. The browser's own pages (a new-tab page loading ``chrome://`` resources
        and failing to resolve outside hosts while the test starts) are other documents."""
        load = PageLoad(url)
        origin = base or self.base_url
        loaders = self._page_loaders()
        sent: dict[str, str] = {}  # requestId -> URL, for the page's requests
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            method, params = message["method"], message.get("params", {})
            if method == "Network.requestWillBeSent":
                if params.get("loaderId") not in loaders:
                    continue
                target = params["request"]["url"]
                sent[params["requestId"]] = target
                # (data: and blob: URLs never leave the browser)
                if target.startswith(("http:", "https:", "ws:", "wss:")) and not target.startswith(
                    origin + "/"
                ):
                    load.outside_requests.append(target)
            elif params.get("requestId") not in sent:
                continue
            elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
                response = params["response"]
                load.failed_requests.append(f"{response['status']} {response['url']}")
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                failed = sent[params["requestId"]]
                load.failed_requests.append(f"{params.get('errorText')} {failed}")
        page_urls = set(sent.values())
        for entry in self.driver.get_log("browser"):
            if entry["level"] != "SEVERE":
                continue
            # a failed load is logged by the network with its URL first: the page's only if
            # the page requested that URL (its failure is then in failed_requests too)
            first = entry["message"].split(" ")[0]
            if entry.get("source") == "network" and first not in page_urls:
                continue
            if first.startswith(BROWSER_PAGES):  # the browser's own pages, never the page's
                continue
            load.console_errors.append(entry["message"])
        load.timing = self.timing()
        return load

    def _page_loaders(self) -> set[str]:
        """The CDP loader ids of the current page's documents (its frames, nested included)."""
        tree = self.driver.execute_cdp_cmd("Page.getFrameTree", {})["frameTree"]
        loaders, todo = set(), [tree]
        while todo:
            node = todo.pop()
            loaders.add(node["frame"]["loaderId"])
            todo += node.get("childFrames", [])
        return loaders

    def timing(self) -> dict[str, float]:
        """Navigation timing of the current page, and the dashboard's marks (ms): for a
        search, ``first_view`` (frontier drawn) and ``data`` (every candidate fetched); for
        every page ``ready`` (all drawn); ``api_requests`` and ``api_kb``: the requests to the
        API (not the page or its assets) and the bytes of their answers (decoded)."""
        return self.driver.execute_script("""
            const nav = performance.getEntriesByType('navigation')[0];
            const api = performance.getEntriesByType('resource')
                .filter((r) => !new URL(r.name).pathname.startsWith('/ui/'));
            const mark = (name) => {
                const m = performance.getEntriesByName(name)[0];
                return m ? m.startTime : null;
            };
            return {response_end: nav.responseEnd, dom_content_loaded: nav.domContentLoadedEventEnd,
                    load: nav.loadEventEnd, first_view: mark('lts-first-view'),
                    data: mark('lts-data'), ready: mark('lts-ready'),
                    transfer_kb: performance.getEntriesByType('resource')
                        .reduce((n, r) => n + r.transferSize, nav.transferSize) / 1024,
                    api_requests: api.length,
                    api_kb: api.reduce((n, r) => n + r.decodedBodySize, 0) / 1024};
        """)  # fmt: skip

    def fetched_paths(self) -> list[str]:
        """The paths of every resource the current page fetched, in order."""
        return self.driver.execute_script(
            "return performance.getEntriesByType('resource').map(r => new URL(r.name).pathname)"
        )

    def wait_for(self, script: str, timeout_s: float, what: str) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.driver.execute_script(script)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")

    def texts(self, css: str) -> list[str]:
        return self.driver.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)", css
        )

    def attrs(self, css: str, name: str) -> list[str]:
        return self.driver.execute_script(
            "return [...document.querySelectorAll(arguments[0])]"
            ".map(e => e.getAttribute(arguments[1]))",
            css, name,
        )  # fmt: skip

    def screenshot(self, name: str, *, max_height: int = 2600) -> Path:
        """A PNG of the whole page (up to ``max_height`` pixels) in the screenshots folder."""
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1400, min(max(height, 800), max_height))
        path = self.screenshots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(1400, 1000)
        return path


# ------------------------------------------------------------- numbers as the page writes them
def js_fixed(v: float, digits: int) -> str:
    """What JavaScript's ``toFixed(digits)`` shows: the nearest value, a tie (a float exactly
    between two, such as 3.25 or a peak memory of whole 4 KiB pages) to the larger one, where
    Python's format rounds a tie to even (3.2)."""
    return str(Decimal(v).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def ms(v: float | None) -> str:
    return "-" if v is None else js_fixed(v, 2)


def mb(v: float | None) -> str:
    return "-" if v is None else js_fixed(v, 1)
