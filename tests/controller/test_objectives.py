"""Objectives as data: the declaration is the only place that names an objective.

The acceptance test of the issue that made them so: a fifth objective (``energy``, in joules)
is added by editing only its declaration and what a (fake) agent reports; the search ranks by
it, screening screens by it, and the report, the API's JSON and the CLI show it. The store
keeps it with no schema change (objective values are rows).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_search_runtime as rt  # tests/controller is on sys.path
from typer.testing import CliRunner

from lts.controller.cli import app
from lts.controller.proxies import get_proxy
from lts.controller.report import build_report
from lts.controller.search import operators
from lts.controller.search.algorithms import Bounds, Point
from lts.controller.search.economy import SCREENED, Economy
from lts.controller.search.evaluation import DeviceEvaluator
from lts.controller.search.runner import start_search
from lts.controller.store import Store
from lts.shared import objectives as obj
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError
from lts.shared.params import count_params
from lts.shared.schemas import MeasurementResult, MeasureSettings
from lts.shared.space import SearchSpace

ENERGY = obj.Objective(
    "energy", "min", "J", "energy", "measured", "joules of one forward pass (a fake meter)",
    column="energy_j", features="prefill",
    read=lambda r: r.context.get("energy_j"),
)  # fmt: skip
FIVE = ("params", "latency", "decode_latency", "memory", "energy")


def energy(cfg: ArchConfig) -> float:
    """Joules that follow none of the fake agent's other figures (which grow with the
    parameters and the depth): a cost per attention head, and a little per weight."""
    return 0.25 * sum(cfg.n_head) + 1e-8 * count_params(cfg).total


@pytest.fixture
def fifth(monkeypatch: pytest.MonkeyPatch) -> None:
    """The edits: the declaration, and the fake agent's new field."""
    monkeypatch.setitem(obj.OBJECTIVES, "energy", ENERGY)
    plain = rt.fake_result

    def with_energy(cfg: ArchConfig, settings: MeasureSettings) -> MeasurementResult:
        result = plain(cfg, settings)
        return result.model_copy(update={"context": {**result.context, "energy_j": energy(cfg)}})

    monkeypatch.setattr(rt, "fake_result", with_energy)


def test_a_fifth_objective_is_searched_stored_and_reported(fifth: None, tmp_path: Path) -> None:
    config = rt._config(agents=["a"], objectives=list(FIVE), iterations=3, population=10)
    assert config.objective_set().names == FIVE
    db = tmp_path / "s.sqlite"
    with Store.open(db) as store:
        search = start_search(store, config)
        assert rt._run(store, search.id, {"a": rt.FakeAgent("a")}).status == "done"
        # Stored as one more value of each measurement (no new column).
        joins = [j for j in store.candidate_joins(search.id) if j.measurement is not None]
        assert joins and all(j.measurement.values.keys() == set(FIVE[1:]) for j in joins)
        # Ranked by: a frontier member that is there for its energy alone.
        (dev,) = build_report(store, search.id).devices
        assert dev.objectives == FIVE
        rows = dev.frontier
        assert rows and all(set(r.values) == set(FIVE[1:]) for r in rows)
        assert all(r.values["energy"].value == pytest.approx(energy(_cfg(store, r.arch_id)))
                   for r in rows)  # fmt: skip
        # The reported frontier is that of the five objectives over every candidate, and a
        # larger one than the four others make: energy brought members of its own.
        points = {j.arch.arch_id: (-float(j.arch.decoder_params),
                                   *(j.measurement.values[n] for n in FIVE[1:]))
                  for j in joins if j.candidate.iteration >= 0}  # fmt: skip
        assert {r.arch_id for r in rows if r.arch_id in points} == _front(points, 5)
        assert _front(points, 4) < _front(points, 5)
    r = CliRunner().invoke(app, ["results", "--db", str(db), "--json"])
    (shown,) = json.loads(r.stdout)["devices"]
    assert shown["objectives"] == list(FIVE)
    assert all(set(m["objectives"]) == set(FIVE[1:]) for m in shown["members"])
    text = CliRunner().invoke(app, ["results", "--db", str(db)]).stdout
    assert "energy J" in " ".join(text.split())


def test_screening_screens_by_the_fifth_objective(fifth: None, tmp_path: Path) -> None:
    """A candidate predicted worse on every other objective but much better on energy is
    not screened; one predicted worse on energy too is."""
    agent = rt.FakeAgent("a")
    client = rt.FakeClient(agent, "a")
    space = SearchSpace.from_dict(rt.SPACE)
    rng = np.random.default_rng(0)
    cfgs = list({c.arch_id: c for c in (operators.sample(space, rng) for _ in range(300))}.values())
    names = ("params", "latency", "energy")
    objectives = obj.ObjectiveSet(names)

    async def scenario(store: Store) -> dict[str, Any]:
        dispatcher = rt.Dispatcher(client, rt.FAST)
        info = await client.device()
        device = store.upsert_device("a", info, "http://a")
        evaluator = DeviceEvaluator(store, device, dispatcher)
        settings = objectives.settings(info.defaults)
        economy = Economy(store=store, evaluator=evaluator, settings=settings,
                          proxy=get_proxy("decoder_params"), objectives=objectives,
                          bounds=Bounds(), measure_mode="full")  # fmt: skip
        await economy.evaluate(cfgs[:40], [])  # the cost model learns energy too
        assert economy.cost.margin("energy") is not None
        # A member better than everything on params and latency, of the median energy:
        # candidates predicted worse on energy too are screened, the others are measured.
        member = Point(cfgs[0], 0, "random", {"params": 1e15, "latency": 1e-3, "energy": cut},
                       1, True)  # fmt: skip
        return await economy.evaluate(cfgs[40:80], [member])

    cut = float(np.median([energy(c) for c in cfgs[40:80]]))

    with Store.open(tmp_path / "s.sqlite") as store:
        judged = asyncio.run(scenario(store))
    screened = {a for a, j in judged.items() if j.measure == SCREENED}
    measured = {a for a, j in judged.items() if j.measure != SCREENED}
    by_id = {c.arch_id: c for c in cfgs}
    assert screened and measured
    assert all(energy(by_id[a]) > cut for a in screened)  # dominated on energy as well
    assert all(energy(by_id[a]) < cut * 1.1 for a in measured)  # may beat the member on it
    assert min(energy(by_id[a]) for a in measured) < cut


