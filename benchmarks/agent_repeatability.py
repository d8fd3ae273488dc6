"""(b) Repeatability: two independent passes over random architectures of a space.

Samples N architectures (default 30, distinct) with a seeded generator, measures every one
twice, each pass with its own fresh :class:`agent.measure.Measurer` (new helper processes) and
the second pass in reverse order, and prints, between the passes, the Spearman correlation of
the latencies (goal >= 0.99), the median coefficient of variation of all measurements (goal
<= 3%), and the median / largest relative difference ``|a - b| / min(a, b)`` of the figures.

What the search decides on, and where the noise comes from:

* ``--protocol quick`` measures with the search's quick protocol (what racing decides on:
  one warm-up run, at least 6 timed runs, a budget of ``min(0.5 s, --budget)``, a target of
  ``max(10%, target)``); ``full`` (the default) with the settings as given.
* Estimators: every figure is computed three ways from the *same* raw samples (median, minimum,
  20%-trimmed mean), one table row each.
* ``--pin CPU`` adds a second arm whose helpers are pinned to core CPU (as ``--parallel`` pins
  its slots); the unpinned arm always runs. Both arms' passes alternate (unpinned pass 1,
  pinned pass 1, unpinned pass 2, pinned pass 2), so that slow drift touches both alike.
* ``--reference`` times a fixed reference model (the space's ``middle()``, with the quick
  protocol) just before every candidate, in the same Measurer: its medians over a pass show
  the drift (min / median / max, their Pearson correlation with the time into the pass, the
  ratio of the passes' medians), and every estimator gets a drift-corrected row: each
  candidate's figure divided by the same estimator of the reference timed next to it.
* The CPU frequency (read before and after each measurement, when readable: the results'
  context) is summarised per pass, with the load average before and after each pass.

``--parallel`` also runs two Measurers at once, each pinned to its own core (cores 0 and 1),
one per pass, and compares those medians with the sequential ones: if the two slots disturbed
each other, their medians would move (and the Spearman between the slots would drop).

``--json`` prints every figure as one JSON document instead of the text (per architecture too:
its estimates in each pass). Sizes are bounded: 3-500 archs, a budget of at most 60 s.

    python benchmarks/agent_repeatability.py [--quick] [--archs 30] [--budget 10]
        [--protocol full|quick] [--pin CPU] [--reference] [--parallel] [--json]
        [--space default|demo|tiny] [--runtime torch] [--backbone gpt2] [--seq-len 192]
        [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from lts.agent.measure import Measurer
from lts.controller.search.economy import quick_settings
from lts.controller.search.operators import sample
from lts.controller.search.small_spaces import DEMO_SPACE, TINY_SPACE
from lts.shared.backbones import backbone_names
from lts.shared.config import ArchConfig
from lts.shared.schemas import MeasurementResult, MeasureSettings
from lts.shared.space import SearchSpace, default_space

MAX_ARCHS, MAX_BUDGET_S = 500, 60.0

SPACES: dict[str, dict[str, Any] | None] = {"default": None, "demo": DEMO_SPACE, "tiny": TINY_SPACE}


def trimmed_mean(samples: Sequence[float]) -> float:
    """The mean of the samples without the lowest and highest 20% (scipy's trim_mean)."""
    return float(stats.trim_mean(samples, 0.2))


#: The estimators compared, each a function of one measurement's raw samples (ms).
ESTIMATORS: dict[str, Callable[[Sequence[float]], float]] = {
    "median": statistics.median,
    "min": min,
    "trimmed20": trimmed_mean,
}


# ------------------------------------------------------------------------------ measuring
@dataclass(frozen=True)
class Timed:
    """One candidate's measurement in a pass; ``reference``: the reference model's, timed just
    before it (None without ``--reference``); ``at_s``: seconds from the pass's start to the
    end of the candidate's measurement."""

    result: MeasurementResult
    reference: MeasurementResult | None
    at_s: float


@dataclass(frozen=True)
class Pass:
    """One pass of one arm over every architecture: its measurements by arch id."""

    arm: str
    index: int
    items: dict[str, Timed]
    wall_s: float
    load_before: list[float]
    load_after: list[float]


def run_pass(
    archs: list[ArchConfig],
    settings: MeasureSettings,
    cpus: list[int] | None,
    reverse: bool,
    reference: tuple[ArchConfig, MeasureSettings] | None = None,
    *,
    arm: str = "",
    index: int = 0,
) -> Pass:
    """Measure every arch with a fresh Measurer (the reference model before each, if given)."""
    items: dict[str, Timed] = {}
    order = list(reversed(archs)) if reverse else archs
    load_before = _loadavg()
    with Measurer(cpus=cpus) as m:
        m.start(memory=settings.measure_memory)
        t0 = time.monotonic()
        for cfg in order:
            ref = m.measure(*reference) if reference is not None else None
            result = m.measure(cfg, settings)
            items[cfg.arch_id] = Timed(result, ref, time.monotonic() - t0)
        wall_s = time.monotonic() - t0
    return Pass(arm, index, items, wall_s, load_before, _loadavg())


# ------------------------------------------------------------------------------- figures
def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman rank correlation (ties averaged); None where undefined (a constant side)."""
    if len(a) < 2 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return _finite(float(stats.spearmanr(a, b).statistic))


def pearson(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Pearson correlation; None where undefined."""
    if len(a) < 2 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return _finite(float(np.corrcoef(a, b)[0, 1]))


def agreement(a: Sequence[float], b: Sequence[float]) -> dict[str, float | None]:
    """How two passes' figures for the same archs agree: Spearman, and the median and largest
    relative difference ``|a - b| / min(a, b)``."""
    rel = [abs(x - y) / min(x, y) for x, y in zip(a, b, strict=True)]
    return {
        "spearman": spearman(a, b),
        "rel_diff_median": statistics.median(rel),
        "rel_diff_max": max(rel),
    }


def estimates(t: Timed) -> dict[str, Any]:
    """One measurement's figures: every estimator of the candidate, the same of its reference
    (``ref_<name>``), the sample count, CV, and the frequency read before and after."""
    lat = t.result.latency_ms
    out: dict[str, Any] = {name: f(lat.samples) for name, f in ESTIMATORS.items()}
    out.update(n=lat.n, cv=lat.cv, at_s=round(t.at_s, 3))
    if t.reference is not None:
        for name, f in ESTIMATORS.items():
            out[f"ref_{name}"] = f(t.reference.latency_ms.samples)
    ctx = t.result.context
    out["stop_reason"] = ctx.get("stop_reason")
    out["freq_mhz"] = [ctx.get("cpu_freq_mhz_before"), ctx.get("cpu_freq_mhz_after")]
    out["busy"] = bool(ctx.get("busy"))
    return out


def estimator_table(
    archs: list[ArchConfig], per_arch: dict[str, list[dict[str, Any]]], corrected: bool
) -> dict[str, dict[str, float | None]]:
    """Agreement between the passes per estimator (``<name>/ref`` rows: drift-corrected)."""
    rows: dict[str, dict[str, float | None]] = {}
    for name in ESTIMATORS:
        a, b = ([per_arch[c.arch_id][i][name] for c in archs] for i in (0, 1))
        rows[name] = agreement(a, b)
    if corrected:
        for name in ESTIMATORS:
            a, b = (
                [
                    per_arch[c.arch_id][i][name] / per_arch[c.arch_id][i][f"ref_{name}"]
                    for c in archs
                ]
                for i in (0, 1)
            )
            rows[f"{name}/ref"] = agreement(a, b)
    return rows


def pass_figures(p: Pass, per_arch: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """One pass's conditions: wall time, load, frequency range, and the reference's drift."""
    ests = [per_arch[a][p.index] for a in p.items]
    freqs = [f for e in ests for f in e["freq_mhz"] if f is not None]
    out: dict[str, Any] = {
        "wall_s": round(p.wall_s, 1),
        "load_before": p.load_before,
        "load_after": p.load_after,
        "freq_mhz": {"min": min(freqs), "max": max(freqs)} if freqs else None,
        "freq_readings": len(freqs),
    }
    if any(t.reference is not None for t in p.items.values()):
        ordered = sorted(ests, key=lambda e: e["at_s"])
        refs = [e["ref_median"] for e in ordered]
        out["reference_median_ms"] = {
            "min": min(refs),
            "median": statistics.median(refs),
            "max": max(refs),
            "max_over_min": max(refs) / min(refs),
            "pearson_with_time": pearson([e["at_s"] for e in ordered], refs),
        }
    return out


def arm_figures(archs: list[ArchConfig], passes: tuple[Pass, Pass]) -> dict[str, Any]:
    """Everything about one arm (two passes): per arch, per pass, per estimator."""
    per_arch = {
        c.arch_id: [estimates(passes[0].items[c.arch_id]), estimates(passes[1].items[c.arch_id])]
        for c in archs
    }
    corrected = all(t.reference is not None for p in passes for t in p.items.values())
    all_ests = [e for pair in per_arch.values() for e in pair]
    out: dict[str, Any] = {
        "median_cv": statistics.median(e["cv"] for e in all_ests),
        "median_n": statistics.median(e["n"] for e in all_ests),
        "min_n": min(e["n"] for e in all_ests),
        "stop_reasons": dict(Counter(str(e["stop_reason"]) for e in all_ests).most_common()),
        "busy_flagged": sum(e["busy"] for e in all_ests),
        "measurements": len(all_ests),
        "estimators": estimator_table(archs, per_arch, corrected),
        "passes": [pass_figures(p, per_arch) for p in passes],
        "per_arch": per_arch,
    }
    if corrected:
        ref_medians = [out["passes"][i]["reference_median_ms"]["median"] for i in (0, 1)]
        out["reference_pass2_over_pass1"] = ref_medians[1] / ref_medians[0]
    return out


def parallel_figures(
    archs: list[ArchConfig], settings: MeasureSettings, sequential: Pass
) -> dict[str, Any]:
    """Two Measurers at once on cores 0 and 1 (one pass each, the second reversed), compared
    with each other and with the sequential unpinned pass 1 (medians)."""
    cores = sorted(os.sched_getaffinity(0))[:2]
    slots: list[Pass | None] = [None, None]

    def slot(i: int) -> None:
        slots[i] = run_pass(archs, settings, [cores[i]], reverse=bool(i), arm=f"core {cores[i]}")

    t0 = time.monotonic()
    threads = [threading.Thread(target=slot, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [s for s in slots if s is not None]
    if len(done) != 2:
        raise SystemExit("error: a parallel slot failed (see its traceback above)")

    def medians(p: Pass) -> list[float]:
        return [p.items[c.arch_id].result.latency_ms.median for c in archs]

    ratio = [m / s for p in done for m, s in zip(medians(p), medians(sequential), strict=True)]
    return {
        "cores": cores,
        "wall_s": round(time.monotonic() - t0, 1),
        "load_after": _loadavg(),
        "slot_vs_slot": agreement(medians(done[0]), medians(done[1])),
        "sequential_vs_slot1": agreement(medians(sequential), medians(done[0])),
        "ratio_to_sequential": {
            "median": statistics.median(ratio),
            "min": min(ratio),
            "max": max(ratio),
        },
    }


# ---------------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--archs", type=int, default=30, help=f"3-{MAX_ARCHS}")
    parser.add_argument("--quick", action="store_true", help="a small run: 8 archs, 3 s budget")
    parser.add_argument("--protocol", default="full", choices=["full", "quick"])
    parser.add_argument("--pin", type=int, metavar="CPU", help="add an arm pinned to this core")
    parser.add_argument("--reference", action="store_true", help="time middle() before each")
    parser.add_argument("--parallel", action="store_true", help="also two pinned slots at once")
    parser.add_argument("--space", default="default", choices=sorted(SPACES))
    parser.add_argument("--runtime", default="torch", choices=["torch", "onnxruntime"])
    parser.add_argument("--backbone", default=None, choices=backbone_names())
    parser.add_argument("--seq-len", type=int, default=192)
    parser.add_argument("--budget", type=float, default=10.0, help=f"seconds, <= {MAX_BUDGET_S}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.archs, args.budget = 8, 3.0
    if not 3 <= args.archs <= MAX_ARCHS:
        parser.error(f"--archs: between 3 and {MAX_ARCHS}; got {args.archs}")
    if not 0 < args.budget <= MAX_BUDGET_S:
        parser.error(f"--budget: above 0 and at most {MAX_BUDGET_S} s; got {args.budget}")
    if not 1 <= args.seq_len <= 4096:
        parser.error(f"--seq-len: between 1 and 4096; got {args.seq_len}")
    if args.seed < 0:
        parser.error(f"--seed: 0 or more; got {args.seed}")
    if args.pin is not None and args.pin not in os.sched_getaffinity(0):
        parser.error(f"--pin: core {args.pin} is not one this process may use")
    if args.parallel and len(os.sched_getaffinity(0)) < 2:
        parser.error("--parallel needs two cores")
    return args


def distinct_archs(space: SearchSpace, n: int, seed: int) -> list[ArchConfig]:
    """``n`` distinct random architectures of ``space`` (seeded)."""
    rng = np.random.default_rng(seed)
    out: dict[str, ArchConfig] = {}
    for _ in range(100 * n):
        cfg = sample(space, rng)
        out.setdefault(cfg.arch_id, cfg)
        if len(out) == n:
            return list(out.values())
    raise SystemExit(f"error: the space has fewer than {n} distinct architectures")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print its figures (text, or JSON with ``--json``) and return them."""
    args = parse_args(argv)
    given = SPACES[args.space]
    if given is None:
        space = default_space(args.backbone or "gpt2")
    else:
        space = SearchSpace.from_dict(given, backbone=args.backbone)
    archs = distinct_archs(space, args.archs, args.seed)
    full = MeasureSettings(
        runtime=args.runtime, seq_len=args.seq_len, time_budget_s=args.budget, measure_memory=False
    )
    settings = quick_settings(full) if args.protocol == "quick" else full
    reference = (space.middle(), quick_settings(full)) if args.reference else None
    arms: dict[str, list[int] | None] = {"unpinned": None}
    if args.pin is not None:
        arms[f"core {args.pin}"] = [args.pin]
    result: dict[str, Any] = {
        "config": {
            "space": args.space,
            "backbone": space.backbone,
            "archs": [c.arch_id for c in archs],
            "seed": args.seed,
            "protocol": args.protocol,
            "settings": settings.model_dump(),
            "reference": None if reference is None else reference[0].arch_id,
            "reference_settings": None if reference is None else reference[1].model_dump(),
            "cores": os.cpu_count(),
            "affinity": sorted(os.sched_getaffinity(0)),
            "governor": _governor(args.pin or 0),
        },
        "load_before": _loadavg(),
    }
    t0 = time.monotonic()
    passes: dict[str, list[Pass]] = {name: [] for name in arms}
    for i in (0, 1):  # the arms alternate pass by pass
        for name, cpus in arms.items():
            p = run_pass(archs, settings, cpus, bool(i), reference, arm=name, index=i)
            passes[name].append(p)
    result["arms"] = {name: arm_figures(archs, (ps[0], ps[1])) for name, ps in passes.items()}
    result["parallel"] = (
        parallel_figures(archs, settings, passes["unpinned"][0]) if args.parallel else None
    )
    result["wall_s"] = round(time.monotonic() - t0, 1)
    result["load_after"] = _loadavg()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_text(result)
    return result


# ---------------------------------------------------------------------------------- text
def print_text(result: dict[str, Any]) -> None:
    cfg, s = result["config"], result["config"]["settings"]
    print(
        f"{len(cfg['archs'])} random {cfg['backbone']} archs of the {cfg['space']} space "
        f"(seed {cfg['seed']}), {cfg['protocol']} protocol: runtime {s['runtime']}, "
        f"{s['threads']} thread, seq {s['seq_len']}, budget {s['time_budget_s']} s, "
        f"warm-up {s['warmup_runs']} runs / {s['warmup_s']} s, min {s['min_runs']} runs / "
        f"{s['min_time_s']} s, target {s['target_rel_ci']}; cores {cfg['cores']} "
        f"(may use {cfg['affinity']}), governor {cfg['governor'] or 'unreadable'}"
    )
    if cfg["reference"] is not None:
        print(f"reference (quick protocol, before every candidate): {cfg['reference']}")
    print(f"load average before {_fmt_load(result['load_before'])}")
    for name, arm in result["arms"].items():
        print(
            f"\n[{name}] median cv {_pct(arm['median_cv'])}, timed runs median "
            f"{arm['median_n']:g} min {arm['min_n']}, stopped by "
            + ", ".join(f"{reason} {k}" for reason, k in arm["stop_reasons"].items())
            + f", busy-flagged {arm['busy_flagged']}/{arm['measurements']}"
        )
        for i, p in enumerate(arm["passes"], 1):
            print(f"  pass {i}: {_pass_line(p)}")
        if "reference_pass2_over_pass1" in arm:
            print(f"  reference median, pass 2 / pass 1: {arm['reference_pass2_over_pass1']:.4f}")
        print(f"  {'estimator':<14}{'spearman':>10}{'|diff| median':>15}{'|diff| max':>12}")
        for est, row in arm["estimators"].items():
            print(
                f"  {est:<14}{_num(row['spearman']):>10}{_pct(row['rel_diff_median']):>15}"
                f"{_pct(row['rel_diff_max']):>12}"
            )
    par = result["parallel"]
    if par is not None:
        a, b = par["cores"]
        print(f"\nparallel slots (cores {a} and {b}) took {par['wall_s']:.0f} s")
        for label, key in (
            (f"slot core {a} vs slot core {b}", "slot_vs_slot"),
            ("sequential pass 1 vs parallel slot 1", "sequential_vs_slot1"),
        ):
            row = par[key]
            print(
                f"  {label}: spearman {_num(row['spearman'])}, |median diff| median "
                f"{_pct(row['rel_diff_median'])} max {_pct(row['rel_diff_max'])}"
            )
        r = par["ratio_to_sequential"]
        print(
            f"  parallel / sequential median ratio: median {r['median']:.3f}, "
            f"min {r['min']:.3f}, max {r['max']:.3f}"
        )
    print(f"\ntook {result['wall_s']:.0f} s; load average after {_fmt_load(result['load_after'])}")


def _pass_line(p: dict[str, Any]) -> str:
    f = p["freq_mhz"]
    freq = f"{f['min']:.0f}-{f['max']:.0f} ({p['freq_readings']} readings)" if f else "unreadable"
    line = (
        f"{p['wall_s']:.0f} s, load {_fmt_load(p['load_before'])} -> "
        f"{_fmt_load(p['load_after'])}, cpu MHz {freq}"
    )
    ref = p.get("reference_median_ms")
    if ref is not None:
        line += (
            f"; reference median ms min {ref['min']:.3f} / median {ref['median']:.3f} / max "
            f"{ref['max']:.3f} (max/min {ref['max_over_min']:.3f}, r with time "
            f"{_num(ref['pearson_with_time'])})"
        )
    return line


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _fmt_load(load: list[float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def _governor(cpu: int) -> str | None:
    """The core's cpufreq governor, or None where unreadable."""
    try:
        with open(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor") as f:
            return f.read().strip()
    except OSError:
        return None


if __name__ == "__main__":
    main()
