"""The final phase's decisions (pure): what to measure again, and the frontier a finished
search reports, recomputed from the figures it reports."""

from __future__ import annotations

import itertools

import numpy as np

from lts.controller.search.final import (
    Figure,
    comparisons,
    dominated_rows,
    picks,
    plan,
    reported_frontier,
)
from lts.controller.search.final_phase import fitting, pack_batches
from lts.shared.objectives import ObjectiveSet

OBJ = ObjectiveSet()  # params (maximised), latency, memory
QUICK = (0.0, 0.1, 0.0)  # a quick latency is known to 10 %


def flatten(groups: list[tuple[str, ...]]) -> list[str]:
    """A plan's groups, one arch id after the other."""
    return [a for g in groups for a in g]


def fig(a: str, params: float, latency: float, memory: float, **kw: bool) -> Figure:
    return Figure(a, {"params": params, "latency": latency, "memory": memory}, **kw)


def test_the_reported_frontier_is_the_frontier_of_its_figures() -> None:
    figures = [
        fig("a", 10, 1.0, 5.0), fig("b", 20, 2.0, 6.0), fig("c", 15, 2.5, 7.0),  # c: b beats it
        fig("d", 30, 9.0, 9.0, feasible=False), fig("base", 10, 1.5, 5.0, baseline=True),
    ]  # fmt: skip
    assert sorted(reported_frontier(figures, OBJ)) == ["a", "b"]
    # A baseline no member beats is a member: a speed-up below 1 cannot be reported.
    figures[0] = fig("a", 10, 1.6, 5.0)
    assert sorted(reported_frontier(figures, OBJ)) == ["b", "base"]


def test_no_reported_row_is_dominated_whatever_the_figures() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        figures = [fig(f"m{i}", float(rng.integers(1, 20)), float(rng.uniform(1, 10)),
                       float(rng.uniform(1, 10)), feasible=bool(rng.random() < 0.9))
                   for i in range(30)]  # fmt: skip
        members = set(reported_frontier(figures, OBJ))
        rows = [dict(f.values) for f in figures if f.arch_id in members]
        assert dominated_rows(rows, OBJ) == []
        # and every feasible figure off it is dominated by a member
        for f in figures:
            if f.feasible and f.arch_id not in members:
                assert any(dominated_rows([dict(f.values), r], OBJ) == [(0, 1)] for r in rows)


def test_each_baseline_picks_the_fastest_member_at_least_as_large() -> None:
    figures = [
        fig("small", 5, 1.0, 1.0), fig("mid", 12, 2.0, 2.0), fig("big", 30, 3.0, 3.0),
        fig("b1", 4, 2.0, 2.0, baseline=True), fig("b2", 10, 5.0, 5.0, baseline=True),
    ]  # fmt: skip
    members = ["small", "mid", "big"]
    assert picks(figures, members, OBJ) == ["mid", "small"]  # the largest baseline's first
    assert comparisons(figures, members, OBJ) == [("b2", "mid"), ("b1", "small")]
    # A baseline larger than every member has no comparison to quote.
    figures.append(fig("b3", 99, 9.0, 9.0, baseline=True))
    assert comparisons(figures, members, OBJ)[0] == ("b3", None)


def test_a_comparison_measured_quickly_is_one_group_the_largest_first() -> None:
    """Quick baselines (the default protocol measures them as every candidate): each one's
    comparison is measured again as a group, the baseline with its pick, so that a time
    bound takes both figures or neither; the open quick points come after, members first."""
    figures = [
        fig("p-small", 5, 1.0, 1.0, quick=True), fig("p-big", 12, 2.0, 2.0, quick=True),
        fig("b-small", 4, 2.0, 2.0, baseline=True, quick=True),
        fig("b-big", 10, 5.0, 5.0, baseline=True, quick=True),
        fig("b-huge", 50, 9.0, 9.0, baseline=True, quick=True),  # no member is as large
        fig("close1", 20, 3.0, 3.0, quick=True), fig("close2", 20, 3.1, 3.0, quick=True),
    ]  # fmt: skip
    groups = plan(figures, OBJ, QUICK, None)
    assert groups[:3] == [("b-huge",), ("p-big", "b-big"), ("p-small", "b-small")]
    assert {a for g in groups[3:] for a in g} <= {"close1", "close2"} and groups[3:]
    assert flatten(plan(figures, OBJ, QUICK, None)) == [a for g in groups for a in g]
    # The cap bounds the members; the baselines come on top.
    assert plan(figures, OBJ, QUICK, 1) == [("b-huge",), ("p-big", "b-big"), ("b-small",)]


