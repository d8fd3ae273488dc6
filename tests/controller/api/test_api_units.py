"""The API's plain modules called directly (no agent, no server process): the candidates
cursor while a device is measuring, a running device's frontier, settings and tokens, the
read-token mode, and ``controller serve``'s refusals."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lts.controller.api import reads
from lts.controller.api.auth import load_token
from lts.controller.api.main import create_app
from lts.controller.api.runs import _check_lease
from lts.controller.api.settings import Settings
from lts.controller.cli import app as cli_app
from lts.controller.search.config import SearchConfig
from lts.controller.search.runner import start_search
from lts.controller.search.small_spaces import TINY_SPACE
from lts.controller.store import Store
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError, SearchConflict
from lts.shared.schemas import DeviceInfo, LatencyStats, MeasurementResult, MeasureSettings
from lts.shared.space import SearchSpace


def _result(cfg: ArchConfig, latency: float, settings: MeasureSettings) -> MeasurementResult:
    stats = LatencyStats(median=latency, p10=latency, p90=latency, mean=latency, min=latency,
                         cv=0.0, n=1, samples=[latency])  # fmt: skip
    return MeasurementResult(arch_id=cfg.arch_id, latency_ms=stats, peak_memory_mb=10 + latency,
                             settings=settings)  # fmt: skip


Running = tuple[Store, int, int, int, list[ArchConfig]]


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    """A search whose one device is running (its runner, this process, holds the lease):
    four candidates recorded, none measured yet."""
    store = Store.open(tmp_path / "units.sqlite")
    config = SearchConfig.build(agents=["box"], space=TINY_SPACE, iterations=3, population=4,
                                parents=2)  # fmt: skip
    sid = start_search(store, config).id
    store.acquire_lease(sid, "runner", socket.gethostname(), os.getpid(), lambda held: False)
    info = DeviceInfo(name="box", fingerprint="fp", hostname="h", os="linux", machine="x86_64",
                      cpu_model="cpu", cores_logical=2, memory_total_mb=1024.0,
                      defaults=MeasureSettings())  # fmt: skip
    did = store.upsert_device("box", info).id
    (sd,) = store.search_devices(sid)
    store.update_search_device(sd.id, device_id=did, status="running")
    space = SearchSpace.from_dict(TINY_SPACE)
    cfgs = [space.smallest(), space.middle(), space.largest()]
    store.add_candidates(sid, did, 0, [(c, "random", ()) for c in cfgs])
    yield store, sid, did, sd.id, cfgs
    store.close()


def test_the_cursor_waits_for_measurements_of_a_running_device(running: Running) -> None:
    store, sid, did, sd_id, cfgs = running
    page = reads.read_candidates(store, sid)
    assert page.data == [] and page.next_after == 0 and page.complete is False
    assert page.count == 3
    settings = MeasureSettings()
    key = settings.cache_key()
    first, _ = store.add_measurement(cfgs[0], did, key, result=_result(cfgs[0], 1.0, settings))
    store.link_candidates(sid, did, 0, [(cfgs[0].arch_id, first.id, False)])
    page = reads.read_candidates(store, sid)
    assert [c.arch_id for c in page.data] == [cfgs[0].arch_id]  # stops before the unmeasured
    assert page.data[0].measurement.latency_ms == 1.0 and page.complete is False
    # The device fails: what it never measured comes out without a measurement.
    store.update_search_device(sd_id, status="failed", message="agent gone")
    store.set_search_status(sid, "failed", "agent gone")
    page = reads.read_candidates(store, sid, after=page.next_after)
    assert [c.arch_id for c in page.data] == [c.arch_id for c in cfgs[1:]]
    assert all(c.measurement is None for c in page.data) and page.complete is True


def test_a_running_device_reports_its_current_frontier(running: Running) -> None:
    store, sid, did, sd_id, cfgs = running
    settings = MeasureSettings()
    links = []
    for i, cfg in enumerate(cfgs):
        m, _ = store.add_measurement(cfg, did, settings.cache_key(),
                                     result=_result(cfg, 1.0 + i, settings))  # fmt: skip
        links.append((cfg.arch_id, m.id, False))
    store.link_candidates(sid, did, 0, links)
    store.complete_iteration(sd_id, 0, hypervolume=0.25, frontier_size=3, n_measured=3, state={})
    body = reads.read_frontier(store, sid, "box")
    (dev,) = body.data
    assert dev.status == "running" and dev.hypervolume == 0.25 and dev.iterations_done == 1
    # More parameters, slower: each of the three is on the frontier.
    assert [m.arch_id for m in dev.members] == [c.arch_id for c in cfgs]
    assert all(m.figures == "search" for m in dev.members)
    assert [m.latency_ms for m in dev.members] == [1.0, 2.0, 3.0]
    assert [m.objectives["latency"].value for m in dev.members] == [1.0, 2.0, 3.0]
    assert all(m.final_measurement_id is None and m.search_measurement_id for m in dev.members)
    before = reads.search_version(store, sid)
    store.update_search_device(sd_id, status="done")
    assert reads.search_version(store, sid) != before  # the cache sees the change


def test_resuming_a_search_another_live_process_runs_is_refused(running: Running) -> None:
    store, sid, *_ = running
    store.release_lease(sid, "runner")
    _check_lease(store, sid)  # nobody holds it
    store.acquire_lease(sid, "cli", socket.gethostname(), os.getpid(), lambda held: False)
    with pytest.raises(SearchConflict, match=f"process {os.getpid()} on"):
        _check_lease(store, sid)
    store.acquire_lease(sid, "gone", socket.gethostname(), 2**22 + 1, lambda held: True)
    _check_lease(store, sid)  # no such process here: a killed controller's leftover


def test_reads_need_the_token_off_loopback() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert Settings(host=host).reads_need_token is False
    assert Settings(host="0.0.0.0").reads_need_token is True
    assert Settings(host="0.0.0.0", read_token=False).reads_need_token is False
    assert Settings(read_token=True).reads_need_token is True
    assert Settings(host="0.0.0.0", no_auth=True).reads_need_token is False


def test_token_sources_and_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LTS_CONTROLLER_TOKEN", " from-env-0123456789 \n")
    assert load_token(Settings()) == "from-env-0123456789"
    file = tmp_path / "token"
    file.write_text("from-file-0123456789\n")
    assert load_token(Settings(token_file=file)) == "from-file-0123456789"  # the file wins
    monkeypatch.delenv("LTS_CONTROLLER_TOKEN")
    assert load_token(Settings()) is None  # loopback: reads open, writes refused (403)
    with pytest.raises(ConfigError, match="reads need the controller token"):
        load_token(Settings(host="0.0.0.0"))
    assert load_token(Settings(host="0.0.0.0", read_token=False)) is None
    with pytest.raises(ConfigError, match="contradicts --no-auth"):
        load_token(Settings(no_auth=True, read_token=True))
    file.write_text("  \n")
    with pytest.raises(ConfigError, match="is empty"):
        load_token(Settings(token_file=file))


def test_read_token_mode(tmp_path: Path) -> None:
    settings = Settings(db=str(tmp_path / "r.sqlite"), token="t0k-0123456789abc", read_token=True)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        for path in ("/searches", "/devices", "/agents", "/searches/1/frontier"):
            r = client.get(path)
            assert r.status_code == 401 and r.json()["detail"] == "missing or wrong bearer token"
        auth = {"Authorization": "Bearer t0k-0123456789abc"}
        assert client.get("/searches", headers=auth).json() == {"data": [], "count": 0}
        assert client.get("/searches/1", headers=auth).status_code == 404


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "error: token: reads need the controller token"),
        (["--port", "0"], "error: --port:"),
        (["--db", "sqlite://"], "error: db: an in-memory database cannot be served"),
        (["--no-auth", "--read-token"], "error: read-token: contradicts --no-auth"),
        (["--token-file", "/nonexistent/token"], "error: token-file: cannot read"),
        (["--no-auth", "--host", "0.0.0.0"], "error: no-auth: --host 0.0.0.0 can be reached"),
    ],
)
def test_serve_refuses_bad_settings_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    for name in ("LTS_CONTROLLER_TOKEN", "LTS_CONTROLLER_TOKEN_FILE", "LTS_DB"):
        monkeypatch.delenv(name, raising=False)
    r = CliRunner().invoke(cli_app, ["serve", "--db", str(tmp_path / "s.sqlite"), *args])
    assert r.exit_code == 1 and r.output.startswith(message), r.output
    assert "Traceback" not in r.output


def test_the_body_of_post_searches_takes_every_option_of_controller_search() -> None:
    from typer.main import get_command

    from lts.controller.api.schemas import SearchCreate

    search = get_command(cli_app).commands["search"]  # type: ignore[attr-defined]
    flags = {p.name for p in search.params}
    # Files on the server (agents file, token file, store) are not the client's to name (the
    # space comes inline; a URL agent's token is the server's --agent-token-file); how the
    # CLI runs (retry_failed, as_json) is not the search's.
    cli_only = {"agents_file", "token_file", "db", "retry_failed", "as_json"}
    assert set(SearchCreate.model_fields) == flags - cli_only


def test_an_unreadable_agents_file_is_the_servers_fault(tmp_path: Path) -> None:
    bad = tmp_path / "agents.toml"
    bad.write_text("[agents.x\n")
    settings = Settings(db=str(tmp_path / "a.sqlite"), agents_file=bad)
    with TestClient(create_app(settings)) as client:
        r = client.get("/agents")
        assert r.status_code == 503 and "not valid TOML" in r.json()["detail"]


def test_short_tokens_are_refused_and_insecure_no_auth_is_explicit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LTS_CONTROLLER_TOKEN", raising=False)
    file = tmp_path / "token"
    file.write_text("x")
    r = CliRunner().invoke(cli_app, ["serve", "--db", str(tmp_path / "s.sqlite"),
                                     "--token-file", str(file)])  # fmt: skip
    assert r.exit_code == 1 and "has 1 characters; use at least 16" in r.output, r.output
    monkeypatch.setenv("LTS_CONTROLLER_TOKEN", "short")
    with pytest.raises(ConfigError, match="LTS_CONTROLLER_TOKEN has 5 characters"):
        load_token(Settings())
    insecure = Settings(host="0.0.0.0", insecure_no_auth=True)
    assert insecure.no_auth and load_token(insecure) is None
