"""The ask/tell search on a fake evaluator: determinism, bounds, no repeats, correct frontier."""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from itertools import pairwise

import numpy as np
import pytest

from lts.controller.pareto import lower_convex_hull, non_dominated
from lts.controller.proxies import get_proxy
from lts.controller.search.algorithms import (
    Bounds,
    LTSSearch,
    Outcome,
    Proposal,
    SearchParams,
)
from lts.controller.search.algorithms.random_search import RandomSearch
from lts.controller.search.breeding import SPREAD_OVERSAMPLE, Breeder, parent_weights
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError
from lts.shared.params import count_params, decoder_params
from lts.shared.space import SearchSpace

SPACE = SearchSpace(
    backbone="gpt2",
    n_layer=(1, 2, 3, 4),
    d_model=(64, 96, 128),
    d_embed=(64, 128),
    div_val=(1, 2),
    n_head=(2, 4),
    d_inner=tuple(range(128, 513, 64)),
    n_token=1000,
    cutoffs=(200, 500),
)
SMALL = SearchParams(iterations=6, population=24, parents=6, mutation_prob=0.3)


def fake_measure(cfg: ArchConfig) -> Outcome:
    """Latency and memory that grow with size, plus deterministic per-architecture noise."""
    counts = count_params(cfg)
    noise = int(hashlib.sha256(cfg.arch_id.encode()).hexdigest()[:8], 16) / 2**32
    latency = 0.2 + counts.decoder / 2e5 * (0.8 + 0.4 * noise) + 0.05 * cfg.n_layer
    memory = 4.0 + counts.total * 4 / 2**20 * (0.9 + 0.2 * (1 - noise))
    return Outcome({"latency": latency, "memory": memory})


def run(
    seed: int,
    params: SearchParams = SMALL,
    bounds: Bounds | None = None,
    fail: set[str] | None = None,
    seeds: tuple[ArchConfig, ...] = (),
) -> tuple[LTSSearch, list[list[Proposal]]]:
    algo = LTSSearch(SPACE, params, np.random.default_rng(seed), bounds=bounds, seeds=seeds)
    asked = []
    while not algo.done:
        proposals = algo.ask()
        asked.append(proposals)
        outcomes = {
            p.arch_id: Outcome(None, "boom")
            if fail and p.arch_id in fail
            else fake_measure(p.cfg)
            for p in proposals
        }
        algo.tell(outcomes)
    return algo, asked


def _ids(asked: list[list[Proposal]]) -> list[list[str]]:
    return [[p.arch_id for p in it] for it in asked]


def test_same_seed_same_candidates() -> None:
    _, a = run(3)
    _, b = run(3)
    _, c = run(4)
    assert _ids(a) == _ids(b)
    assert _ids(a) != _ids(c)


def test_population_composition_and_origins() -> None:
    algo, asked = run(0)
    assert len(asked[0]) == SMALL.population
    assert {p.origin for p in asked[0]} == {"random"}
    for proposals in asked[1:]:
        kinds = Counter(p.origin for p in proposals)
        assert len(proposals) <= SMALL.population - SMALL.parents
        assert kinds["mutation"] <= SMALL.mutations and kinds["crossover"] <= SMALL.crossovers
        for p in proposals:
            assert len(p.parents) == {"mutation": 1, "crossover": 2, "random": 0}[p.origin]
    assert algo.iteration == SMALL.iterations


def test_parents_come_from_the_frontier() -> None:
    algo = LTSSearch(SPACE, SMALL, np.random.default_rng(1))
    algo.tell({p.arch_id: fake_measure(p.cfg) for p in algo.ask()})
    for _ in range(3):
        front = {p.arch_id for p in algo.frontier()}
        proposals = algo.ask()
        for p in proposals:
            assert set(p.parents) <= front
        algo.tell({p.arch_id: fake_measure(p.cfg) for p in proposals})


def test_no_candidate_is_proposed_twice() -> None:
    _, asked = run(5, SearchParams(iterations=10, population=30, parents=8))
    ids = [i for it in _ids(asked) for i in it]
    assert len(ids) == len(set(ids))
    assert all(SPACE.contains(p.cfg) for it in asked for p in it)


