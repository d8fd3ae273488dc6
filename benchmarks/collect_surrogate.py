"""Measure random architectures on a real local agent and fit a surrogate device from them.

Two steps (both by default; ``--collect-only``, ``--fit-only``):

1. **collect**: starts a real local agent (:class:`LocalAgent`, ``--slots``) and measures
   ``--gpt2`` random architectures of the default GPT-2 space and ``--transxl`` of the default
   Transformer-XL space (the search's own sampler, seeded), each twice through the REST API
   (``POST /jobs``, ``GET /jobs/{id}``): once with the agent's default settings (prefill latency,
   full protocol, peak memory) and once timing one decode step (``metric`` ``decode``, the same
   quantity as ``decode_latency_ms`` of the ``decode`` setting, without the memory pass). The raw
   figures (median, p10, p90 and run count of each latency, the peak memory, the agent's time
   per item) go to ``--data`` (JSON, a few hundred KB at most) with the machine's load average
   before and after, the agent's ``/device`` and the settings.
2. **fit**: reads ``--data`` and fits a :class:`~lts.shared.surrogate.Surrogate` (one
   non-negative linear model per quantity over the features of :mod:`lts.shared.costs`, on
   relative error), prints each quantity's held-out error (repeated 5-fold cross-validation:
   median and p90 absolute relative error) and writes the surrogate to ``--out`` with
   ``--sigma`` (the log-normal noise a simulated agent applies; default: the fit's own held-out
   spread, per quantity).

The data need not be quiet timings: the surrogate is the *shape* of a CPU device (the load
average is recorded so the reader can judge), for planning searches and comparing algorithms.

    python benchmarks/collect_surrogate.py [--gpt2 100] [--transxl 60] [--seed 2026]
        [--slots 2] [--data benchmarks/data/surrogate-measurements.json]
        [--out benchmarks/data/surrogate-cpu.json] [--collect-only | --fit-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from lts.controller.search.local_agent import LocalAgent
from lts.controller.search.operators import sample
from lts.shared.config import ArchConfig
from lts.shared.space import default_space

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "surrogate-measurements.json"
OUT = HERE / "data" / "surrogate-cpu.json"
BATCH = 8


def _architectures(backbone: str, n: int, seed: int) -> list[ArchConfig]:
    space = default_space(backbone)
    rng = np.random.default_rng(seed)
    out: dict[str, ArchConfig] = {}
    while len(out) < n:
        cfg = sample(space, rng)
        out.setdefault(cfg.arch_id, cfg)
    return list(out.values())


def _run_jobs(url: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Submit ``items`` in jobs of :data:`BATCH` and wait for all; one answer item each."""
    with httpx.Client(base_url=url, timeout=60.0) as client:
        jobs = []
        for i in range(0, len(items), BATCH):
            r = client.post("/jobs", json={"items": items[i : i + BATCH]})
            r.raise_for_status()
            jobs.append(r.json()["id"])
        out: list[dict[str, Any]] = []
        for job_id in jobs:
            while True:
                job = client.get(f"/jobs/{job_id}", params={"samples": "false"}).json()
                if job["status"] in ("done", "cancelled"):
                    out += job["items"]
                    break
                time.sleep(2.0)
        return out


def _latency(stats: dict[str, Any] | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {k: stats[k] for k in ("median", "p10", "p90", "min", "cv", "n")}


def collect(args: argparse.Namespace) -> None:
    archs = _architectures("gpt2", args.gpt2, args.seed) + _architectures(
        "transxl", args.transxl, args.seed + 1
    )
    load_before = os.getloadavg()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    with LocalAgent(name="surrogate-collect", extra=["--slots", str(args.slots)]) as agent:
        device = httpx.get(f"{agent.url}/device", timeout=30).json()
        prefill = [{"arch": c.to_dict(), "settings": {}} for c in archs]
        decode = [
            {"arch": c.to_dict(), "settings": {"metric": "decode", "measure_memory": False}}
            for c in archs
        ]
        print(f"measuring {len(archs)} architectures x 2 on {agent.url} ...", file=sys.stderr)
        answers = _run_jobs(agent.url, prefill + decode)
    load_after = os.getloadavg()
    rows = []
    for i, cfg in enumerate(archs):
        p, d = answers[i], answers[len(archs) + i]
        pr, dr = p.get("result") or {}, d.get("result") or {}
        rows.append(
            {
                "arch_id": cfg.arch_id,
                "arch": cfg.to_dict(),
                "prefill_ms": _latency(pr.get("latency_ms")),
                "decode_ms": _latency(dr.get("latency_ms")),
                "peak_memory_mb": pr.get("peak_memory_mb"),
                "item_s": [(pr.get("context") or {}).get("item_s"),
                           (dr.get("context") or {}).get("item_s")],
                "errors": [x for x in (p.get("error"), d.get("error")) if x],
                "prefill_settings": pr.get("settings") or p.get("settings"),
                "decode_settings": dr.get("settings") or d.get("settings"),
            }
        )
    meta = {
        "what": "raw measurements of random architectures of the default spaces on a real "
        "local agent (benchmarks/collect_surrogate.py)",
        "started": started,
        "wall_s": round(time.monotonic() - t0, 1),
        "seed": args.seed,
        "slots": args.slots,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "device": {k: device.get(k) for k in ("name", "cpu_model", "cores_logical",
                                              "memory_total_mb", "versions", "defaults")},
    }  # fmt: skip
    args.data.parent.mkdir(parents=True, exist_ok=True)
    args.data.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    failed = sum(bool(r["errors"]) for r in rows)
    print(f"wrote {args.data}: {len(rows)} architectures ({failed} with a failed item), "
          f"{meta['wall_s']} s, load {load_before[0]:.1f} -> {load_after[0]:.1f}")  # fmt: skip


def fit(args: argparse.Namespace) -> None:
    from lts.shared.surrogate import fit_surrogate

    data = json.loads(args.data.read_text())
    surrogate, report = fit_surrogate(data, sigma=args.sigma, seed=args.seed)
    for backbone, per in report.items():
        for quantity, f in per.items():
            print(f"{backbone:>8} {quantity:>8}: n {f['n']}, held-out (5-fold x 10) MdAPE "
                  f"{f['mdape']:.1%}, p90 {f['p90ape']:.1%}, log spread {f['spread']:.3f}; "
                  f"sigma {surrogate.sigma[backbone][quantity]:.3f}")  # fmt: skip
    args.out.write_text(json.dumps(surrogate.to_dict(), indent=1) + "\n")
    print(f"wrote {args.out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpt2", type=int, default=100)
    parser.add_argument("--transxl", type=int, default=60)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--sigma", type=float, default=None,
                        help="log-normal noise of the simulated agent (default: the fit's)")
    step = parser.add_mutually_exclusive_group()
    step.add_argument("--collect-only", action="store_true")
    step.add_argument("--fit-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.fit_only:
        collect(args)
    if not args.collect_only:
        fit(args)


if __name__ == "__main__":
    main()
