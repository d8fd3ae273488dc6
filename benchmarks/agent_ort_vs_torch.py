"""(d) ONNX Runtime against PyTorch eager: latency and peak memory on the same architectures.

The smallest, a middle and the largest architecture of the default space plus N random ones
(seeded), each measured with both runtimes by one :class:`agent.measure.Measurer` under the
same settings (1 thread, batch 1, the given metric and sequence length). Prints the medians,
their ratio (ORT / torch: below 1 means ONNX Runtime is faster), the peak memory of each (and,
for ONNX Runtime, the latency worker's peak with the export, against the pre-build estimate),
and the Spearman correlation of the two runtimes' latency rankings.

    python benchmarks/agent_ort_vs_torch.py [--metric prefill|decode] [--random 5]
        [--seq-len 192] [--output last|all] [--budget 10] [--no-memory] [--rounds 1]

With ``--rounds N`` each runtime is measured N times per architecture, alternating which goes
first, and the median of its medians is used (less sensitive to load that drifts).
"""

from __future__ import annotations

import argparse
import os
import statistics

import numpy as np

from lts.agent.measure import Measurer, estimate_memory_mb
from lts.controller.search.operators import sample
from lts.shared.backbones import backbone_names
from lts.shared.params import count_params
from lts.shared.schemas import MeasureSettings
from lts.shared.space import default_space


def spearman(a: list[float], b: list[float]) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metric", default="prefill", choices=["prefill", "decode"])
    parser.add_argument("--output", default="last", choices=["last", "all"])
    parser.add_argument("--backbone", default="gpt2", choices=backbone_names())
    parser.add_argument("--random", type=int, default=5, help="random archs besides the 3")
    parser.add_argument("--seq-len", type=int, default=None, help="default 192 (decode: 191)")
    parser.add_argument("--budget", type=float, default=10.0)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternate the runtimes' order over N rounds"
    )
    args = parser.parse_args()
    space = default_space(args.backbone)
    # GPT-2 decode needs seq_len + 1 <= tgt_len (192): a 191-token context by default.
    seq_len = args.seq_len or (191 if args.metric == "decode" else 192)
    rng = np.random.default_rng(args.seed)
    archs = [
        ("smallest", space.smallest()),
        ("middle", space.middle()),
        ("largest", space.largest()),
    ]
    archs += [(f"random{i}", sample(space, rng)) for i in range(args.random)]
    print(
        f"{args.backbone} {args.metric} output {args.output}, 1 thread, batch 1, seq {seq_len}, "
        f"budget {args.budget} s; cores {os.cpu_count()}; load average before {_load()}"
    )
    print(
        f"{'arch':<9} {'Mparams':>7} {'torch ms':>9} {'ort ms':>9} {'ort/torch':>9} "
        f"{'torch MB':>9} {'ort MB':>8} {'cv t/o %':>10} {'export s':>8} "
        f"{'ort worker MB':>13} {'ort est MB':>10}"
    )
    med = {"torch": [], "onnxruntime": []}
    ratios = []
    with Measurer() as m:
        m.start()
        for label, cfg in archs:
            runs: dict[str, list] = {"torch": [], "onnxruntime": []}
            for rnd in range(args.rounds):
                order = ("torch", "onnxruntime") if rnd % 2 == 0 else ("onnxruntime", "torch")
                for runtime in order:
                    settings = MeasureSettings(
                        runtime=runtime, metric=args.metric, output=args.output,
                        seq_len=seq_len, time_budget_s=args.budget,
                        measure_memory=not args.no_memory and rnd == 0,
                    )  # fmt: skip
                    runs[runtime].append(m.measure(cfg, settings))
            res = {rt: runs[rt][0] for rt in runs}
            medians = {rt: statistics.median(r.latency_ms.median for r in runs[rt]) for rt in runs}
            for runtime in med:
                med[runtime].append(medians[runtime])
            t, o = res["torch"], res["onnxruntime"]
            ratio = medians["onnxruntime"] / medians["torch"]
            ratios.append(ratio)
            mem = [
                f"{r.peak_memory_mb:.1f}" if r.peak_memory_mb is not None else "-" for r in (t, o)
            ]
            print(
                f"{label:<9} {count_params(cfg).total / 1e6:>7.1f} {medians['torch']:>9.2f} "
                f"{medians['onnxruntime']:>9.2f} {ratio:>9.3f} {mem[0]:>9} {mem[1]:>8} "
                f"{100 * t.latency_ms.cv:>4.1f}/{100 * o.latency_ms.cv:<5.1f} "
                f"{o.context['export_s']:>8.2f} {o.context['worker_peak_rss_mb']:>13.1f} "
                f"{estimate_memory_mb(cfg, o.settings):>10.0f}"
            )
    print(
        f"ort/torch latency ratio: median {statistics.median(ratios):.3f}, "
        f"min {min(ratios):.3f}, max {max(ratios):.3f}; spearman torch vs ort "
        f"{spearman(med['torch'], med['onnxruntime']):.4f}"
    )
    print(f"load average after {_load()}")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
