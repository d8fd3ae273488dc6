"""The screening and racing decisions (pure)."""

from __future__ import annotations

from lts.controller.search.racing import Estimate, dominates, screen, to_refine


def est(
    a: str, proxy: float, lat: float, mem: float, u_lat: float = 0.0, u_mem: float = 0.0,
    higher_is_better: bool = True,
) -> Estimate:
    """The estimate of (proxy, latency, memory) as the search minimises them."""
    sign = -1.0 if higher_is_better else 1.0
    return Estimate(a, (sign * proxy, lat, mem), (0.0, u_lat, u_mem))


def test_domination_compares_the_rival_at_its_worst_with_the_target_at_its_best() -> None:
    member = est("m", 10.0, 100.0, 50.0)
    # 20% slower, same memory, fewer params: dominated at the point...
    assert dominates(member, est("c", 9.0, 120.0, 50.0))
    # ...but not once its 20% uncertainty lets it be as fast.
    assert not dominates(member, est("c", 9.0, 120.0, 50.0, u_lat=0.2))
    # A rival with uncertainty counts at its worst end.
    assert not dominates(est("m", 10.0, 100.0, 50.0, u_lat=0.25), est("c", 9.0, 120.0, 50.0))
    # Equal in everything: not dominated; itself: never.
    assert not dominates(member, est("c", 10.0, 100.0, 50.0))
    assert not dominates(member, member)


def test_the_proxy_direction_is_respected() -> None:
    a, b = est("a", 5.0, 100.0, 50.0), est("b", 6.0, 100.0, 50.0)
    assert dominates(b, a) and not dominates(a, b)
    lo = {"higher_is_better": False}
    a, b = est("a", 5.0, 100.0, 50.0, **lo), est("b", 6.0, 100.0, 50.0, **lo)
    assert dominates(a, b) and not dominates(b, a)


def test_any_number_of_objectives() -> None:
    """Four objectives (a decode latency too): domination needs every one."""
    a = Estimate("a", (-10.0, 100.0, 5.0, 50.0))
    b = Estimate("b", (-10.0, 100.0, 6.0, 50.0))
    assert dominates(a, b) and not dominates(b, a)
    assert not dominates(a, Estimate("c", (-10.0, 100.0, 6.0, 40.0)))
    assert not dominates(a, Estimate("d", (-10.0, 100.0, 5.2, 50.0), (0.0, 0.0, 0.1, 0.0)))


def test_screen_keeps_what_the_margin_could_bring_onto_the_frontier() -> None:
    frontier = [est("f1", 10.0, 100.0, 50.0), est("f2", 20.0, 200.0, 90.0)]
    far = est("far", 9.0, 150.0, 60.0, 0.1, 0.05)  # 150 * 0.9 = 135 > 100: dominated anyway
    near = est("near", 9.0, 105.0, 50.0, 0.1, 0.05)  # 105 * 0.9 < 100: may be faster
    bigger = est("big", 25.0, 400.0, 200.0, 0.1, 0.05)  # more params than any member
    assert screen([far, near, bigger], frontier) == {"far"}
    assert screen([far], []) == set()


def test_to_refine_settles_sure_members_and_sure_losers() -> None:
    settled = [est("s", 10.0, 100.0, 50.0)]
    pending = [
        est("alone", 30.0, 300.0, 90.0, 0.05),  # nothing near it: a member for sure
        est("slow", 9.0, 130.0, 50.0, 0.05),  # 123.5 at best > 100: out for sure
        est("close", 9.0, 98.0, 50.0, 0.05),  # s could dominate it (98 * 1.05 > 100): open
        est("rival", 10.0, 97.0, 50.0, 0.05),  # could dominate s (92.15 < 100): s is open
        est("shadow", 8.0, 200.0, 60.0, 0.05),  # out for sure (s dominates it)
    ]
    # close's membership is open (s and rival could dominate it): close and rival refined;
    # s's membership is open because of rival (already refined).
    assert to_refine(pending, [*settled, *pending]) == {"close", "rival"}
    # Alone, every pending point is a member for sure.
    assert to_refine(pending[:1], pending[:1]) == set()
    # Nothing uncertain, nothing to refine.
    exact = [est("a", 1.0, 10.0, 10.0), est("b", 2.0, 20.0, 20.0)]
    assert to_refine([], exact) == set()
