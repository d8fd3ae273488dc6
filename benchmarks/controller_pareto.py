"""Non-dominated sorting and hypervolume of 10,000 points (goal: < 0.1 s together).

Times :func:`controller.pareto.non_dominated` (pymoo), :func:`controller.pareto.hypervolume`
(pymoo, exact) of the front, and the optional lower convex hull (scipy Qhull), on 3-objective
point sets like a search's: ``uniform`` (independent objectives) and ``correlated`` (latency
and memory growing with the proxy, plus noise: the shape measured frontiers have, with far
larger fronts). Prints the median of ``--repeat`` runs.

    python benchmarks/controller_pareto.py [--points 10000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from lts.controller.pareto import hypervolume, lower_convex_hull, non_dominated


def point_sets(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    size = rng.random(n)
    correlated = np.column_stack(
        [
            -size,  # maximise the proxy
            size * (1 + 0.3 * rng.random(n)),  # latency
            0.2 + size * (1 + 0.3 * rng.random(n)),  # memory
        ]
    )
    return {"uniform": rng.random((n, 3)), "correlated": correlated}


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(
        f"{args.points} points, 3 objectives; cores {os.cpu_count()}; load {os.getloadavg()[0]:.2f}"
    )
    head = ("set", "front", "nds s", "hv s", "nds+hv s", "goal", "hull s")
    print("{:<11} {:>6} {:>8} {:>8} {:>9} {:>6} {:>8}".format(*head))
    for name, f in point_sets(args.points, rng).items():
        t_nds, front = timed(lambda f=f: non_dominated(f), args.repeat)
        ref = f.max(axis=0) + 0.1 * np.ptp(f, axis=0)
        t_hv, _ = timed(lambda f=f, front=front, ref=ref: hypervolume(f[front], ref), args.repeat)
        t_hull, _ = timed(lambda f=f: lower_convex_hull(f), args.repeat)
        total = t_nds + t_hv
        verdict = "ok" if total < 0.1 else "MISS"
        print(
            f"{name:<11} {len(front):>6} {t_nds:>8.4f} {t_hv:>8.4f} {total:>9.4f} {verdict:>6} "
            f"{t_hull:>8.4f}"
        )


if __name__ == "__main__":
    main()
