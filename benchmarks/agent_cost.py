"""(a) The cost of measuring one candidate (latency + peak memory), in forward-pass equivalents.

For the smallest, a middle and the largest architecture of the default GPT-2 space, measures
each with :class:`agent.measure.Measurer` (helpers started and warmed beforehand, as in a
running agent) and prints the wall time of ``measure()`` divided by the measured median forward
time, with the breakdown: build, warm-up runs, timed runs, the memory pass, and the rest
(export, messages, clean-up). Goal: <= 15 forward passes per candidate.

Two protocols are run: ``default`` (the agent's defaults: warm-up >= 3 runs and 0.5 s, timed
>= 10 runs and 1 s, +-2% on the median, 10 s budget) and ``lean`` (no time floors: warm-up 2
runs, timed >= 10 runs until +-2%), which shows the cost floor set by the run counts alone.

    python benchmarks/agent_cost.py [--runtime torch|onnxruntime] [--seq-len 192]
        [--protocol default|lean|both] [--backbone gpt2|transxl]
"""

from __future__ import annotations

import argparse
import os

from lts.agent.measure import Measurer
from lts.shared.backbones import backbone_names
from lts.shared.params import count_params
from lts.shared.schemas import MeasureSettings
from lts.shared.space import default_space

LEAN = dict(warmup_runs=2, warmup_s=0.0, min_runs=10, min_time_s=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default="torch", choices=["torch", "onnxruntime"])
    parser.add_argument("--backbone", default="gpt2", choices=backbone_names())
    parser.add_argument("--seq-len", type=int, default=192)
    parser.add_argument("--protocol", default="both", choices=["default", "lean", "both"])
    args = parser.parse_args()
    space = default_space(args.backbone)
    archs = [
        ("smallest", space.smallest()),
        ("middle", space.middle()),
        ("largest", space.largest()),
    ]
    protocols = ["default", "lean"] if args.protocol == "both" else [args.protocol]
    print(
        f"{args.backbone}, runtime {args.runtime}, 1 thread, batch 1, seq {args.seq_len}, "
        f"output last; cores {os.cpu_count()}; load average before {_load()}"
    )
    header = (
        "protocol", "arch", "Mparams", "median ms", "cv %", "runs w+t", "build s", "warm s",
        "timed s", "mem s", "other s", "total s", "fwd equiv",
    )  # fmt: skip
    print(
        "{:<8} {:<8} {:>7} {:>9} {:>5} {:>8} {:>7} {:>6} {:>7} {:>5} {:>7} {:>7} {:>9}".format(
            *header
        )
    )
    with Measurer() as measurer:
        measurer.start()
        # One small item first: the worker's first item pays one-time costs a running agent has
        # long paid.
        measurer.measure(archs[0][1], MeasureSettings(seq_len=16, time_budget_s=1.0))
        for protocol in protocols:
            extra = LEAN if protocol == "lean" else {}
            for label, cfg in archs:
                settings = MeasureSettings(runtime=args.runtime, seq_len=args.seq_len, **extra)
                r = measurer.measure(cfg, settings)
                c = r.context
                total = c["item_s"]
                med_s = r.latency_ms.median / 1e3
                known = c["build_s"] + c["warmup_s"] + c["timed_s"] + (c["memory_pass_s"] or 0.0)
                print(
                    f"{protocol:<8} {label:<8} {count_params(cfg).total / 1e6:>7.1f} "
                    f"{r.latency_ms.median:>9.2f} {100 * r.latency_ms.cv:>5.1f} "
                    f"{c['warmup_runs']:>3}+{c['timed_runs']:<4} {c['build_s']:>7.2f} "
                    f"{c['warmup_s']:>6.2f} {c['timed_s']:>7.2f} {c['memory_pass_s'] or 0:>5.2f} "
                    f"{total - known:>7.2f} {total:>7.2f} {total / med_s:>9.1f}"
                )
    print(f"load average after {_load()}")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