def test_unknown_objectives_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="unknown objective 'joules'"):
        obj.parse("params,latency,joules")
    with pytest.raises(ConfigError, match="the first objective is the proxy"):
        obj.parse("latency,params")
    with pytest.raises(ConfigError, match="at least two"):
        obj.parse("params")
    with pytest.raises(ConfigError, match="named twice"):
        obj.parse("params,latency,latency")


def test_the_objectives_choose_what_is_measured() -> None:
    base = MeasureSettings()
    four = obj.ObjectiveSet(("params", "latency", "decode_latency", "memory")).settings(base)
    assert (four.metric, four.decode, four.measure_memory) == ("prefill", True, True)
    decode = obj.ObjectiveSet(("params", "decode_latency")).settings(base)
    assert (decode.metric, decode.decode, decode.measure_memory) == ("prefill", True, False)
    with pytest.raises(ConfigError, match="use the objective decode_latency"):
        decoded = base.model_copy(update={"metric": "decode"})
        obj.ObjectiveSet(("params", "latency")).settings(decoded)
    # The paper's objectives measure what a search measured before objectives were chosen:
    # the same settings, the same cache key.
    assert obj.ObjectiveSet().settings(base).cache_key() == base.cache_key()


def _cfg(store: Store, arch_id: str) -> ArchConfig:
    return store.architectures([arch_id])[arch_id].to_config()


def _front(points: dict[str, tuple[float, ...]], k: int) -> set[str]:
    """The non-dominated ids over the first ``k`` values of each point (brute force)."""
    cut = {a: v[:k] for a, v in points.items()}

    def dominated(a: str) -> bool:
        return any(all(x <= y for x, y in zip(v, cut[a], strict=True)) and v != cut[a]
                   for b, v in cut.items() if b != a)  # fmt: skip

    return {a for a in cut if not dominated(a)}


def test_a_joint_objective_set_qualifies_each_measured_objective_by_device() -> None:
    from lts.shared.objectives import ObjectiveSet, split

    base = ObjectiveSet(("params", "latency", "memory"))
    joint = ObjectiveSet.joint(base, ["pi", "laptop"])
    assert joint.names == ("params", "latency@pi", "memory@pi", "latency@laptop", "memory@laptop")
    assert joint.is_joint and not base.is_joint
    assert joint.measured_names == joint.names[1:]
    assert [o.name for o in joint.objectives] == ["params", "latency", "memory"] * 1 + [
        "latency",
        "memory",
    ]
    assert joint.signs == (-1.0, 1.0, 1.0, 1.0, 1.0)
    assert joint.minimised([10, 1, 2, 3, 4]) == [-10.0, 1.0, 2.0, 3.0, 4.0]
    assert joint.vector(
        5, {"latency@pi": 1, "memory@pi": 2, "latency@laptop": 3, "memory@laptop": 4}
    ) == (5.0, 1.0, 2.0, 3.0, 4.0)
    assert joint.vector(5, {"latency": 1, "memory": 2}) is None  # values are per device
    assert split("latency@pi") == ("latency", "pi") and split("memory") == ("memory", None)
    with pytest.raises(ConfigError, match="two or more distinct devices"):
        ObjectiveSet.joint(base, ["pi"])
    with pytest.raises(ConfigError, match="unknown objective"):
        ObjectiveSet(("params", "speed@pi"))
    with pytest.raises(ConfigError, match="names its device"):
        ObjectiveSet(("params", "latency@"))


def test_a_joint_search_needs_devices_and_no_screening() -> None:
    from lts.controller.search.config import SearchConfig
    from lts.controller.search.small_spaces import TINY_SPACE

    config = SearchConfig.build(agents=["a", "b"], space=TINY_SPACE, joint=True,
                                max_latency_ms=30)  # fmt: skip
    assert config.screen is False  # screening judges one device's frontier: off by default
    assert config.joint_objectives().names[1:3] == ("latency@a", "memory@a")
    assert dict(config.joint_bounds().limits) == {"latency@a": 30.0, "latency@b": 30.0}
    with pytest.raises(ConfigError, match="screen: --joint"):
        SearchConfig.build(agents=["a", "b"], space=TINY_SPACE, joint=True, screen=True)
    with pytest.raises(ConfigError, match="measure_mode: --joint does not race"):
        SearchConfig.build(agents=["a", "b"], space=TINY_SPACE, joint=True, measure_mode="race")
    with pytest.raises(ConfigError, match="two or more distinct devices"):
        SearchConfig.build(agents=["a"], space=TINY_SPACE, joint=True)
    # a search stored before the cross step never measured across devices
    stored = SearchConfig.from_stored({**config.model_dump(mode="json"), "joint": False}
                                      | {"cross_measure": True})  # fmt: skip
    assert stored.cross_measure is True
    old = config.model_dump(mode="json")
    del old["cross_measure"], old["joint"]
    assert SearchConfig.from_stored(old).cross_measure is False
