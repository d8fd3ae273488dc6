"""Benchmark: the cost of ``controller proxy-eval`` and of every proxy, per model.

1. ``decoder_params`` over all rows of each shipped table (goal: under 1 s per table): the work
   of ``proxy-eval`` in process (read the table, score every row, SRC and CR at 10 levels), and
   the command end to end as a subprocess (``--json``; adds interpreter start-up and imports).
2. The low-cost proxies over the first ``--rows`` rows (default 50) of ``--tables`` (default
   random_GPT2_wt103.jsonl): seconds per model (mean, median, max; each model built once per
   proxy, as the tool does) and the SRC and CR they reach on those rows, through
   :func:`controller.proxies.evaluate.evaluate_proxy`, the function ``proxy-eval`` calls.

Run from the repository root (part 2 takes minutes per proxy on a laptop CPU)::

    python benchmarks/proxy_eval.py [--rows 50] [--tables random_GPT2_wt103.jsonl ...]
        [--proxies grad_norm,snip,...] [--skip-low-cost] [--json-out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lts.controller.proxies import Proxy, get_proxy, list_proxies
from lts.controller.proxies.evaluate import CR_LEVELS, evaluate_proxy
from lts.controller.tables import read_table

GOAL_S = 1.0
TABLES_DIR = Path(__file__).resolve().parent / "data" / "lts-neurips22"
SHIPPED = ("random_GPT2_wt103.jsonl", "random_GPT2_lm1b.jsonl", "random_TransXL_lm1b.jsonl")


def analytic_pass(table: Path) -> tuple[float, float, float]:
    """(in-process seconds, CLI seconds, SRC) of decoder_params over every row of ``table``."""
    start = time.perf_counter()
    rows = read_table(table)
    evaluation = evaluate_proxy(get_proxy("decoder_params"), rows)
    src = evaluation.spearman
    _ = evaluation.common_ratio
    in_process = time.perf_counter() - start
    exe = shutil.which("controller")
    cmd = [exe] if exe else [sys.executable, "-c", "from lts.controller.cli import main; main()"]
    start = time.perf_counter()
    subprocess.run(
        [*cmd, "proxy-eval", "--table", str(table), "--proxies", "decoder_params", "--json"],
        check=True,
        capture_output=True,
    )
    return in_process, time.perf_counter() - start, src


def timed(proxy: Proxy, times: list[float]) -> Proxy:
    """``proxy`` with every call's wall time appended to ``times``."""

    def fn(cfg: Any, **opts: Any) -> float:
        start = time.perf_counter()
        try:
            return proxy.fn(cfg, **opts)
        finally:
            times.append(time.perf_counter() - start)

    return Proxy(proxy.name, fn, proxy.needs_torch, proxy.cost, proxy.higher_is_better)


def low_cost_pass(
    table: Path, n_rows: int, proxies: list[Proxy], results: dict[str, Any], save: Any
) -> None:
    """Evaluate ``proxies`` on the first ``n_rows`` rows into ``results``; ``save()`` after each."""
    rows = read_table(table)[:n_rows]
    print(f"\n{table.name}: first {len(rows)} rows", flush=True)
    header = f"{'proxy':<13} {'mean s':>7} {'median':>7} {'max':>7} {'SRC':>7}  CR " + " ".join(
        f"{k:>4}" for k in CR_LEVELS
    )
    print(header + "  failed", flush=True)
    for proxy in proxies:
        times: list[float] = []
        ev = evaluate_proxy(timed(proxy, times), rows)
        cr = ev.common_ratio
        results[proxy.name] = {
            "rows": len(rows),
            "spearman": ev.spearman,
            "common_ratio": {str(k): v for k, v in cr.items()},
            "seconds": ev.seconds,
            "failed": ev.failed,
            "failures": ev.failures,
            "per_model_s": {
                "mean": statistics.fmean(times) if times else None,
                "median": statistics.median(times) if times else None,
                "max": max(times) if times else None,
            },
        }
        per = results[proxy.name]["per_model_s"]
        print(
            f"{proxy.name:<13} {per['mean'] or 0:7.3f} {per['median'] or 0:7.3f} "
            f"{per['max'] or 0:7.3f} {ev.spearman:7.3f}     "
            + " ".join(f"{cr[k]:4.2f}" for k in CR_LEVELS)
            + f"  {ev.failed:>6}",
            flush=True,
        )
        save()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50, help="rows per table for part 2")
    parser.add_argument("--tables", nargs="+", default=[SHIPPED[0]], help="tables for part 2")
    parser.add_argument("--proxies", default="", help="comma-separated (default: low-cost)")
    parser.add_argument("--skip-low-cost", action="store_true", help="part 1 only")
    parser.add_argument("--json-out", type=Path, help="write every figure to this JSON file")
    args = parser.parse_args()

    import scipy.stats  # noqa: F401  (imported once here, not inside the first timing)
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"python {platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {os.cpu_count()} CPUs, load average {load:.1f}"
    )
    out: dict[str, Any] = {"analytic": {}, "low_cost": {}}
    print(f"\ndecoder_params over all rows (goal: under {GOAL_S:g} s per table)")
    for name in SHIPPED:
        in_process, cli_s, src = analytic_pass(TABLES_DIR / name)
        verdict = "met" if in_process < GOAL_S else "NOT met"
        print(
            f"  {name:<27} in process {in_process:.3f} s ({verdict}), "
            f"CLI end to end {cli_s:.2f} s, SRC {src:.4f}"
        )
        out["analytic"][name] = {"in_process_s": in_process, "cli_s": cli_s, "spearman": src}

    def save() -> None:
        if args.json_out:
            args.json_out.write_text(json.dumps(out, indent=1))

    save()
    if not args.skip_low_cost:
        names = [n for n in args.proxies.split(",") if n]
        proxies = (
            [get_proxy(n) for n in names] if names else [p for p in list_proxies() if p.needs_torch]
        )
        for name in args.tables:
            results = out["low_cost"].setdefault(name, {})
            low_cost_pass(TABLES_DIR / name, args.rows, proxies, results, save)


if __name__ == "__main__":
    main()