def test_bounds_are_respected() -> None:
    bounds = Bounds({"latency": 2.0, "memory": 5.0}, min_params=50_000, max_params=400_000)
    algo, asked = run(2, bounds=bounds)
    for it in asked:
        for p in it:  # the parameter bound holds before measuring: never even proposed
            assert 50_000 <= decoder_params(p.cfg) <= 400_000
    assert algo.frontier()
    for point in algo.frontier():
        assert point.values["latency"] <= 2.0 and point.values["memory"] <= 5.0
    assert any(not p.feasible for p in algo.points)  # the bound did exclude some


def test_frontier_equals_brute_force() -> None:
    algo, _ = run(7)
    feasible = [p for p in algo.points if p.feasible]
    f = [(-p.proxy, p.values["latency"], p.values["memory"]) for p in feasible]
    expected = set()
    for i, a in enumerate(f):
        if not any(
            all(x <= y for x, y in zip(b, a, strict=True)) and b != a
            for j, b in enumerate(f)
            if j != i
        ):
            expected.add(feasible[i].arch_id)
    assert {p.arch_id for p in algo.frontier()} == expected
    assert {feasible[i].arch_id for i in non_dominated(np.array(f))} == expected


def test_hypervolume_never_decreases() -> None:
    algo = LTSSearch(SPACE, SMALL, np.random.default_rng(9))
    hvs = []
    while not algo.done:
        report = algo.tell({p.arch_id: fake_measure(p.cfg) for p in algo.ask()})
        hvs.append(report.hypervolume)
    assert all(h is not None for h in hvs)
    assert all(b >= a - 1e-12 for a, b in pairwise(hvs))
    assert hvs[-1] > hvs[0]


def test_failures_are_seen_but_never_on_the_frontier() -> None:
    first = LTSSearch(SPACE, SMALL, np.random.default_rng(11)).ask()
    fail = {p.arch_id for p in first[::2]}
    algo, asked = run(11, fail=fail)
    assert not fail & {p.arch_id for p in algo.points}
    later = {p.arch_id for it in asked[1:] for p in it}
    assert not fail & later  # a failed candidate is not proposed again


def test_resume_from_state_gives_the_same_run() -> None:
    full, asked_full = run(21)
    algo = LTSSearch(SPACE, SMALL, np.random.default_rng(21))
    history = []
    for _ in range(3):
        proposals = algo.ask()
        outcomes = {p.arch_id: fake_measure(p.cfg) for p in proposals}
        history += [(algo.iteration, p, outcomes[p.arch_id]) for p in proposals]
        algo.tell(outcomes)
    state = algo.state_dict()
    resumed = LTSSearch(SPACE, SMALL, np.random.default_rng(12345))  # state overrides the seed
    resumed.load_state(state, history)
    rest = []
    while not resumed.done:
        proposals = resumed.ask()
        rest.append(proposals)
        resumed.tell({p.arch_id: fake_measure(p.cfg) for p in proposals})
    assert _ids(rest) == _ids(asked_full[3:])
    assert [p.arch_id for p in resumed.frontier()] == [p.arch_id for p in full.frontier()]
    assert resumed.hypervolume == pytest.approx(full.hypervolume)


def _layered(n_layer: int, d_model: int = 96, d_inner: int = 256) -> ArchConfig:
    """A homogeneous architecture like a layer-scaled baseline (in SPACE unless its d_model
    or d_inner is not)."""
    return ArchConfig.from_dict({
        "backbone": "gpt2", "n_layer": n_layer, "d_model": d_model, "n_head": 2,
        "d_inner": d_inner, "d_embed": 64, "div_val": 1, "n_token": 1000, "cutoffs": [200, 500],
    })  # fmt: skip


SEEDS = (_layered(1), _layered(2), _layered(3))
#: Outside SPACE (d_model 256, d_inner 1024) and the largest of all: always on the frontier.
HUGE = _layered(4, d_model=256, d_inner=1024)


def test_seeds_open_iteration_0_and_count_in_its_population() -> None:
    assert all(SPACE.contains(cfg) for cfg in SEEDS) and not SPACE.contains(HUGE)
    algo, asked = run(0, seeds=(*SEEDS, SEEDS[0], HUGE))  # a repeated seed counts once
    first = asked[0]
    assert [p.cfg for p in first[:4]] == [*SEEDS, HUGE]
    assert [p.origin for p in first] == ["baseline"] * 4 + ["random"] * (SMALL.population - 4)
    assert len({p.arch_id for p in first}) == len(first) == SMALL.population
    assert all(p.origin != "baseline" for it in asked[1:] for p in it)
    assert {p.arch_id for p in first[:4]} <= {p.arch_id for p in algo.points}


