"""Build and run the smallest, a middle and the largest architecture of the default space.

Prints, per architecture: parameter counts, build time (random init, and constant init on the
meta device then materialised, as the agent measures), and the median forward time (1 thread,
batch 1, sequence 192) for the last-position output (the default) and all positions.

    python benchmarks/build_forward.py [--backbone gpt2|transxl] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from lts.shared.backbones import backbone_names
from lts.shared.models import build_model
from lts.shared.params import count_params
from lts.shared.space import default_space


def _time(fn, runs: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="gpt2", choices=backbone_names())
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = default_space(args.backbone)
    idx = torch.randint(0, space.n_token, (1, 192), generator=torch.Generator().manual_seed(0))
    print(f"backbone {args.backbone}, torch {torch.__version__}, 1 thread, batch 1, seq 192, "
          f"load average {os.getloadavg()[0]:.2f}")
    header = ("arch", "layers", "d_model", "decoder", "total", "build rnd s", "build const s",
              "fwd last ms", "fwd all ms")
    print("{:<8} {:>6} {:>7} {:>12} {:>12} {:>11} {:>13} {:>11} {:>10}".format(*header))
    for label, cfg in (("smallest", space.smallest()), ("middle", space.middle()),
                       ("largest", space.largest())):
        counts = count_params(cfg)
        t0 = time.perf_counter()
        build_model(cfg, init="random")
        build_random = time.perf_counter() - t0
        t0 = time.perf_counter()
        model = build_model(cfg, init="constant")
        build_const = time.perf_counter() - t0
        with torch.inference_mode():
            last = _time(lambda m=model: m(idx, output="last"), args.runs)
            full = _time(lambda m=model: m(idx, output="all"), args.runs)
        print(f"{label:<8} {cfg.n_layer:>6} {cfg.d_model:>7} {counts.decoder:>12,} "
              f"{counts.total:>12,} {build_random:>11.2f} {build_const:>13.2f} "
              f"{last * 1e3:>11.1f} {full * 1e3:>10.1f}")
        del model


if __name__ == "__main__":
    main()
