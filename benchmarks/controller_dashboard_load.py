"""Load times of the dashboard's pages for a 10,000-candidate search, in a real browser.

SYNTHETIC DATA: the store is the one benchmarks/controller_api_frontier.py builds (its
``fill``: one device, 10,000 candidates sampled from the paper's GPT-2 space with made-up
figures; a finished search and a "running" one, whose frontier is computed from every
candidate). A real ``controller serve`` answers on 127.0.0.1; Debian's Chromium, headless
(selenium, the options of the dashboard's tests), opens each page. Reported per page, from
the browser's navigation timing, in ms from the start of the navigation: DOMContentLoaded,
the load event, and the page's own marks: for a search, "first view" (the search and its
compact view fetched, the page built) and "data" (every device, chart and table drawn, the
candidates included); for every page "ready" (everything fetched and drawn); the kilobytes
transferred (compressed), and the requests to the API with the size of their answers
(decoded). Run against another checkout's package (PYTHONPATH) it measures that one's pages:
the "before" of a change. "cold": the first visit after the server started (nothing cached in
the browser or the server); "warm": the median of the next visits.

    python benchmarks/controller_dashboard_load.py [--candidates 10000] [--visits 3] [--db F]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "controller" / "api"))

from browser import Browser  # the dashboard tests' browser
from controller_api_frontier import DEVICE, fill, serve

from lts.controller.search.local_agent import free_port
from lts.controller.store import Store


def architecture_page(url: str, done: int) -> str:
    """The page of the finished search's first frontier member."""
    frontier = httpx.get(f"{url}/searches/{done}/frontier", timeout=120).json()
    arch = frontier["data"][0]["members"][0]["arch_id"]
    return f"/ui/architectures/{arch}?search={done}&device={DEVICE}"


def row(label: str, timings: list[dict[str, float]]) -> str:
    def med(key: str) -> str:
        values = [t[key] for t in timings if t.get(key) is not None]
        return f"{statistics.median(values):6.0f}" if values else "     -"

    return (f"{label:<18} DOMContentLoaded {med('dom_content_loaded')}  load {med('load')}  "
            f"first view {med('first_view')}  data {med('data')}  ready {med('ready')}  "
            f"sent {med('transfer_kb')} kB  API requests {med('api_requests')}  "
            f"API answers {med('api_kb')} kB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--visits", type=int, default=3, help="warm visits per page")
    parser.add_argument("--db", type=Path, help="keep the store here (reused if it exists)")
    args = parser.parse_args()
    print(f"SYNTHETIC store: {args.candidates} candidates per search; cores {os.cpu_count()}; "
          f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.sqlite"
        with Store.open(db) as store:
            if store.count_searches() == 0:
                t0 = time.perf_counter()
                fill(store, args.candidates, finished=True, seed=0)
                fill(store, args.candidates, finished=False, seed=1)
                print(f"filled in {time.perf_counter() - t0:.0f} s")
            done, running = (s.id for s in store.list_searches(limit=2))
            print(f"{store.count_candidates(done)} candidates per search")
        port = free_port()
        proc = serve(db, port)
        url = f"http://127.0.0.1:{port}"
        browser = Browser(url, Path(tmp))
        try:
            targets = {
                "searches": "/ui/",
                "search (done)": f"/ui/searches/{done}",
                "search (running)": f"/ui/searches/{running}",
                "devices": "/ui/devices",
            }
            print("cold (first visit after the server started; ms from navigation start):")
            for label, path in targets.items():
                load = browser.open(path, timeout_s=300)
                load.assert_clean()
                print("  " + row(label, [load.timing]))
            targets["architecture"] = architecture_page(url, done)
            print(f"warm (median of {args.visits} visits):")
            for label, path in targets.items():
                timings = []
                for _ in range(args.visits):
                    load = browser.open(path, timeout_s=300)
                    load.assert_clean()
                    timings.append(load.timing)
                print("  " + row(label, timings))
        finally:
            browser.close()
            proc.terminate()
            proc.wait(30)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
