"""The paper's headline and its causes: the frontier against the 16-layer baseline, per setting.

The paper reports, at the decoder-parameter count (the perplexity) of its 16-layer baseline, a
frontier model 1.3x (Core i7) to 1.5x (TITAN Xp) faster with 1.2x less peak memory for GPT-2,
and 1.7x faster with 1.9x less memory for Transformer-XL (Core i7). This script measures the
same comparison through the real controller path (``controller search`` with its layer-scaled
baselines, dispatch, economy, final phase and store) for every combination of:

* ``--backbones`` (gpt2, transxl);
* ``--budgets``: distinct evaluations (``--population`` per iteration, so budget / population
  iterations), the paper's being 3,000 (30 x 100);
* ``--algorithms`` (``controller search --algorithm``);
* ``--variant NAME=JSON``, repeated: the default space of the backbone with these fields
  replaced (for example ``dinner1.7={"d_inner_min_factor": 1.7}`` for the paper code's feed-
  forward bound, or the fixed fields of the paper's LM1B Transformer-XL: ``lm1b={"n_token":
  793470, "cutoffs": [59997, 99997, 639997], "tgt_len": 32, "mem_len": 32}``); the baselines
  take the space's fixed fields too, so each variant compares like with like;
* ``--seeds``.

The device: by default a simulated agent (``agent serve --simulate --surrogate``; ``--sigma``
replaces the file's noise, 0 for none) started here, which isolates the budget, the
algorithm and the space from the measurement noise: its results are also scored at the
surrogate's noise-free values (``true`` columns), so a pick that looks fast only through its
noise shows. ``--agent URL`` uses a running agent instead (a real device: the ``true``
columns are then empty, and the figures are what the device measured).

Per run it prints the 16-layer comparison (the member picked: the fastest with at least the
baseline's decoder parameters; its depth; the latency and memory ratios, reported and true;
whether each side's figures are the full protocol's), the median latency ratio over all 16
baselines and the wall time; then per setting the median over seeds next to the paper's figure.
``--json`` prints one JSON object instead; the load average is printed before and after.

    python benchmarks/headline.py [--backbones gpt2,transxl] [--budgets 800] [--population 100]
        [--algorithms smsemoa-crowding] [--variant NAME=JSON ...] [--seeds 0,1,2]
        [--surrogate benchmarks/data/surrogate-cpu.json] [--sigma S] [--agent URL]
        [--metric prefill|decode] [--search-arg ARG ...] [--keep DIR] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lts.controller.report.rows import protocol
from lts.controller.search.algorithms import DEFAULT_ALGORITHM
from lts.controller.search.local_agent import LocalAgent
from lts.controller.store import Store
from lts.shared.backbones import backbone_names, get_backbone
from lts.shared.schemas import MeasureSettings
from lts.shared.space import default_space
from lts.shared.surrogate import Surrogate

HERE = Path(__file__).resolve().parent
SURROGATE = HERE / "data" / "surrogate-cpu.json"
MAX_RUNS = 200


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbones", default="gpt2,transxl")
    p.add_argument("--budgets", default="800")
    p.add_argument("--population", type=int, default=100)
    p.add_argument("--algorithms", default=DEFAULT_ALGORITHM)
    p.add_argument("--variant", action="append", default=[], metavar="NAME=JSON")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--surrogate", type=Path, default=SURROGATE)
    p.add_argument("--sigma", type=float, default=None)
    p.add_argument("--agent", default=None, help="a running agent's URL (default: simulated)")
    p.add_argument(
        "--metric",
        choices=["prefill", "decode"],
        default="prefill",
        help="the latency the search measures (controller search --metric)",
    )
    p.add_argument(
        "--search-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more `controller search` argument (repeat for each word)",
    )
    p.add_argument("--keep", type=Path, default=None, help="keep the stores in this folder")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    args.backbones = _names(p, "--backbones", args.backbones, set(backbone_names()))
    args.algorithms = _names(p, "--algorithms", args.algorithms, None)
    args.budgets = _ints(p, "--budgets", args.budgets, 1, 30_000)
    args.seeds = _ints(p, "--seeds", args.seeds, 0, 2**31 - 1)
    if not 2 <= args.population <= 1000:
        p.error("--population: from 2 to 1000")
    if args.sigma is not None and not 0 <= args.sigma <= 1:
        p.error("--sigma: from 0 to 1")
    variants: dict[str, dict[str, Any]] = {}
    for text in args.variant or ["default={}"]:
        name, sep, body = text.partition("=")
        try:
            fields = json.loads(body) if sep else None
        except json.JSONDecodeError as e:
            p.error(f"--variant {name}: not JSON: {e}")
        if not name or not isinstance(fields, dict):
            p.error(f"--variant: NAME=JSON with a JSON object, got {text[:80]!r}")
        variants[name] = fields
    args.variants = variants
    if "--no-baselines" in args.search_arg:
        p.error("--search-arg=--no-baselines: the comparison is with the baselines")
    runs = len(args.backbones) * len(args.budgets) * len(args.algorithms) * len(variants)
    if runs * len(args.seeds) > MAX_RUNS:
        p.error(f"{runs * len(args.seeds)} runs asked; at most {MAX_RUNS}")
    return args


def _names(p: argparse.ArgumentParser, flag: str, text: str, allowed: set[str] | None) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if allowed is not None and n not in allowed]
    if not names or bad:
        choices = f" (one of {', '.join(sorted(allowed))})" if allowed else ""
        p.error(f"{flag}: {', '.join(bad) or 'none given'}{choices}")
    return names


def _ints(p: argparse.ArgumentParser, flag: str, text: str, lo: int, hi: int) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        p.error(f"{flag}: comma-separated integers, got {text[:80]!r}")
    if not values or any(not lo <= v <= hi for v in values):
        p.error(f"{flag}: integers from {lo} to {hi}, got {text[:80]!r}")
    return values


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# ------------------------------------------------------------------------------------ a run
def run_one(
    url: str, workdir: Path, surrogate: Surrogate | None, *, backbone: str, variant: str,
    fields: dict[str, Any], algorithm: str, budget: int, population: int, seed: int,
    extra: list[str], metric: str = "prefill",
) -> dict[str, Any]:  # fmt: skip
    """One ``controller search`` and its largest baseline's comparison (16 layers by default)."""
    space = {**default_space(backbone).to_dict(), **fields}
    tag = f"{backbone}-{variant}-{algorithm}-{budget}-{seed}"
    space_file = workdir / f"{tag}.space.json"
    space_file.write_text(json.dumps(space))
    db = workdir / f"{tag}.sqlite"
    iterations = max(1, round(budget / population))
    cmd = [sys.executable, "-c", "from lts.controller.cli import main; main()", "search",
           "--agents", url, "--space", str(space_file), "--algorithm", algorithm,
           "--iterations", str(iterations), "--population", str(population),
           "--seed", str(seed), "--metric", metric, "--db", str(db), *extra]  # fmt: skip
    t0 = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{tag}: controller search failed: {done.stderr.strip()[-800:]}")
    out = subprocess.run([sys.executable, "-c", "from lts.controller.cli import main; main()",
                          "results", "--db", str(db), "--json"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    device = json.loads(out.stdout)["devices"][0]
    if not device["baselines"]:
        raise RuntimeError(f"{tag}: the search has no baselines to compare (drop --no-baselines)")
    comps = [c for c in device["baselines"] if c.get("match")]
    largest = max(device["baselines"], key=lambda c: c["baseline"]["decoder_params"])
    row: dict[str, Any] = {
        "backbone": backbone, "variant": variant, "algorithm": algorithm, "budget": budget,
        "iterations": iterations, "seed": seed, "wall_s": round(wall, 1),
        "measured": device["measured"], "frontier": device["frontier_size"],
        "median_speedup_all": statistics.median(c["speedup"] for c in comps) if comps else None,
    }  # fmt: skip
    base, match = largest["baseline"], largest.get("match")
    row["baseline_params"] = base["decoder_params"]
    if match is None:
        row.update(pick_layers=None, speedup=None, memory_ratio=None)
        return row
    row.update(
        pick_layers=match["n_layer"], pick_d_model=match["d_model"],
        pick_params=match["decoder_params"], speedup=largest["speedup"],
        memory_ratio=largest["memory_ratio"],
        protocol="/".join(protocol(x["figures"], x["measure"]) for x in (base, match)),
    )  # fmt: skip
    if surrogate is not None:
        store = Store.open(db)
        try:
            archs = store.architectures([base["arch_id"], match["arch_id"]])
        finally:
            store.close()
        settings = MeasureSettings(metric=metric, decode=metric == "decode")
        true = {k: surrogate.answer(a.to_config(), settings, noise=False)
                for k, a in archs.items()}  # fmt: skip
        b, m = true[base["arch_id"]], true[match["arch_id"]]
        row["true_speedup"] = b[metric] / m[metric]
        row["true_memory_ratio"] = b["memory"] / m["memory"]
    return row


# ---------------------------------------------------------------------------------- output
def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    key = lambda r: (r["backbone"], r["variant"], r["algorithm"], r["budget"])  # noqa: E731
    for k, group in itertools.groupby(sorted(rows, key=key), key=key):
        g = list(group)

        def med(name: str, g: list[dict[str, Any]] = g) -> float | None:
            values = [r[name] for r in g if r.get(name) is not None]
            return statistics.median(values) if values else None

        out.append({"backbone": k[0], "variant": k[1], "algorithm": k[2], "budget": k[3],
                    "seeds": len(g), "speedup": med("speedup"),
                    "memory_ratio": med("memory_ratio"), "true_speedup": med("true_speedup"),
                    "true_memory_ratio": med("true_memory_ratio"),
                    "median_speedup_all": med("median_speedup_all"), "wall_s": med("wall_s"),
                    "paper": _paper(k[0])})  # fmt: skip
    return out


def _paper(backbone: str) -> list[float] | None:
    """The paper's (latency, memory) ratios at its 16-layer baseline (the backbone's registry)."""
    figures = get_backbone(backbone).paper_headline
    return list(figures) if figures else None


def _f(value: Any, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def print_text(rows: list[dict[str, Any]], summ: list[dict[str, Any]]) -> None:
    print(
        "\nruns (the largest baseline's comparison, 16 layers by default; ratio = baseline / pick):"
    )
    print(f"{'backbone':8} {'variant':10} {'algorithm':9} {'budget':>6} {'seed':>4} "
          f"{'pick':>10} {'lat':>5} {'mem':>5} {'true lat':>8} {'true mem':>8} "
          f"{'protocol':>10} {'all med':>7} {'wall s':>7}")  # fmt: skip
    for r in rows:
        pick = f"{r.get('pick_layers', '-')}L/{r.get('pick_d_model', '-')}"
        print(f"{r['backbone']:8} {r['variant']:10} {r['algorithm']:9} {r['budget']:>6} "
              f"{r['seed']:>4} {pick:>10} {_f(r['speedup']):>5} {_f(r['memory_ratio']):>5} "
              f"{_f(r.get('true_speedup')):>8} {_f(r.get('true_memory_ratio')):>8} "
              f"{r.get('protocol', '-'):>10} {_f(r['median_speedup_all']):>7} "
              f"{r['wall_s']:>7.1f}")  # fmt: skip
    print("\nmedian over seeds (paper: latency / memory):")
    for s in summ:
        print(f"{s['backbone']:8} {s['variant']:10} {s['algorithm']:9} {s['budget']:>6} "
              f"seeds {s['seeds']}: latency {_f(s['speedup'])}x (true {_f(s['true_speedup'])}x)"
              f", memory {_f(s['memory_ratio'])}x (true {_f(s['true_memory_ratio'])}x); "
              f"all baselines {_f(s['median_speedup_all'])}x; paper "
              + (f"{s['paper'][0]}x / {s['paper'][1]}x" if s["paper"] else "-"))  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    load_before = _load()
    surrogate = None
    with tempfile.TemporaryDirectory(prefix="lts-headline-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        rows: list[dict[str, Any]] = []
        combos = list(itertools.product(args.backbones, args.variants.items(), args.algorithms,
                                        args.budgets, args.seeds))  # fmt: skip

        def go(url: str) -> None:
            for i, (backbone, (variant, fields), algorithm, budget, seed) in enumerate(combos):
                row = run_one(url, workdir, surrogate, backbone=backbone, variant=variant,
                              fields=fields, algorithm=algorithm, budget=budget,
                              population=args.population, seed=seed,
                              extra=args.search_arg, metric=args.metric)  # fmt: skip
                rows.append(row)
                print(f"[{i + 1}/{len(combos)}] {backbone} {variant} {algorithm} {budget} seed "
                      f"{seed}: {_f(row['speedup'])}x / {_f(row['memory_ratio'])}x "
                      f"({row['wall_s']:.0f} s)", file=sys.stderr, flush=True)  # fmt: skip

        if args.agent:
            go(args.agent)
        else:
            surrogate = Surrogate.load(args.surrogate)
            file = args.surrogate
            if args.sigma is not None:
                file = workdir / "surrogate.json"
                file.write_text(json.dumps(surrogate.with_sigma(args.sigma).to_dict()))
            with LocalAgent(name="simulated", extra=["--simulate", str(file)]) as agent:
                go(agent.url)
    summ = summary(rows)
    result = {"device": args.agent or f"simulated: {args.surrogate.name}"
              + (f" (sigma {args.sigma})" if args.sigma is not None else ""),
              "population": args.population, "metric": args.metric,
              "search_args": args.search_arg,
              "variants": args.variants, "runs": rows, "summary": summ,
              "load_average": {"before": load_before, "after": _load()}}  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(
            f"device: {result['device']}; population {args.population}; "
            f"load average before {load_before}, after {result['load_average']['after']}"
        )
        print_text(rows, summ)
    return result


if __name__ == "__main__":
    main()
