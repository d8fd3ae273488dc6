"""Search liveness tells the truth (issue 12, point 5): a search stored as ``running`` whose
runner is gone (no lease, or a lease held by a process that no longer exists) reads
``interrupted`` in ``controller searches``, ``controller results`` and the API; one whose
runner is alive reads ``running``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lts.controller.api import reads
from lts.controller.search.config import SearchConfig
from lts.controller.search.runner import start_search
from lts.controller.search.small_spaces import TINY_SPACE
from lts.controller.store import Store

CONTROLLER = [sys.executable, "-c", "from lts.controller.cli import main; main()"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _cli(db: Path, *args: str) -> dict:
    out = subprocess.run([*CONTROLLER, *args, "--db", str(db), "--json"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    return json.loads(out)


@pytest.mark.parametrize("holder", ["none", "dead", "alive"])
def test_a_search_without_a_live_runner_reads_interrupted(tmp_path: Path, holder: str) -> None:
    db = tmp_path / "lts.sqlite"
    with Store.open(db) as store:
        config = SearchConfig.build(agents=["box"], space=TINY_SPACE, iterations=2,
                                    population=4, parents=2)  # fmt: skip
        sid = start_search(store, config).id
        store.set_search_status(sid, "running")
        (sd,) = store.search_devices(sid)
        store.update_search_device(sd.id, status="waiting", message="agent unreachable")
        if holder != "none":
            pid = os.getpid() if holder == "alive" else _dead_pid()
            store.acquire_lease(sid, "owner", socket.gethostname(), pid, lambda held: False)
        expected = "running" if holder == "alive" else "interrupted"
        device = "waiting" if holder == "alive" else "interrupted"
        assert store.get_search(sid).status == "running"  # what is stored stays as it was

        # The API's reads.
        assert [s.status for s in reads.list_searches(store).data] == [expected]
        detail = reads.read_search(store, sid)
        assert detail.status == expected and [d.status for d in detail.devices] == [device]
        assert reads.read_frontier(store, sid).status == expected
        assert reads.read_candidates(store, sid).complete is (holder != "alive")
        # This server runs it (the lease may not be taken yet): running.
        assert reads.read_search(store, sid, background=True).status == "running"

    # The CLI.
    assert [s["status"] for s in _cli(db, "searches")["data"]] == [expected]
    report = _cli(db, "results", str(sid))
    assert report["search"]["status"] == expected
    assert [d["status"] for d in report["devices"]] == [device]