@pytest.mark.parametrize("start", ["spread", "uniform"])
def test_seeds_draw_nothing_from_the_generator(start: str) -> None:
    # Seeds that no random architecture can equal (outside the space) leave the random
    # draws as they were: the seeded iteration 0 is the seeds, then the start's fill of the
    # rest from the same generator state.
    params = dataclasses.replace(SMALL, start=start)
    seeded = LTSSearch(SPACE, params, np.random.default_rng(7), seeds=[HUGE]).ask()
    breeder = Breeder(SPACE, params, np.random.default_rng(7), Bounds())
    fill = breeder.spread if start == "spread" else breeder.random
    rest = fill(params.population - 1, set(), set())
    assert [p.arch_id for p in seeded] == [HUGE.arch_id] + [p.arch_id for p in rest]
    plain = LTSSearch(SPACE, params, np.random.default_rng(7)).ask()
    if start == "uniform":  # a uniform fill of n - 1 is the first n - 1 of a fill of n
        assert [p.arch_id for p in rest] == [p.arch_id for p in plain[:-1]]


def _log_size(proposals: list[Proposal]) -> np.ndarray:
    return np.log([float(decoder_params(p.cfg)) for p in proposals])


def test_the_spread_start_keeps_the_extremes_of_its_draws_and_spreads_between_them() -> None:
    n = SMALL.population
    spread = LTSSearch(SPACE, SMALL, np.random.default_rng(3)).ask()
    pool = Breeder(SPACE, SMALL, np.random.default_rng(3), Bounds())._sample(
        n * SPREAD_OVERSAMPLE, n * SMALL.tries_per_child, set(), set()
    )
    uniform = pool[:n]  # what --start uniform proposes from the same generator state
    assert len({p.arch_id for p in spread}) == n
    assert {p.arch_id for p in spread} <= {p.arch_id for p in pool}
    assert all(p.origin == "random" and SPACE.contains(p.cfg) for p in spread)
    size, drawn = _log_size(spread), _log_size(pool)
    assert size.min() == drawn.min() and size.max() == drawn.max()
    assert list(size) == sorted(size)  # in the order of their targets
    # Evenly spread: the widest gap between neighbours is far below the uniform sample's.
    assert np.diff(size).max() < 0.5 * np.diff(np.sort(_log_size(uniform))).max()


def test_the_spread_start_respects_the_parameter_bounds() -> None:
    lo, hi = 60_000, 200_000
    params = dataclasses.replace(SMALL, iterations=1)
    _, asked = run(5, params, bounds=Bounds(min_params=lo, max_params=hi))
    sizes = [decoder_params(p.cfg) for p in asked[0]]
    assert len(sizes) == SMALL.population and all(lo <= s <= hi for s in sizes)


def test_random_search_samples_uniformly_whatever_the_start() -> None:
    asked = {
        start: RandomSearch(
            SPACE, dataclasses.replace(SMALL, start=start), np.random.default_rng(11)
        ).ask()
        for start in ("spread", "uniform")
    }
    assert [p.arch_id for p in asked["spread"]] == [p.arch_id for p in asked["uniform"]]


def test_an_unknown_start_is_refused_by_name() -> None:
    with pytest.raises(ConfigError) as err:
        SearchParams(start="sobol")
    assert err.value.field == "start"


def test_a_seed_outside_the_space_may_lead_the_frontier_but_never_breeds() -> None:
    algo, asked = run(3, seeds=(HUGE,))  # mutating it would raise: it is never a parent
    assert HUGE.arch_id in {p.arch_id for p in algo.frontier()}
    assert all(HUGE.arch_id not in p.parents for it in asked for p in it)
    assert all(SPACE.contains(p.cfg) for it in asked[1:] for p in it)


def test_seeds_in_the_space_breed_like_any_member() -> None:
    # The seeds join the frontier at iteration 0 and are chosen there as any member is (6
    # parents of about 23 per iteration); with this generator state, under the uniform start
    # all three are chosen before better points displace them (under the spread start, with
    # other draws, two are not: chance, not a rule).
    _, asked = run(0, dataclasses.replace(SMALL, start="uniform"), seeds=SEEDS)
    parents = {a for it in asked[1:] for p in it for a in p.parents}
    assert {cfg.arch_id for cfg in SEEDS} <= parents


