"""Benchmark: exact parameter counting of 100,000 random architectures (goal: under 2 s).

Samples N architectures of the default (heterogeneous) GPT-2 space with a seeded generator,
then times :func:`shared.params.count_params` over all of them. Sampling is timed separately
(it builds and validates every :class:`~shared.config.ArchConfig`). Run from the repository
root::

    python benchmarks/params_count.py [--n 100000] [--seed 0] [--backbone gpt2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from lts.controller.search.operators import sample
from lts.shared.backbones import backbone_names
from lts.shared.params import count_params
from lts.shared.space import default_space

GOAL_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="architectures to count")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling generator")
    parser.add_argument("--backbone", choices=backbone_names(), default="gpt2")
    parser.add_argument("--repeat", type=int, default=3, help="counting passes (best is shown)")
    args = parser.parse_args()

    space = default_space(args.backbone)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    configs = [sample(space, rng) for _ in range(args.n)]
    sample_s = time.perf_counter() - start

    count_s = float("inf")
    total = 0
    for _ in range(max(1, args.repeat)):
        start = time.perf_counter()
        counts = [count_params(cfg) for cfg in configs]
        count_s = min(count_s, time.perf_counter() - start)
        total = sum(c.decoder for c in counts)

    print(f"python {platform.python_version()} on {platform.machine()}, {args.backbone} space")
    print(f"sampling: {args.n:,} architectures in {sample_s:.3f} s ({args.n / sample_s:,.0f}/s)")
    print(
        f"counting: {args.n:,} architectures in {count_s:.3f} s ({args.n / count_s:,.0f}/s, "
        f"{count_s / args.n * 1e6:.1f} us each; best of {max(1, args.repeat)})"
    )
    print(f"mean decoder parameters: {total / args.n:,.0f}")
    verdict = "met" if count_s < GOAL_S * args.n / 100_000 else "NOT met"
    print(f"goal (100,000 in under {GOAL_S:g} s): {verdict}")


if __name__ == "__main__":
    main()