def test_the_plan_has_the_picks_first_then_the_open_quick_points_within_the_cap() -> None:
    figures = [
        fig("sure", 5, 1.0, 1.0, quick=True),  # the fastest: a member for sure
        fig("pick", 12, 2.0, 2.0, quick=True),  # b's pick: the fastest with >= 10 params
        fig("close1", 20, 3.0, 3.0, quick=True),  # close1 and close2 within each other's 10 %
        fig("close2", 20, 3.1, 3.0, quick=True),
        fig("full", 20, 9.0, 9.0),  # measured in full: exact, never measured again
        fig("b", 10, 5.0, 5.0, baseline=True),
    ]
    chosen = flatten(plan(figures, OBJ, QUICK, None))
    assert chosen[0] == "pick"
    assert set(chosen) == {"pick", "close1", "close2"}
    assert flatten(plan(figures, OBJ, QUICK, 1)) == ["pick"]
    # With final settings that differ from the search's, a pick measured in full is measured
    # again too, with its baseline (the comparison rests on final figures).
    exact = [fig("only", 20, 1.0, 1.0), fig("b", 10, 5.0, 5.0, baseline=True)]
    assert flatten(plan(exact, OBJ, QUICK, None)) == []
    assert flatten(plan(exact, OBJ, QUICK, None, all_picks=True)) == ["only", "b"]


def test_a_pick_measured_slower_passes_its_place_to_the_next_one() -> None:
    """Rounds: after its final measurement the pick turned out slower, the baseline's next
    pick is quick: the next round measures it."""
    figures = {f.arch_id: f for f in [
        fig("p1", 12, 1.0, 1.0, quick=True), fig("p2", 15, 1.5, 1.0, quick=True),
        fig("b", 10, 5.0, 5.0, baseline=True),
    ]}  # fmt: skip
    first = flatten(plan(list(figures.values()), OBJ, (0.0, 0.0, 0.0), None))
    assert first == ["p1"]
    figures["p1"] = fig("p1", 12, 2.0, 1.0, final=True)
    assert flatten(plan(list(figures.values()), OBJ, (0.0, 0.0, 0.0), None)) == ["p2"]


def test_four_objectives_and_a_proxy_to_minimise() -> None:
    obj = ObjectiveSet(("params", "latency", "decode_latency", "memory"),
                       proxy_higher_is_better=False)  # fmt: skip
    rows = [{"params": p, "latency": la, "decode_latency": d, "memory": m}
            for p, la, d, m in itertools.product((1, 2), (1, 2), (1, 2), (1, 2))]  # fmt: skip
    figures = [Figure(f"r{i}", r) for i, r in enumerate(rows)]
    assert reported_frontier(figures, obj) == ["r0"]  # all ones: the best in each
    assert len(dominated_rows(rows, obj)) > 0


def test_batches_keep_a_comparison_together_and_stop_at_the_time_left() -> None:
    groups = [("b-huge",), ("p-big", "b-big"), ("p-small", "b-small"), ("c1",), ("c2",)]
    # First fit: a slot the next comparison cannot share goes to a later single.
    assert pack_batches(groups, 2) == [("b-huge", "c1"), ("p-big", "b-big"),
                                       ("p-small", "b-small"), ("c2",)]  # fmt: skip
    assert pack_batches(groups, 1) == [("b-huge",), ("p-big", "b-big"), ("p-small", "b-small"),
                                       ("c1",), ("c2",)]  # fmt: skip
    assert pack_batches(groups, 3) == [("b-huge", "p-big", "b-big"), ("p-small", "b-small", "c1"),
                                       ("c2",)]  # fmt: skip
    assert fitting([3.0, 2.0, 4.0], None) == 3
    assert fitting([3.0, 2.0, 4.0], 5.0) == 2  # 3 + 2 fit, + 4 does not
    assert fitting([3.0, 2.0, 4.0], 2.9) == 0
    assert fitting([], 1.0) == 0


def test_the_largest_comparison_is_settled_before_the_next_one() -> None:
    """Planned again after each batch: the largest baseline's pick measured slower gives way to
    its next pick, which comes before the smaller baseline's comparison."""
    figures = {f.arch_id: f for f in [
        fig("p1", 12, 1.0, 1.0, quick=True), fig("p2", 15, 1.5, 1.0, quick=True),
        fig("small", 5, 0.5, 0.5, quick=True),
        fig("b", 10, 5.0, 5.0, baseline=True, quick=True),
        fig("b0", 4, 2.0, 2.0, baseline=True, quick=True),
    ]}  # fmt: skip
    zero = (0.0, 0.0, 0.0)
    assert plan(list(figures.values()), OBJ, zero, None)[:2] == [("p1", "b"), ("small", "b0")]
    figures["p1"] = fig("p1", 12, 2.0, 1.0, final=True)  # slower in full
    figures["b"] = fig("b", 10, 5.0, 5.0, baseline=True, final=True)
    assert plan(list(figures.values()), OBJ, zero, None)[0] == ("p2",)
