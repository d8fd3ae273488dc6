"""From a frontier to a decision, on real searches: two real agents, a joint search whose every
member is measured on both devices, a search per device with the cross step, and the pick
(``controller pick``, ``GET /searches/{id}/pick``, the dashboard's budget form in a real
browser) checked against a brute-force choice over the stored figures. On a SQLite file and on
a PostgreSQL database (``ENGINES``)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from apiserver import MEASURE, SMALL, Server, launch_server
from testkit import ENGINES, agent_items

from lts.controller.agents import AgentsFile, AgentSpec
from lts.controller.search.config import SearchConfig
from lts.controller.search.runner import SearchRunner, start_search
from lts.controller.store import Store

AGENTS = ("dev-a", "dev-b")


@dataclass
class Decided:
    db: str
    server: Server
    joint: int  # a joint search on both agents
    cross: int  # a search per device, with the cross step


@pytest.fixture(scope="module")
def agents_file(start_agent: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("decide-agents")
    registry = AgentsFile(home / "agents.toml")
    for name, threads in zip(AGENTS, ("1", "2"), strict=True):
        agent = start_agent("--name", name, "--threads", threads)
        token = home / f"{name}.token"
        token.write_text(agent.token)
        token.chmod(0o600)
        registry.add(AgentSpec(name, agent.url, token_file=str(token)))
    return registry.path


def run(db: str, registry: AgentsFile, **options: Any) -> int:
    config = SearchConfig.build(agents=list(AGENTS), iterations=2, seed=3, baseline_layers=[1, 3],
                                measure=MEASURE, **{**SMALL, **options})  # fmt: skip
    with Store.open(db) as store:
        sid = start_search(store, config).id
        outcome = asyncio.run(SearchRunner(store, sid, [registry.get(a) for a in AGENTS]).run())
        assert outcome.status == "done", [d.message for d in outcome.devices]
    return sid


@pytest.fixture(scope="module", params=ENGINES)
def decided(
    request: pytest.FixtureRequest, agents_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Decided]:
    home = tmp_path_factory.mktemp("decide")
    if request.param == "sqlite":
        db = str(home / "lts.sqlite")
    else:
        server = request.getfixturevalue("pg_server")
        db = server.url(server.create_database())
    registry = AgentsFile(agents_file)
    joint = run(db, registry, joint=True)
    cross = run(db, registry, cross_measure=True)
    server = launch_server(home, db, agents_file)
    yield Decided(db, server, joint, cross)
    server.stop()


@pytest.fixture
def api(decided: Decided) -> Iterator[httpx.Client]:
    with decided.server.client(token="") as client:
        yield client


# ------------------------------------------------------------------------- joint search
def test_joint_search_measures_every_member_on_both_devices(
    decided: Decided, api: httpx.Client
) -> None:
    frontier = api.get(f"/searches/{decided.joint}/frontier").json()["data"]
    assert [d["agent"] for d in frontier] == list(AGENTS)
    members = [{m["arch_id"] for m in d["members"]} for d in frontier]
    assert members[0] and members[0] == members[1]  # one frontier, shown on each device
    for d in frontier:
        for m in d["members"]:
            assert all(m["objectives"][n]["value"] is not None for n in ("latency", "memory"))
    # the same candidates on both devices, and one hypervolume history
    detail = api.get(f"/searches/{decided.joint}").json()
    by_device: dict[int, list[tuple[int, float | None]]] = {}
    for h in detail["hypervolume"]:
        by_device.setdefault(h["device_id"], []).append((h["iteration"], h["hypervolume"]))
    assert len(by_device) == 2 and len(set(map(tuple, by_device.values()))) == 1
    joint = api.get(f"/searches/{decided.joint}/joint").json()
    assert joint["joint"] is True and joint["devices"] == [d["device"] for d in frontier]
    listed = {r["arch_id"] for r in joint["data"] if r["member"]}
    assert listed == members[0]  # the joint frontier, recomputed from the figures shown
    for row in joint["data"]:
        for name in joint["devices"]:
            assert row["devices"][name]["objectives"]["latency"]["value"] is not None
    with Store.open(decided.db) as store:
        sds = store.search_devices(decided.joint)
        cands = [{(c.iteration, c.arch_id) for c in store.candidates(decided.joint, sd.device_id)}
                 for sd in sds]  # fmt: skip
    assert cands[0] == cands[1]


def test_cross_step_measures_each_frontier_on_the_other_device(
    decided: Decided, api: httpx.Client
) -> None:
    frontier = api.get(f"/searches/{decided.cross}/frontier").json()["data"]
    a, b = frontier
    for here, there in ((a, b), (b, a)):
        shown = ({m["arch_id"] for m in here["members"]}
                 | {c["baseline"]["arch_id"] for c in here["baselines"]})  # fmt: skip
        cross = {m["arch_id"] for m in here["cross"]}
        assert {m["arch_id"] for m in there["members"]} <= shown | cross
        assert not cross & shown
        assert all(m["figures"] == "final" for m in here["cross"])
    joint = api.get(f"/searches/{decided.cross}/joint").json()
    assert joint["joint"] is False
    every = {m["arch_id"] for d in frontier for m in d["members"]}
    assert every <= {r["arch_id"] for r in joint["data"]}  # every frontier model, both devices


# --------------------------------------------------------------------------------- pick
def brute_force(
    rows: list[dict[str, dict[str, Any]]], caps: dict[str, dict[str, float]], by: str
) -> str | None:
    """The arch id a user would choose by hand: of ``rows`` (per device name, a model's
    public figures), those within every cap, the most decoder parameters, then the lowest
    latency on the first device, then the arch id."""

    def figure(m: dict[str, Any], name: str) -> float | None:
        f = m["objectives"][name]
        return f["p90"] if by == "p90" and f["p90"] is not None else f["value"]

    ok = [r for r in rows if all(
        figure(r[d], n) is not None and figure(r[d], n) <= cap
        for d, c in caps.items() for n, cap in c.items())]  # fmt: skip
    if not ok:
        return None
    first = next(iter(caps))
    best = min(
        ok,
        key=lambda r: (
            -r[first]["decoder_params"],
            r[first]["objectives"]["latency"]["value"],
            r[first]["arch_id"],
        ),
    )
    return best[first]["arch_id"]


def budgets(values: list[float]) -> list[float]:
    """Caps that split the figures: at a few quantiles of ``values`` and beyond them."""
    s = sorted(values)
    return [s[0] * 0.5, *(s[int(q * (len(s) - 1))] for q in (0.0, 0.3, 0.6, 1.0)), s[-1] * 2]


@pytest.mark.parametrize("which", ["joint", "cross"])
def test_pick_agrees_with_a_brute_force_choice(
    decided: Decided, api: httpx.Client, which: str
) -> None:
    sid = getattr(decided, which)
    frontier = api.get(f"/searches/{sid}/frontier").json()["data"]
    names = [d["device"] for d in frontier]
    joint = api.get(f"/searches/{sid}/joint").json()["data"]
    checked = 0
    for by in ("median", "p90"):
        for d in frontier:  # one device: its frontier
            rows = [{d["device"]: m} for m in d["members"]]
            lat = [m["objectives"]["latency"]["value"] for m in d["members"]]
            for cap in budgets(lat):
                want = brute_force(rows, {d["device"]: {"latency": cap}}, by)
                got = api.get(f"/searches/{sid}/pick", params={
                    "device": d["agent"], "max_latency_ms": str(cap), "by": by}).json()  # fmt: skip
                assert (got["choice"] or {}).get("arch_id") == want, (d["device"], cap, by)
                checked += 1
        # both devices: the models measured on both, a latency cap each and a memory cap
        rows = [r["devices"] for r in joint]
        lat_a = [r[names[0]]["objectives"]["latency"]["value"] for r in rows]
        mem = [r[names[1]]["objectives"]["memory"]["value"] for r in rows]
        for cap_a, cap_m in zip(budgets(lat_a), reversed(budgets(mem)), strict=True):
            caps = {names[0]: {"latency": cap_a}, names[1]: {"memory": cap_m}}
            want = brute_force(rows, caps, by)
            params = {"max_latency_ms": f"{names[0]}={cap_a}",
                      "max_memory_mb": f"{names[1]}={cap_m}", "by": by}  # fmt: skip
            got = api.get(f"/searches/{sid}/pick", params=params).json()
            assert (got["choice"] or {}).get("arch_id") == want, (caps, by)
            if want is not None:
                assert got["choice"]["weight_bytes"] == 4 * got["choice"]["total_params"]
                assert f"--ids {want}" in got["export"]
            checked += 1
    assert checked >= 2 * (len(frontier) * 6 + 6)
    # the CLI gives the API's answer
    args = ["pick", str(sid), "--db", decided.db, "--max-latency-ms", f"{names[0]}=1e9",
            "--max-latency-ms", f"{names[1]}=1e9", "--json"]  # fmt: skip
    cli = subprocess.run([sys.executable, "-c", "from lts.controller.cli import main; main()",
                          *args], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    api_answer = api.get(f"/searches/{sid}/pick", params={
        "max_latency_ms": [f"{names[0]}=1e9", f"{names[1]}=1e9"]}).json()  # fmt: skip
    got = json.loads(cli.stdout)
    assert got["choice"] == api_answer["choice"]
    assert got["choice"]["arch_id"] == brute_force(
        [r["devices"] for r in joint], {n: {} for n in names}, "median"
    )


def test_pick_refuses_bad_input_naming_the_field(decided: Decided, api: httpx.Client) -> None:
    sid = decided.cross
    cases = [
        ({"max_latency_ms": "abc", "device": AGENTS[0]}, "max_latency_ms"),
        ({"max_latency_ms": "-1", "device": AGENTS[0]}, "max_latency_ms"),
        ({"max_latency_ms": "10"}, "device"),
        ({"max_latency_ms": "nowhere=10"}, "device"),
        ({"max_decode_latency_ms": "10", "device": AGENTS[0]}, "max_decode_latency_ms"),
        ({"device": AGENTS[0], "by": "p50"}, "by"),
        ({"device": [f"d{i}" for i in range(70)]}, "device"),
    ]
    for params, field in cases:
        r = api.get(f"/searches/{sid}/pick", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["field"] == field, (params, r.json())
    none = api.get(
        f"/searches/{sid}/pick", params={"device": AGENTS[0], "max_latency_ms": "1e-9"}
    ).json()
    assert none["choice"] is None and none["within"] == 0 and none["candidates"] > 0


# ------------------------------------------------------------------------- the dashboard
@pytest.fixture(scope="module")
def browser(decided: Decided, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from browser import Browser, chromium_or_skip

    chromium_or_skip()
    folder = os.environ.get("LTS_SCREENSHOTS_DIR")
    shots = Path(folder) if folder else tmp_path_factory.mktemp("decide-screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    b = Browser(decided.server.url, shots)
    yield b
    b.close()


def fill_budget(
    browser: Any, devices: list[str], caps: dict[str, dict[str, float]], by: str
) -> str:
    """Tick ``devices``, type ``caps`` (device -> option -> value) into the budget form, choose
    ``by``, submit it and return the arch id it shows ("" for none)."""
    driver = browser.driver
    driver.execute_script("""
        const [devices, caps, by] = arguments;
        document.querySelector('#pick-result').removeAttribute('data-arch');
        for (const box of document.querySelectorAll('[data-pick-device]'))
            box.checked = devices.includes(box.dataset.pickDevice);
        for (const input of document.querySelectorAll('#budget-form input[data-cap]'))
            input.value = (caps[input.dataset.device] || {})[input.dataset.cap] ?? '';
        document.querySelector('#pick-by').value = by;
        document.querySelector('#pick-submit').click();
    """, devices, caps, by)  # fmt: skip
    return browser.wait_for(
        "const r = document.querySelector('#pick-result');"
        "return r.hasAttribute('data-arch') ? r.dataset.arch || 'NONE' : null",
        60,
        "the pick",
    ).replace("NONE", "")


@pytest.mark.browser
@pytest.mark.parametrize("which", ["joint", "cross"])
def test_dashboard_budget_form_picks_what_a_brute_force_choice_picks(
    decided: Decided, api: httpx.Client, browser: Any, which: str
) -> None:
    sid = getattr(decided, which)
    load = browser.open(f"/ui/searches/{sid}")
    load.assert_clean()
    frontier = api.get(f"/searches/{sid}/frontier").json()["data"]
    joint = api.get(f"/searches/{sid}/joint").json()
    names = joint["devices"]
    rows = [r["devices"] for r in joint["data"]]
    # one device: its frontier
    d = frontier[0]
    lat = [m["objectives"]["latency"]["value"] for m in d["members"]]
    for cap in budgets(lat)[1:4]:
        caps = {d["device"]: {"max_latency_ms": cap}}
        want = brute_force([{d["device"]: m} for m in d["members"]],
                           {d["device"]: {"latency": cap}}, "median")  # fmt: skip
        assert fill_budget(browser, [d["device"]], caps, "median") == (want or "")
    # both devices, p90
    lat_b = [r[names[1]]["objectives"]["latency"]["value"] for r in rows]
    for cap in budgets(lat_b)[2:5]:
        caps = {names[1]: {"max_latency_ms": cap}}
        want = brute_force(rows, {names[0]: {}, names[1]: {"latency": cap}}, "p90")
        assert fill_budget(browser, names, caps, "p90") == (want or "")
    # the choice's figures and size are the API's
    got = fill_budget(browser, names, {}, "median")
    answer = api.get(f"/searches/{sid}/pick", params={"device": names}).json()
    assert got == answer["choice"]["arch_id"]
    size = browser.texts("#pick-size")[0]
    assert f"{answer['choice']['total_params']:,} parameters in all" in size
    # the joint frontier is listed as the API lists it, and the warnings are shown
    members = [r["arch_id"] for r in joint["data"] if r["member"]]
    assert browser.attrs("#joint-table tr[data-joint]", "data-joint") == members
    for i, device in enumerate(frontier):
        shown = browser.texts(f'section.device[data-position="{i}"] [data-warning]')
        assert shown == device["reliability"]["warnings"]
    assert browser.texts('[data-hv="note"]')[0].startswith("Hypervolume: the share of the box")
    # a budget both devices' figures split, for the screenshots
    lat_a = sorted(r[names[0]]["objectives"]["latency"]["value"] for r in rows)
    cap = round(lat_a[len(lat_a) // 2] * 1.05, 1)
    want = brute_force(rows, {names[0]: {"latency": cap}, names[1]: {}}, "median")
    shown = fill_budget(browser, names, {names[0]: {"max_latency_ms": cap}}, "median")
    assert shown == (want or "")
    browser.driver.execute_script("window.scrollTo(0, 0)")
    if which == "joint" and "://" not in decided.db:
        browser.screenshot("search-joint")
        budget = browser.driver.find_element("css selector", "#budget")
        browser.driver.execute_script("arguments[0].scrollIntoView()", budget)
        budget.screenshot(str(browser.screenshots / "budget-pick.png"))
        joint_card = browser.driver.find_element("css selector", "#joint")
        browser.driver.execute_script("arguments[0].scrollIntoView()", joint_card)
        joint_card.screenshot(str(browser.screenshots / "joint-frontier.png"))
    load = browser.report(browser.driver.current_url)
    load.assert_clean()


def items_measured(spec: AgentSpec, since: set[str]) -> tuple[set[str], Counter[tuple[str, str]]]:
    """The agent's job ids, and how often it measured each (arch, settings) in jobs not in
    ``since``."""
    return agent_items(spec.url, since, spec.resolve_token())


def test_a_joint_search_resumes_and_measures_nothing_twice(
    decided: Decided, agents_file: Path
) -> None:
    registry = AgentsFile(agents_file)
    specs = [registry.get(a) for a in AGENTS]
    before = [items_measured(s, set())[0] for s in specs]
    config = SearchConfig.build(agents=list(AGENTS), iterations=3, seed=11, baseline_layers=[1],
                                measure=MEASURE, **{**SMALL, "joint": True})  # fmt: skip
    with Store.open(decided.db) as store:
        sid = start_search(store, config).id
        holder: list[SearchRunner] = []

        def stop_after_the_first_iteration(p: Any) -> None:
            if p.iteration >= 1 and holder:
                holder[0].stop("a test")

        holder.append(SearchRunner(store, sid, specs, observer=stop_after_the_first_iteration))
        with pytest.raises(asyncio.CancelledError):
            asyncio.run(holder[0].run())
        assert store.get_search(sid).status == "interrupted"
        done = {sd.iteration_done for sd in store.search_devices(sid)}
        assert len(done) == 1 and done.pop() >= 0  # one iteration, stored on both at once
        outcome = asyncio.run(SearchRunner(store, sid, specs).run())
        assert outcome.status == "done"
        sds = store.search_devices(sid)
        assert {sd.iteration_done for sd in sds} == {2}
        cands = [sorted((c.iteration, c.arch_id) for c in store.candidates(sid, sd.device_id))
                 for sd in sds]  # fmt: skip
        assert cands[0] == cands[1] and len(set(cands[0])) == len(cands[0])
    for spec, since in zip(specs, before, strict=True):
        _, counts = items_measured(spec, since)
        assert counts and max(counts.values()) == 1, counts.most_common(3)
