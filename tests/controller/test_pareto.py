"""Frontier and hypervolume wrappers against brute force and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from lts.controller.pareto import (
    frontier,
    hypervolume,
    lower_convex_hull,
    non_dominated,
    objectives,
)


def _brute_force(f: np.ndarray) -> list[int]:
    keep = []
    for i, a in enumerate(f):
        dominated = any((b <= a).all() and (b < a).any() for j, b in enumerate(f) if j != i)
        if not dominated:
            keep.append(i)
    return keep


@pytest.mark.parametrize("seed", range(5))
def test_non_dominated_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    f = rng.integers(0, 6, size=(120, 3)).astype(float)  # many ties and duplicates
    assert non_dominated(f).tolist() == _brute_force(f)


def test_small_cases() -> None:
    assert non_dominated(np.empty((0, 3))).tolist() == []
    assert non_dominated([[1.0, 2.0, 3.0]]).tolist() == [0]
    f = [[1, 5], [2, 2], [5, 1], [3, 3], [2, 2]]
    assert non_dominated(f).tolist() == [0, 1, 2, 4]
    with pytest.raises(ValueError):
        non_dominated([[1.0, np.nan]])
    with pytest.raises(ValueError):
        frontier([[1.0, 2.0]], "best")


def test_lower_convex_hull_drops_concave_points() -> None:
    # (2, 2.9) is non-dominated but lies above the segment from (1, 3) to (3, 1).
    f = np.array([[1.0, 3.0], [2.0, 2.9], [3.0, 1.0], [1.5, 1.5]])
    assert non_dominated(f).tolist() == [0, 2, 3]
    f2 = np.array([[1.0, 3.0], [2.0, 2.9], [3.0, 1.0]])
    assert non_dominated(f2).tolist() == [0, 1, 2]
    assert lower_convex_hull(f2).tolist() == [0, 2]
    assert frontier(f2, "convex").tolist() == [0, 2]


def test_lower_convex_hull_is_a_subset_of_the_front_in_3d() -> None:
    rng = np.random.default_rng(1)
    f = rng.random((300, 3))
    front = set(non_dominated(f).tolist())
    hull = set(lower_convex_hull(f).tolist())
    assert hull and hull <= front
    # The best point of each objective is always supported.
    for k in range(3):
        best = int(np.argmin(f[:, k]))
        if best in front:
            assert best in hull


def test_hypervolume_hand_values() -> None:
    ref = np.ones(3)
    assert hypervolume([[0.5, 0.5, 0.5]], ref) == pytest.approx(0.125)
    two = [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]]
    assert hypervolume(two, ref) == pytest.approx(0.25 + 0.25 - 0.125)
    assert hypervolume([[1.5, 0.0, 0.0]], ref) == 0.0  # outside the reference box
    assert hypervolume(np.empty((0, 3)), ref) == 0.0
    with pytest.raises(ValueError):
        hypervolume([[0.5, 0.5]], ref)


def test_objectives_negate_a_score_that_is_better_higher() -> None:
    rows = [(100.0, 2.0, 8.0), (50.0, 1.0, 4.0)]
    assert objectives(rows, higher_is_better=True).tolist() == [[-100.0, 2.0, 8.0],
                                                                [-50.0, 1.0, 4.0]]  # fmt: skip
    assert objectives(rows, higher_is_better=False).tolist() == [list(r) for r in rows]
    # Bigger and slower is on the frontier when the score is better higher, not otherwise.
    assert frontier(objectives(rows, higher_is_better=True)).tolist() == [0, 1]
    assert frontier(objectives(rows, higher_is_better=False)).tolist() == [1]
    assert objectives([], higher_is_better=True).shape == (0, 3)
