"""Search quality per evaluation: every algorithm of ``ALGORITHMS`` on a surrogate device.

Each run drives one algorithm (``--population`` per iteration, no seeded baselines, iteration
0 filled by ``--start``: ``spread`` or ``uniform``; ``NAME:START`` in ``--algorithms`` runs
NAME with that start, listed under that label; ``random`` is always uniform) until it
has evaluated ``max(--budgets)`` distinct valid architectures (failed or repeated ones never
count; no algorithm adapts to its budget, so the first ``b`` evaluations of a run are its run
with budget ``b``), for ``--seeds`` seeds, on the surrogate of ``--surrogate`` noise-free and,
unless ``--no-noisy``, with its log-normal noise (``--sigma`` overrides the file's). A noisy
run's frontier is the one the algorithm saw, scored at the noise-free values.

Scoring, on ONE normalisation for every run: objectives minimised (-decoder params, latency,
memory; ``--objectives`` adds decode latency), ideal and nadir over the union of every run's
frontier at every budget, scaled to [0, 1], reference point 1.1, pymoo's exact hypervolume.
Per algorithm and budget it prints the mean and standard deviation of HV over seeds, the
frontier size and coverage (the share of 20 log-spaced decoder-parameter bins of the union
frontier that the run's frontier occupies), and per algorithm the evaluations (on a grid of
``--grid``) to reach 95% and 99% of the best mean HV at the largest budget (median over seeds;
how many seeds reach it), and its CPU seconds per 1,000 evaluations (ask + tell only, measured
with ``time.process_time`` in the run's own process; the evaluation is not counted).

Backends (``--backend``):

* ``direct`` (default): the algorithms driven in-process against the surrogate (fast);
* ``agent``: through the real controller path: ``agent serve --simulate FILE`` started locally
  and ``controller search --agents URL --algorithm NAME --iterations I --population P --seed S
  --no-screen --measure full --db FILE``, the evaluations read back from the store in the order
  measured (the final phase and the cache of a repeated architecture aside).

``--runs FILE`` appends every finished run as one JSON line and skips runs already there
(long benchmarks survive an interruption); ``--report-only`` scores what it holds.
``--algorithm-budget NAME=N`` stops an expensive algorithm earlier (its larger budgets are
then not reported). ``--workers`` runs that many runs at once (processes). ``--json`` prints
one JSON object. The machine's load average is printed before and after.

    python benchmarks/search_quality.py [--algorithms lts,nsga2:uniform,...] [--start spread]
        [--seeds 5] [--seed-start 0]
        [--budgets 200,500,1000,3000] [--population 100] [--backbone gpt2] [--homogeneous]
        [--surrogate benchmarks/data/surrogate-cpu.json] [--sigma S] [--no-noisy]
        [--backend direct|agent] [--runs FILE] [--report-only] [--workers N] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from lts.controller.pareto import hypervolume, non_dominated
from lts.controller.search.algorithms import ALGORITHMS, Outcome, SearchParams, get_algorithm
from lts.controller.search.algorithms.types import STARTS
from lts.shared.config import ArchConfig
from lts.shared.objectives import PROXY, ObjectiveSet, get
from lts.shared.params import decoder_params
from lts.shared.schemas import MeasureSettings
from lts.shared.space import SearchSpace, default_space
from lts.shared.surrogate import Surrogate

HERE = Path(__file__).resolve().parent
SURROGATE = HERE / "data" / "surrogate-cpu.json"
BINS = 20


# ------------------------------------------------------------------------------ evaluation
def measure(
    surrogate: Surrogate, objectives: ObjectiveSet, cfg: ArchConfig, seed: int, noisy: bool
) -> tuple[dict[str, float], dict[str, float]]:
    """(what the algorithm is told, the noise-free values) of ``cfg``'s measured objectives;
    the noise is seeded by (``seed``, arch id) as a simulated agent seeds it."""
    settings = MeasureSettings(seed=seed)
    told = surrogate.answer(cfg, settings, noise=noisy)
    true = surrogate.answer(cfg, settings, noise=False)
    names = objectives.measured_names
    return ({n: told[get(n).features] for n in names},  # type: ignore[index]
            {n: true[get(n).features] for n in names})  # type: ignore[index]  # fmt: skip


def run_direct(
    algorithm: str,
    space: SearchSpace,
    surrogate: Surrogate,
    objectives: ObjectiveSet,
    *,
    budget: int,
    seed: int,
    noisy: bool,
    population: int,
    start: str = "spread",
) -> dict[str, Any]:
    """One run in-process: ``budget`` distinct valid evaluations in order, each as
    ``[params, told values..., true values...]``, and the algorithm's CPU seconds."""
    cls = get_algorithm(algorithm)
    params = SearchParams(iterations=10_000, population=population,
                          parents=max(1, population // 5), start=start)  # fmt: skip
    search = cls(space, params, np.random.default_rng(seed), objectives=objectives)
    rows: list[list[float]] = []
    cpu = 0.0
    names = objectives.measured_names
    while len(rows) < budget and not search.done:
        t0 = time.process_time()
        proposals = search.ask()
        cpu += time.process_time() - t0
        outcomes = {}
        for p in proposals:
            told, true = measure(surrogate, objectives, p.cfg, seed, noisy)
            outcomes[p.arch_id] = Outcome(told)
            if len(rows) < budget:
                rows.append([float(decoder_params(p.cfg)), *(told[n] for n in names),
                             *(true[n] for n in names)])  # fmt: skip
        t0 = time.process_time()
        search.tell(outcomes)
        cpu += time.process_time() - t0
    return {"evaluations": rows, "cpu_s": cpu}


def run_agent(
    algorithm: str, *, budget: int, seed: int, noisy: bool, population: int,
    surrogate_path: Path, backbone: str, workdir: Path, start: str = "spread",
) -> dict[str, Any]:  # fmt: skip
    """One run through ``agent serve --simulate`` and ``controller search --algorithm``."""
    from lts.controller.search.local_agent import LocalAgent
    from lts.controller.store import Store

    file = surrogate_path
    if not noisy:
        file = workdir / "noise-free.json"
        file.write_text(json.dumps(Surrogate.load(surrogate_path).with_sigma(0.0).to_dict()))
    db = workdir / f"{algorithm}-{seed}-{int(noisy)}.sqlite"
    iterations = math.ceil(budget / population) + 1
    with LocalAgent(name="simulated", extra=["--simulate", str(file)]) as agent:
        t0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cmd = [sys.executable, "-c", "from lts.controller.cli import main; main()", "search",
               "--agents", agent.url,
               "--algorithm", algorithm, "--start", start, "--iterations", str(iterations),
               "--population",
               str(population), "--seed", str(seed), "--no-screen", "--measure", "full",
               "--no-baselines", "--backbone", backbone, "--final-budget-factor", "1",
               "--db", str(db), "--json"]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        t1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (t1.ru_utime + t1.ru_stime) - (t0.ru_utime + t0.ru_stime)
        if done.returncode != 0:
            raise RuntimeError(f"controller search failed: {done.stderr.strip()[-500:]}")
    store = Store.open(db)
    try:
        search = store.latest_search()
        assert search is not None
        rows: list[list[float]] = []
        cands = [c for c in store.candidates(search.id) if c.measurement_id is not None]
        measured = store.get_measurements(c.measurement_id for c in cands if c.measurement_id)
        archs = store.architectures([c.arch_id for c in cands])
        surrogate = Surrogate.load(surrogate_path)
        for c in sorted(cands, key=lambda c: c.measurement_id or 0):  # in the order measured
            m = measured[c.measurement_id or -1]
            if not m.ok or len(rows) >= budget:
                continue
            cfg = archs[c.arch_id].to_config()
            true = surrogate.answer(cfg, MeasureSettings(), noise=False)
            rows.append([float(decoder_params(cfg)), m.values["latency"], m.values["memory"],
                         true["prefill"], true["memory"]])  # fmt: skip
    finally:
        store.close()
    note = "cpu_s: the controller process's (the agent's not counted)"
    return {"evaluations": rows, "cpu_s": cpu, "note": note}


# -------------------------------------------------------------------------------- scoring
def frontier_at(rows: np.ndarray, b: int, n_obj: int) -> np.ndarray:
    """The noise-free minimised vectors of the frontier the run saw after ``b`` evaluations."""
    head = rows[:b]
    seen = np.column_stack([-head[:, 0], head[:, 1 : 1 + n_obj - 1]])
    true = np.column_stack([-head[:, 0], head[:, n_obj:]])
    return true[non_dominated(seen)]


def score(runs: list[dict[str, Any]], budgets: Sequence[int], grid: int) -> dict[str, Any]:
    """Per (algorithm, condition): HV mean/std per budget, evaluations to 95/99% of the best,
    frontier size and coverage, CPU per 1,000 evaluations (see the module doc)."""
    n_obj = len(runs[0]["objectives"])
    fronts: dict[int, dict[int, np.ndarray]] = {}
    marks = sorted({*budgets, *range(grid, max(budgets) + 1, grid)})
    for k, run in enumerate(runs):
        rows = np.array(run["evaluations"], dtype=np.float64)
        fronts[k] = {b: frontier_at(rows, b, n_obj) for b in marks if b <= len(rows)}
    union = np.vstack([f for per in fronts.values() for f in per.values()])
    ideal, nadir = union.min(axis=0), union.max(axis=0)
    span = np.where(nadir > ideal, nadir - ideal, 1.0)
    union_front = union[non_dominated(union)]
    edges = np.linspace(*np.log10([-union_front[:, 0].max(), -union_front[:, 0].min()]),
                        BINS + 1)  # fmt: skip

    def hv(f: np.ndarray) -> float:
        return hypervolume((f - ideal) / span, np.full(n_obj, 1.1))

    def coverage(f: np.ndarray) -> float:
        bins = np.clip(np.digitize(np.log10(-f[:, 0]), edges[1:-1]), 0, BINS - 1)
        return len(set(bins.tolist())) / BINS

    curves = {k: {b: hv(f) for b, f in per.items()} for k, per in fronts.items()}
    groups: dict[tuple[str, bool], list[int]] = {}
    for k, run in enumerate(runs):
        groups.setdefault((run["algorithm"], run["noisy"]), []).append(k)
    out: dict[str, Any] = {"normalisation": {"ideal": ideal.tolist(), "nadir": nadir.tolist()},
                           "methods": []}  # fmt: skip
    top = max(budgets)
    best = {
        noisy: max((statistics.mean(curves[k][top] for k in ks)
                    for (a, n), ks in groups.items() if n == noisy
                    and all(top in curves[k] for k in ks)), default=math.nan)
        for noisy in {n for _, n in groups}
    }  # fmt: skip
    for (algorithm, noisy), ks in sorted(groups.items(), key=lambda g: (g[0][1], g[0][0])):
        entry: dict[str, Any] = {"algorithm": algorithm, "noisy": noisy, "seeds": len(ks),
                                 "budgets": {}}  # fmt: skip
        for b in budgets:
            have = [k for k in ks if b in curves[k]]
            if len(have) < len(ks):
                continue
            values = [curves[k][b] for k in have]
            entry["budgets"][str(b)] = {
                "hv_mean": statistics.mean(values),
                "hv_std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "frontier_size": statistics.mean(len(fronts[k][b]) for k in have),
                "coverage": statistics.mean(coverage(fronts[k][b]) for k in have),
            }
        for share in (0.95, 0.99):
            reached = []
            for k in ks:
                hit = [b for b in sorted(curves[k]) if curves[k][b] >= share * best[noisy]]
                reached.append(hit[0] if hit else None)
            got = [r for r in reached if r is not None]
            median = statistics.median(r if r is not None else math.inf for r in reached)
            entry[f"evals_to_{int(share * 100)}"] = {
                "median": None if math.isinf(median) else median, "reached": len(got)}
        evals = [len(runs[k]["evaluations"]) for k in ks]
        cpu = [runs[k]["cpu_s"] for k in ks]
        entry["evaluations"] = max(evals)
        entry["cpu_s_per_1000"] = 1000 * sum(cpu) / sum(evals)
        out["methods"].append(entry)
    out["best_hv"] = {str(k): v for k, v in best.items()}
    return out


# ------------------------------------------------------------------------------------ CLI
def _task(spec: dict[str, Any]) -> dict[str, Any]:
    surrogate = Surrogate.load(spec["surrogate"])
    if spec["sigma"] is not None:
        surrogate = surrogate.with_sigma(spec["sigma"])
    objectives = ObjectiveSet(tuple(spec["objectives"]))
    algorithm, start = _name(spec["algorithm"]), spec["start"]
    if spec["backend"] == "agent":
        with tempfile.TemporaryDirectory(prefix="lts-quality-") as tmp:
            result = run_agent(algorithm, budget=spec["budget"], seed=spec["seed"],
                               noisy=spec["noisy"], population=spec["population"],
                               surrogate_path=Path(spec["surrogate"]),
                               backbone=spec["backbone"], workdir=Path(tmp),
                               start=start)  # fmt: skip
    else:
        space = default_space(spec["backbone"], spec["homogeneous"])
        result = run_direct(algorithm, space, surrogate, objectives,
                            budget=spec["budget"], seed=spec["seed"], noisy=spec["noisy"],
                            population=spec["population"], start=start)  # fmt: skip
    return {**spec, **result}


def _name(label: str) -> str:
    """The algorithm of a label (``NAME`` or ``NAME:START``)."""
    return label.partition(":")[0]


def _start(label: str, default: str) -> str:
    """The start a run of ``label`` uses: its own, else ``default``; ``uniform`` for an
    algorithm that ignores the start (``random``)."""
    if not get_algorithm(_name(label)).honours_start:
        return "uniform"
    start = label.partition(":")[2] or default
    if start not in STARTS:
        raise SystemExit(f"error: {label}: the start must be one of {', '.join(STARTS)}")
    return start


def _key(spec: dict[str, Any]) -> tuple[Any, ...]:
    # runs stored before the start existed used the uniform one
    return (spec["algorithm"], spec.get("start", "uniform"), spec["seed"], spec["noisy"],
            spec["budget"], spec["backbone"], spec["homogeneous"], spec["population"],
            spec["backend"], spec["sigma"])  # fmt: skip


def _print(result: dict[str, Any], budgets: Sequence[int], load: dict[str, Any]) -> None:
    print(f"load average before {load['before']}, after {load['after']} "
          f"({os.cpu_count()} cores); best mean HV at {max(budgets)}: {result['best_hv']}")
    heads = " | ".join(f"HV @ {b}" for b in budgets)
    print(f"| method | noise | seeds | {heads} | evals to 95% / 99% (median; seeds) "
          f"| frontier @ {max(budgets)} | coverage | CPU s / 1000 evals |")
    print("|---" * (len(budgets) + 7) + "|")
    for m in result["methods"]:
        cells = []
        for b in budgets:
            c = m["budgets"].get(str(b))
            cells.append(f"{c['hv_mean']:.4f} ± {c['hv_std']:.4f}" if c else "—")
        last = m["budgets"].get(str(max(b for b in budgets if str(b) in m["budgets"])), {})
        e95, e99 = m["evals_to_95"], m["evals_to_99"]
        reach = (f"{e95['median'] or '>'} ({e95['reached']}) / {e99['median'] or '>'} "
                 f"({e99['reached']})")  # fmt: skip
        print(f"| {m['algorithm']} | {'yes' if m['noisy'] else 'no'} | {m['seeds']} | "
              f"{' | '.join(cells)} | {reach} | {last.get('frontier_size', 0):.0f} | "
              f"{last.get('coverage', 0):.2f} | {m['cpu_s_per_1000']:.1f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seed-start", type=int, default=0,
                        help="the first seed (runs seeds seed-start .. seed-start + seeds - 1)")
    parser.add_argument("--budgets", default="200,500,1000,3000")
    parser.add_argument("--grid", type=int, default=50)
    parser.add_argument("--population", type=int, default=100)
    parser.add_argument("--start", default="spread", choices=STARTS)
    parser.add_argument("--backbone", default="gpt2", choices=("gpt2", "transxl"))
    parser.add_argument("--homogeneous", action="store_true")
    parser.add_argument("--objectives", default="params,latency,memory")
    parser.add_argument("--surrogate", type=Path, default=SURROGATE)
    parser.add_argument("--sigma", type=float, default=None)
    parser.add_argument("--no-noisy", action="store_true")
    parser.add_argument("--backend", default="direct", choices=("direct", "agent"))
    parser.add_argument("--algorithm-budget", action="append", default=[],
                        help="NAME=N: stop NAME after N evaluations")  # fmt: skip
    parser.add_argument("--runs", type=Path, default=None)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    budgets = sorted(int(b) for b in args.budgets.split(","))
    caps = {k: int(v) for k, v in (s.split("=") for s in args.algorithm_budget)}
    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    for a in algorithms:
        get_algorithm(_name(a))
    specs = [
        {"algorithm": a, "start": _start(a, args.start), "seed": seed, "noisy": noisy,
         "budget": caps.get(a, max(budgets)),
         "backbone": args.backbone, "homogeneous": args.homogeneous,
         "population": args.population, "backend": args.backend, "sigma": args.sigma,
         "surrogate": str(args.surrogate), "objectives": args.objectives.split(",")}
        for noisy in ([False] if args.no_noisy else [False, True])
        for a in algorithms for seed in range(args.seed_start, args.seed_start + args.seeds)
    ]  # fmt: skip
    load_before = [round(x, 2) for x in os.getloadavg()]
    runs: list[dict[str, Any]] = []
    if args.runs is not None and args.runs.exists():
        runs = [json.loads(line) for line in args.runs.read_text().splitlines() if line]
    have = {_key(r) for r in runs}
    todo = [] if args.report_only else [s for s in specs if _key(s) not in have]
    with ProcessPoolExecutor(max(1, args.workers)) as pool:
        for run in pool.map(_task, todo):
            runs.append(run)
            if args.runs is not None:
                with args.runs.open("a") as f:
                    f.write(json.dumps(run) + "\n")
            print(f"done {run['algorithm']} seed {run['seed']} noisy {run['noisy']}: "
                  f"{len(run['evaluations'])} evaluations, {run['cpu_s']:.1f} s CPU",
                  file=sys.stderr, flush=True)  # fmt: skip
    wanted = {_key(s) for s in specs}
    runs = [r for r in runs if _key(r) in wanted]
    result = score(runs, budgets, args.grid)
    load = {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]}
    result.update(load=load, cores=os.cpu_count(), budgets=budgets, backend=args.backend,
                  surrogate=str(args.surrogate), population=args.population,
                  backbone=args.backbone, proxy=PROXY, start=args.start)  # fmt: skip
    if args.json:
        print(json.dumps(result))
    else:
        _print(result, budgets, load)


if __name__ == "__main__":
    main()