def test_seeds_outside_the_parameter_bounds_are_dropped_and_failed_ones_told() -> None:
    bounds = Bounds(max_params=decoder_params(SEEDS[1]))
    algo, asked = run(5, bounds=bounds, seeds=(*SEEDS, HUGE), fail={SEEDS[0].arch_id})
    assert [p.cfg for p in asked[0] if p.origin == "baseline"] == list(SEEDS[:2])
    told = {p.arch_id for p in algo.points}
    assert SEEDS[1].arch_id in told and SEEDS[0].arch_id not in told  # failed: not a point
    assert SEEDS[0].arch_id in algo.seen and HUGE.arch_id not in algo.seen


def test_a_seeded_search_resumes_the_same() -> None:
    full, asked_full = run(21, seeds=SEEDS)
    algo = LTSSearch(SPACE, SMALL, np.random.default_rng(21), seeds=SEEDS)
    history = []
    for _ in range(2):
        proposals = algo.ask()
        outcomes = {p.arch_id: fake_measure(p.cfg) for p in proposals}
        history += [(algo.iteration, p, outcomes[p.arch_id]) for p in proposals]
        algo.tell(outcomes)
    resumed = LTSSearch(SPACE, SMALL, np.random.default_rng(0))  # the seeds are in the history
    resumed.load_state(algo.state_dict(), history)
    rest = []
    while not resumed.done:
        proposals = resumed.ask()
        rest.append(proposals)
        resumed.tell({p.arch_id: fake_measure(p.cfg) for p in proposals})
    assert _ids(rest) == _ids(asked_full[2:])
    assert [p.arch_id for p in resumed.frontier()] == [p.arch_id for p in full.frontier()]


def test_less_chosen_parents_are_favoured() -> None:
    w = parent_weights([0, 3, 6, 6])
    assert w.sum() == pytest.approx(1.0)
    assert w[0] > w[1] > w[2] == w[3]
    assert w[0] == pytest.approx(2 * w[2])  # the paper's 1 / (1 + scaled count)
    assert parent_weights([4, 4, 4]).tolist() == pytest.approx([1 / 3] * 3)
    # Over many draws, parents spread over the frontier: each member chosen, none twice in one go.
    algo = LTSSearch(SPACE, SearchParams(population=40, parents=3), np.random.default_rng(0))
    algo.tell({p.arch_id: fake_measure(p.cfg) for p in algo.ask()})
    front = {p.arch_id for p in algo.frontier()}
    for _ in range(10 * len(front)):
        chosen = [c.arch_id for c in algo.select_parents()]
        assert len(set(chosen)) == len(chosen) == 3 and set(chosen) <= front
    counts = algo.state_dict()["chosen"]
    assert set(counts) == front


def test_convex_frontier_is_the_supported_part_of_the_front() -> None:
    convex, _ = run(13, SearchParams(**{**SMALL.__dict__, "frontier": "convex"}))
    feasible = [p for p in convex.points if p.feasible]
    f = np.array([(-p.proxy, p.values["latency"], p.values["memory"]) for p in feasible])
    hull = {feasible[i].arch_id for i in lower_convex_hull(f)}
    front = {feasible[i].arch_id for i in non_dominated(f)}
    assert {p.arch_id for p in convex.frontier()} == hull
    assert hull and hull <= front


def test_misuse_is_refused() -> None:
    algo = LTSSearch(SPACE, SMALL, np.random.default_rng(0))
    with pytest.raises(RuntimeError):
        algo.tell({})
    algo.ask()
    with pytest.raises(RuntimeError):
        algo.ask()
    with pytest.raises(RuntimeError):
        algo.state_dict()
    with pytest.raises(ConfigError):
        SearchParams(population=10, parents=10)
    with pytest.raises(ConfigError):
        Bounds(min_params=10, max_params=5)


def test_proxy_is_pluggable() -> None:
    total = get_proxy("total_params")
    algo = LTSSearch(SPACE, SMALL, np.random.default_rng(0), proxy=total)
    proposals = algo.ask()
    algo.tell({p.arch_id: fake_measure(p.cfg) for p in proposals})
    assert all(p.proxy == count_params(p.cfg).total for p in algo.points)
