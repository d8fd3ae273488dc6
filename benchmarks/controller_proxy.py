"""The perplexity proxy for 100,000 candidates (goal: < 2 s).

Samples candidates from the paper's default space of each backbone (timed separately: the
search samples them anyway), then times the default proxy (``decoder_params``, through the
registry the search uses) over all of them, and the search's other per-candidate check before
measuring (space membership + parameter bound).

    python benchmarks/controller_proxy.py [--candidates 100000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from lts.controller.proxies import DEFAULT_PROXY, get_proxy
from lts.controller.search.operators import sample
from lts.shared.params import decoder_params
from lts.shared.space import default_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=100_000)
    args = parser.parse_args()
    proxy = get_proxy(DEFAULT_PROXY)
    print(f"proxy {proxy.name}; cores {os.cpu_count()}; load {os.getloadavg()[0]:.2f}")
    print(f"{'backbone':<9} {'n':>8} {'sample s':>9} {'proxy s':>8} {'goal':>5} {'check s':>8}")
    for backbone in ("gpt2", "transxl"):
        space = default_space(backbone)
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        cfgs = [sample(space, rng) for _ in range(args.candidates)]
        t_sample = time.perf_counter() - t0
        t0 = time.perf_counter()
        scores = [proxy(c) for c in cfgs]
        t_proxy = time.perf_counter() - t0
        t0 = time.perf_counter()
        ok = sum(space.contains(c) and decoder_params(c) <= 10**9 for c in cfgs)
        t_check = time.perf_counter() - t0
        assert len(scores) == ok == args.candidates
        verdict = "ok" if t_proxy < 2.0 else "MISS"
        print(
            f"{backbone:<9} {args.candidates:>8} {t_sample:>9.2f} {t_proxy:>8.3f} {verdict:>5} "
            f"{t_check:>8.2f}"
        )


if __name__ == "__main__":
    main()
