"""Pareto frontiers and hypervolume: thin wrappers over pymoo (and scipy for the hull).

Every function takes objective vectors to **minimise**, one row per point (negate an
objective to maximise it), and returns plain numpy values. Rows must be finite; filter
failed or infeasible points out before calling.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike, NDArray

logger = logging.getLogger(__name__)

FRONTIER_KINDS: tuple[str, ...] = ("pareto", "convex")


def _as_points(points: ArrayLike) -> NDArray[np.float64]:
    f = np.asarray(points, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"points must be a 2-D array (n, objectives), got shape {f.shape}")
    if f.size and not np.isfinite(f).all():
        raise ValueError("points must be finite")
    return f


def non_dominated(points: ArrayLike) -> NDArray[np.intp]:
    """Indices (ascending) of the points that no other point dominates.

    ``a`` dominates ``b`` when ``a <= b`` in every objective and ``a < b`` in one; equal points
    do not dominate each other, so duplicates on the frontier are all kept. pymoo's
    non-dominated sorting does the work.
    """
    f = _as_points(points)
    if len(f) <= 1:
        return np.arange(len(f), dtype=np.intp)
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    front = NonDominatedSorting().do(f, only_non_dominated_front=True)
    return np.sort(np.asarray(front, dtype=np.intp))


def lower_convex_hull(points: ArrayLike) -> NDArray[np.intp]:
    """Indices (ascending) of the non-dominated points on the lower convex hull.

    The paper's variant of the frontier: only *supported* points are kept, those that minimise
    some non-negative weighting of the objectives; a non-dominated point in a concave dent of
    the front (beaten by a mixture of its neighbours on every weighting) is left out.
    Objectives are scaled to [0, 1] first so that units do not matter. The supported points
    are the vertices of the front plus the positive orthant, found as the vertices of scipy's
    (Qhull) hull of the points and their copies shifted by ``n_objectives + 1`` along each
    axis (enough to stand in for the orthant's rays in the unit box). With too few points, or
    if Qhull fails, every non-dominated point is kept.
    """
    f = _as_points(points)
    front = non_dominated(f)
    n_obj = f.shape[1]
    if len(front) <= 2 or n_obj < 2:
        return front
    from scipy.spatial import ConvexHull, QhullError

    sub = f[front]
    lo, span = sub.min(axis=0), np.ptp(sub, axis=0)
    span[span == 0] = 1.0
    unique, inverse = np.unique((sub - lo) / span, axis=0, return_inverse=True)
    shift = float(n_obj + 1)
    cloud = np.vstack([unique] + [unique + shift * np.eye(n_obj)[k] for k in range(n_obj)])
    try:
        hull = ConvexHull(cloud)
    except (QhullError, ValueError) as exc:
        logger.debug("convex hull failed (%s); keeping the whole non-dominated front", exc)
        return front
    vertices = np.zeros(len(unique), dtype=bool)
    vertices[hull.vertices[hull.vertices < len(unique)]] = True
    return np.sort(front[vertices[inverse.ravel()]])


def objectives(
    rows: Iterable[tuple[float, float, float]], higher_is_better: bool
) -> NDArray[np.float64]:
    """The search's objective vectors to minimise, one per ``(proxy score, latency, peak
    memory)`` row: the score negated when a higher one is better. The search algorithm and
    the report both make their frontier of these (one meaning of "the frontier")."""
    sign = -1.0 if higher_is_better else 1.0
    f = [[sign * score, latency, memory] for score, latency, memory in rows]
    return np.array(f, dtype=np.float64).reshape(len(f), 3)


def frontier(points: ArrayLike, kind: str = "pareto") -> NDArray[np.intp]:
    """The frontier of ``kind`` (``pareto``: non-dominated; ``convex``: lower convex hull)."""
    if kind == "pareto":
        return non_dominated(points)
    if kind == "convex":
        return lower_convex_hull(points)
    raise ValueError(f"unknown frontier kind {kind!r}; choose from {', '.join(FRONTIER_KINDS)}")


def hypervolume(points: ArrayLike, reference: ArrayLike) -> float:
    """The volume dominated by ``points`` and bounded by ``reference`` (pymoo's exact HV).

    Points that do not strictly dominate the reference add nothing. An empty set has volume 0.
    """
    f = _as_points(points)
    ref = np.asarray(reference, dtype=np.float64)
    if f.size == 0:
        return 0.0
    if ref.shape != (f.shape[1],):
        raise ValueError(f"reference must have {f.shape[1]} values, got shape {ref.shape}")
    inside = f[(f < ref).all(axis=1)]
    if len(inside) == 0:
        return 0.0
    from pymoo.indicators.hv import HV

    return float(HV(ref_point=ref)(inside))
