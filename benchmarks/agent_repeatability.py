"""(b) Repeatability: two independent passes over random architectures of the default space.

Samples N architectures (default 30) with a seeded generator, measures every one twice, each
pass with its own fresh :class:`agent.measure.Measurer` (new helper processes) and the second
pass in reverse order, and prints the Spearman correlation of the median latencies between the
passes (goal >= 0.99), the median coefficient of variation of all measurements (goal <= 3%),
and the median / largest relative difference of the medians.

``--parallel`` also runs two Measurers at once, each pinned to its own core (cores 0 and 1),
one per pass, and compares those medians with the sequential ones: if the two slots disturbed
each other, their medians would move (and the Spearman between the slots would drop).

    python benchmarks/agent_repeatability.py [--quick] [--archs 30] [--parallel]
        [--runtime torch] [--seq-len 192] [--budget 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

import numpy as np

from lts.agent.measure import Measurer
from lts.controller.search.operators import sample
from lts.shared.config import ArchConfig
from lts.shared.schemas import MeasurementResult, MeasureSettings
from lts.shared.space import default_space


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman rank correlation (no ties expected among float medians)."""
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def run_pass(
    archs: list[ArchConfig], settings: MeasureSettings, cpus: list[int] | None, reverse: bool
) -> dict[str, MeasurementResult]:
    """Measure every arch with a fresh Measurer; results by arch id."""
    out: dict[str, MeasurementResult] = {}
    order = list(reversed(archs)) if reverse else archs
    with Measurer(cpus=cpus) as m:
        m.start(memory=settings.measure_memory)
        for cfg in order:
            out[cfg.arch_id] = m.measure(cfg, settings)
    return out


def summarise(label: str, archs: list[ArchConfig], a: dict, b: dict) -> None:
    ma = [a[c.arch_id].latency_ms.median for c in archs]
    mb = [b[c.arch_id].latency_ms.median for c in archs]
    cvs = [r.latency_ms.cv for r in (*a.values(), *b.values())]
    rel = [abs(x - y) / min(x, y) for x, y in zip(ma, mb, strict=True)]
    busy = sum(bool(r.context.get("busy")) for r in (*a.values(), *b.values()))
    print(
        f"{label}: spearman {spearman(ma, mb):.4f}  median cv {100 * statistics.median(cvs):.2f}%  "
        f"|median diff| median {100 * statistics.median(rel):.2f}% max {100 * max(rel):.2f}%  "
        f"busy-flagged {busy}/{len(cvs)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="8 archs, 3 s budget")
    parser.add_argument("--parallel", action="store_true", help="also two pinned slots at once")
    parser.add_argument("--runtime", default="torch", choices=["torch", "onnxruntime"])
    parser.add_argument("--backbone", default="gpt2", choices=["gpt2", "transxl"])
    parser.add_argument("--seq-len", type=int, default=192)
    parser.add_argument("--budget", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n, budget = (8, 3.0) if args.quick else (args.archs, args.budget)
    space = default_space(args.backbone)
    rng = np.random.default_rng(args.seed)
    archs = [sample(space, rng) for _ in range(n)]
    settings = MeasureSettings(
        runtime=args.runtime, seq_len=args.seq_len, time_budget_s=budget, measure_memory=False
    )
    print(
        f"{n} random {args.backbone} archs (seed {args.seed}), runtime {args.runtime}, 1 thread, "
        f"seq {args.seq_len}, budget {budget} s; cores {os.cpu_count()}; "
        f"load average before {_load()}"
    )
    t0 = time.monotonic()
    first = run_pass(archs, settings, None, reverse=False)
    second = run_pass(archs, settings, None, reverse=True)
    print(f"sequential passes took {time.monotonic() - t0:.0f} s; load average {_load()}")
    summarise("sequential pass 1 vs pass 2", archs, first, second)
    if args.parallel:
        cores = sorted(os.sched_getaffinity(0))[:2]
        results: list[dict[str, MeasurementResult]] = [{}, {}]

        def slot(i: int) -> None:
            results[i] = run_pass(archs, settings, [cores[i]], reverse=bool(i))

        t0 = time.monotonic()
        threads = [threading.Thread(target=slot, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(f"parallel passes took {time.monotonic() - t0:.0f} s; load average {_load()}")
        summarise(f"parallel slot core {cores[0]} vs core {cores[1]}", archs, *results)
        summarise("sequential pass 1 vs parallel slot 1", archs, first, results[0])
        ratio = [
            results[i][c.arch_id].latency_ms.median / first[c.arch_id].latency_ms.median
            for i in range(2)
            for c in archs
        ]
        print(
            f"parallel / sequential median ratio: median {statistics.median(ratio):.3f}, "
            f"min {min(ratio):.3f}, max {max(ratio):.3f}"
        )
    print(f"load average after {_load()}")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
