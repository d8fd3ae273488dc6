"""The dashboard's search page on a search with a cost model: the device shows how many
candidates were screened out, and the candidate table marks them (a real ``controller
serve`` on a SQLite file written through the Store, a real headless Chromium)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from apiserver import launch_server  # tests/controller/api is on sys.path
from browser import Browser
from testkit import screening_search

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Browser, dict]]:
    home = tmp_path_factory.mktemp("dashboard-screening")
    db = str(home / "lts.sqlite")
    ids = screening_search(db)
    server = launch_server(home, db, home / "agents.toml")
    try:
        browser = Browser(server.url, home)
        try:
            yield browser, ids
        finally:
            browser.close()
    finally:
        server.stop()


def test_the_search_page_shows_screened_candidates(page: tuple[Browser, dict]) -> None:
    browser, ids = page
    browser.open(f"/ui/searches/{ids['search']}").assert_clean()
    assert browser.texts('section.device [data-stat="screened"]') == ["1"]
    rows = browser.driver.execute_script(
        "return [...document.querySelectorAll('#candidate-table tbody tr')].map(r => "
        "r.querySelector('[data-col=\"status\"]').textContent)"
    )
    # The page shows every candidate from the compact view: the measured ones, the screened
    # one and the one of the running iteration not measured yet (the candidate cursor it read
    # before stopped at that one).
    assert sorted(rows) == ["done", "done", "pending", "screened"]
