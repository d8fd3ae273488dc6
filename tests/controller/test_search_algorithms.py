"""Every registered search algorithm (``lts``, ``lts-elitist``, ``nsga2``, ``smsemoa``, ``tpe``,
``random``) against a surrogate device: distinct, valid, bounded proposals on both backbones
(heterogeneous and homogeneous spaces), determinism from the injected generator, and exact
resume (in process, and after a SIGKILL between ask and tell in a driver subprocess)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from algorithm_driver import outcome

from lts.controller.search.algorithms import (
    ALGORITHMS,
    Bounds,
    Outcome,
    Proposal,
    SearchAlgorithm,
    SearchParams,
    get_algorithm,
)
from lts.shared.errors import ConfigError
from lts.shared.params import decoder_params
from lts.shared.space import SearchSpace, default_space

NAMES = sorted(ALGORITHMS)
DRIVER = Path(__file__).with_name("algorithm_driver.py")
PARAMS = SearchParams(iterations=4, population=16, parents=4)
#: TPE refits its model for every candidate: smaller iterations keep its tests short.
PARAMS_OF = {"tpe": SearchParams(iterations=4, population=8, parents=2)}
BOUNDS = Bounds(min_params=2_000_000, max_params=80_000_000)


def make(name: str, space: SearchSpace, seed: int = 0, **kw: object) -> SearchAlgorithm:
    params = kw.pop("params", PARAMS_OF.get(name, PARAMS))
    bounds = kw.pop("bounds", BOUNDS)
    return get_algorithm(name)(space, params, np.random.default_rng(seed), bounds=bounds, **kw)


def drive(search: SearchAlgorithm, seed: int = 0, upto: int | None = None) -> list[list[str]]:
    """Ask and tell (the driver's surrogate, some failures) up to iteration ``upto``; the
    proposals' arch ids of each iteration."""
    out = []
    while not search.done and (upto is None or search.iteration < upto):
        proposals = search.ask()
        out.append([p.arch_id for p in proposals])
        outcomes = {p.arch_id: outcome(p.cfg, seed) for p in proposals}
        search.tell({k: v for k, v in outcomes.items() if v is not None})
    return out


def history_of(asked: list[list[Proposal]], told: list[dict]) -> list:
    return [(i, p, told[i].get(p.arch_id)) for i, ps in enumerate(asked) for p in ps]


def test_the_registry_names_every_algorithm_and_refuses_an_unknown_one() -> None:
    assert set(ALGORITHMS) == {
        "lts", "lts-elitist", "nsga2", "smsemoa", "smsemoa-crowding", "tpe", "random"
    }
    with pytest.raises(ConfigError, match="unknown algorithm 'nope'"):
        get_algorithm("nope")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("backbone", "homogeneous"), [("gpt2", False), ("transxl", False), ("gpt2", True)]
)
def test_proposals_are_distinct_valid_and_within_bounds(
    name: str, backbone: str, homogeneous: bool
) -> None:
    space = default_space(backbone, homogeneous)
    search = make(name, space, seed=3)
    params = search.params
    seen: set[str] = set()
    for i in range(params.iterations):
        proposals = search.ask()
        wanted = params.population - (params.parents if name.startswith("lts") and i else 0)
        assert len(proposals) == wanted
        for p in proposals:
            assert space.contains(p.cfg), space.violation(p.cfg)
            assert BOUNDS.params_ok(decoder_params(p.cfg))
            assert p.arch_id not in seen
            seen.add(p.arch_id)
            if homogeneous:
                assert len(set(p.cfg.n_head)) == 1 and len(set(p.cfg.d_inner)) == 1
        outcomes = {p.arch_id: outcome(p.cfg, 0) for p in proposals}
        search.tell({k: v for k, v in outcomes.items() if v is not None})
    assert search.done and search.frontier()


@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_gives_the_same_search_and_another_seed_another(name: str) -> None:
    space = default_space("gpt2")
    a, b = drive(make(name, space, seed=5)), drive(make(name, space, seed=5))
    assert a == b
    assert drive(make(name, space, seed=6)) != a


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backbone", ["gpt2", "transxl"])
@pytest.mark.parametrize("stop", [1, 2, 3])
def test_resume_from_state_and_history_proposes_exactly_what_an_uninterrupted_search_would(
    name: str, backbone: str, stop: int
) -> None:
    space = default_space(backbone)
    whole = drive(make(name, space, seed=11), seed=11)
    first = make(name, space, seed=11)
    asked: list[list[Proposal]] = []
    told: list[dict[str, Outcome]] = []
    while first.iteration < stop:
        proposals = first.ask()
        asked.append(proposals)
        outcomes = {p.arch_id: outcome(p.cfg, 11) for p in proposals}
        told.append({k: v for k, v in outcomes.items() if v is not None})
        first.tell(told[-1])
    state = json.loads(json.dumps(first.state_dict()))
    history = history_of(asked, told)
    resumed = make(name, space, seed=999)  # the stored generator state wins
    resumed.load_state(state, history)
    assert resumed.iteration == stop
    assert [p.arch_id for p in resumed.frontier()] == [p.arch_id for p in first.frontier()]
    assert drive(resumed, seed=11) == whole[stop:]


