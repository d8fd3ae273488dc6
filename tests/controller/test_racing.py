"""The screening and racing decisions (pure)."""

from __future__ import annotations

from lts.controller.search.racing import Estimate, dominates, screen, to_refine


def est(a: str, proxy: float, lat: float, mem: float, u_lat: float = 0.0, u_mem: float = 0.0):
    return Estimate(a, proxy, lat, mem, u_lat, u_mem)


def test_domination_compares_the_rival_at_its_worst_with_the_target_at_its_best() -> None:
    member = est("m", 10.0, 100.0, 50.0)
    # 20% slower, same memory, fewer params: dominated at the point...
    assert dominates(member, est("c", 9.0, 120.0, 50.0), True)
    # ...but not once its 20% uncertainty lets it be as fast.
    assert not dominates(member, est("c", 9.0, 120.0, 50.0, u_lat=0.2), True)
    # A rival with uncertainty counts at its worst end.
    assert not dominates(est("m", 10.0, 100.0, 50.0, u_lat=0.25), est("c", 9.0, 120.0, 50.0), True)
    # Equal in everything: not dominated; itself: never.
    assert not dominates(member, est("c", 10.0, 100.0, 50.0), True)
    assert not dominates(member, member, True)


def test_the_proxy_direction_is_respected() -> None:
    a, b = est("a", 5.0, 100.0, 50.0), est("b", 6.0, 100.0, 50.0)
    assert dominates(b, a, True) and not dominates(a, b, True)
    assert dominates(a, b, False) and not dominates(b, a, False)


def test_screen_keeps_what_the_margin_could_bring_onto_the_frontier() -> None:
    frontier = [est("f1", 10.0, 100.0, 50.0), est("f2", 20.0, 200.0, 90.0)]
    far = est("far", 9.0, 150.0, 60.0, 0.1, 0.05)  # 150 * 0.9 = 135 > 100: dominated anyway
    near = est("near", 9.0, 105.0, 50.0, 0.1, 0.05)  # 105 * 0.9 < 100: may be faster
    bigger = est("big", 25.0, 400.0, 200.0, 0.1, 0.05)  # more params than any member
    assert screen([far, near, bigger], frontier, True) == {"far"}
    assert screen([far], [], True) == set()


def test_to_refine_settles_only_what_is_dominated_for_sure() -> None:
    settled = [est("s", 10.0, 100.0, 50.0)]
    pending = [
        est("fast", 10.0, 90.0, 50.0, 0.05),  # may beat s: refine
        est("slow", 9.0, 130.0, 50.0, 0.05),  # 123.5 at best > 100: settled
        est("close", 9.0, 95.0, 50.0, 0.05),  # 90.25 at best: below s and fast's worst 94.5
        est("shadow", 8.0, 200.0, 60.0, 0.05),  # dominated by 'fast' even at fast's worst
    ]
    assert to_refine(pending, [*settled, *pending], True) == {"fast", "close"}
    # Without rivals every pending candidate may be on the frontier.
    assert to_refine(pending, [], True) == {"fast", "slow", "close", "shadow"}