@pytest.mark.parametrize("name", NAMES)
def test_limits_make_points_infeasible_and_the_search_goes_on(name: str) -> None:
    bounds = Bounds(limits={"latency": 150.0, "memory": 400.0}, max_params=80_000_000)
    search = make(name, default_space("gpt2"), seed=2, bounds=bounds)
    ids = [i for batch in drive(search) for i in batch]
    assert len(ids) == len(set(ids))
    assert all(p.values["latency"] <= 150.0 for p in search.frontier())


@pytest.mark.parametrize("name", NAMES)
def test_a_tiny_space_runs_out_and_fills_only_with_new_architectures(name: str) -> None:
    space = SearchSpace(backbone="gpt2", n_layer=(1, 2), d_model=(64,), d_embed=(64,),
                        div_val=(1,), n_head=(2,), d_inner=(128, 192), n_token=1000,
                        cutoffs=(200, 500))  # fmt: skip
    # 2 + 4 architectures in all: a second iteration finds few or none that are new
    search = make(name, space, params=SearchParams(iterations=3, population=4, parents=1),
                  bounds=Bounds())  # fmt: skip
    ids = [i for batch in drive(search) for i in batch]
    assert len(ids) == len(set(ids)) <= space.size()


def _driver(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(DRIVER), *args], capture_output=True, text=True,
                          cwd=tmp, timeout=600)  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_a_search_killed_mid_iteration_resumes_exactly(name: str, tmp_path: Path) -> None:
    common = [name, "4", "5", "6" if name == "tpe" else "12", "gpt2"]
    whole = _driver([*common, str(tmp_path / "w.json"), str(tmp_path / "w.log")], tmp_path)
    assert whole.returncode == 0, whole.stderr
    state, log = str(tmp_path / "k.json"), str(tmp_path / "k.log")
    killed = _driver([*common, state, log, "--kill-at", "3"], tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert json.loads(Path(state).read_text())["state"]["iteration"] == 3
    resumed = _driver([*common, state, log], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    lines = [json.loads(x) for x in Path(log).read_text().splitlines()]
    # iteration 3 was asked twice (before the kill and after the resume), the same both times
    assert lines[3] == lines[4]
    del lines[3]
    assert lines == [json.loads(x) for x in (tmp_path / "w.log").read_text().splitlines()]


def test_tpe_tells_optuna_the_repaired_architecture() -> None:
    search = make("tpe", default_space("gpt2"), seed=1)
    drive(search, upto=2)
    trials = search._trials  # type: ignore[attr-defined]
    assert trials
    for trial, point in zip(trials, [p for p in search.points], strict=True):
        cfg = point.cfg
        assert trial.params["d_model"] == search.space.d_model.index(cfg.d_model)
        for i in range(cfg.n_layer):
            assert search.space.d_inner[trial.params[f"d_inner_{i}"]] == cfg.d_inner[i]
            assert cfg.d_inner[i] >= search.space.d_inner_bound(cfg.d_model)
        assert f"d_inner_{cfg.n_layer}" not in trial.params


def test_elitist_searches_breed_from_a_bounded_population() -> None:
    search = make("nsga2", default_space("gpt2"), seed=4)
    drive(search, upto=3)
    population = search.population  # type: ignore[attr-defined]
    assert 0 < len(population) <= search.params.population
    assert len(set(population)) == len(population)
    assert {p.arch_id for p in search.points} >= set(population)


def test_seeds_outside_the_space_never_breed() -> None:
    space = default_space("gpt2")
    inside = space.middle()
    outside = inside.replace(n_head=(16,) * inside.n_layer, d_model=1024,
                             d_inner=(2048,) * inside.n_layer)  # fmt: skip
    assert not space.contains(outside)
    for name in ("lts", "lts-elitist", "nsga2", "smsemoa", "smsemoa-crowding"):
        search = make(name, default_space("gpt2"), seeds=[outside], bounds=Bounds())
        while not search.done:
            proposals = search.ask()
            assert all(outside.arch_id not in p.parents for p in proposals)
            outcomes = {p.arch_id: outcome(p.cfg, 0) for p in proposals}
            search.tell({k: v for k, v in outcomes.items() if v is not None})
        assert outside.arch_id in search.seen
