"""What a second slot buys: the same seeded candidates measured on one agent with 1, then 2 slots.

Draws one seeded list of ``--count`` distinct random candidates of the space and measures them
through the search's own path (:class:`DeviceEvaluator` over a :class:`Dispatcher`, jobs of
``--batch-size``) on a real local agent started with ``--slots 1``, then on another one with
``--slots 2`` (both started at once; the second idles during the first run), each into a fresh
SQLite store (so nothing is a cache hit; one warm-up job per slot before each run, into a
store of its own, pays the agent's one-time costs). It prints, per run:

- candidates per hour: ``--count`` / the wall time of the measurement (agent start and warm-up
  excluded) x 3600;
- agent-seconds per candidate: the sum of each new measurement's ``item_s`` (the agent's own
  time for the item: build, warm-up, timed runs, memory pass) / ``--count``;
- concurrency: agent-seconds / wall seconds (how many slots were busy on average);

and across runs: candidates per hour 2-slot / 1-slot, and the contention, the median over the
candidates measured in both runs of (median latency with 2 slots) / (with 1 slot), above 1
where the two slots slow each other down (shared caches, memory bandwidth, clocks). The load
average before and after says how quiet the machine was.

``--one-job`` keeps one job in flight (the dispatcher before streaming: a slot that finishes
the last items of a job early waits for the others); run once with and once without it to see
what streaming gains. The measurement settings default to the agent's (today's protocol); the
options below shorten it.

    python benchmarks/slots_throughput.py [--space default|demo|tiny] [--backbone gpt2]
        [--count 32] [--seed 0] [--batch-size 16] [--one-job] [--time-budget-s S]
        [--warmup-runs N] [--warmup-s S] [--min-runs N] [--min-time-s S] [--no-memory]
        [--keep DIR] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from lts.controller.client import AgentClient
from lts.controller.search.dispatch import Dispatcher
from lts.controller.search.evaluation import DeviceEvaluator, Evaluation
from lts.controller.search.local_agent import LocalAgent
from lts.controller.search.operators import sample
from lts.controller.search.small_spaces import DEMO_SPACE, TINY_SPACE
from lts.controller.store import Store
from lts.shared.backbones import backbone_names
from lts.shared.config import ArchConfig
from lts.shared.schemas import MeasureSettingsIn
from lts.shared.space import SearchSpace, default_space

SPACES: dict[str, dict[str, Any] | None] = {"default": None, "demo": DEMO_SPACE, "tiny": TINY_SPACE}
MAX_COUNT, MAX_BATCH = 10_000, 256
#: The protocol options: (option, MeasureSettings field).
PROTOCOL = (("--time-budget-s", "time_budget_s"), ("--warmup-runs", "warmup_runs"),
            ("--warmup-s", "warmup_s"), ("--min-runs", "min_runs"),
            ("--min-time-s", "min_time_s"))  # fmt: skip
AGENT_TIME_SOURCE = "item_s of each measurement's context (the agent's time for the item)"


@dataclass
class Run:
    """One agent's figures."""

    slots: int
    one_job: bool
    db: str
    wall_s: float
    measured: int
    failed: int
    agent_s: float
    candidates_per_hour: float
    agent_s_per_candidate: float
    concurrency: float
    latency_ms: dict[str, float]  # by arch id, the successful ones


# ---------------------------------------------------------------------------- arguments
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--space", default="demo", choices=list(SPACES))
    parser.add_argument("--backbone", default=None, choices=backbone_names(),
                        help="the default space's backbone")  # fmt: skip
    parser.add_argument("--count", type=int, default=32, help="candidates measured per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16, help="items per job (the search's)")
    parser.add_argument("--one-job", action="store_true", help="one job in flight at a time")
    parser.add_argument("--time-budget-s", type=float, default=None)
    parser.add_argument("--warmup-runs", type=int, default=None)
    parser.add_argument("--warmup-s", type=float, default=None)
    parser.add_argument("--min-runs", type=int, default=None)
    parser.add_argument("--min-time-s", type=float, default=None)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory pass")
    parser.add_argument("--keep", type=Path, default=None, help="keep the stores and logs in DIR")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    for name, low, high in (("count", 1, MAX_COUNT), ("batch_size", 1, MAX_BATCH)):
        value = getattr(args, name)
        if not low <= value <= high:
            parser.error(f"--{name.replace('_', '-')}: must be in [{low}, {high}], got {value}")
    if args.seed < 0:
        parser.error(f"--seed: must be >= 0, got {args.seed}")
    for option, name in PROTOCOL:
        try:
            MeasureSettingsIn(**{name: getattr(args, name)})
        except ValidationError as exc:
            parser.error(f"{option}: {exc.errors()[0]['msg']}, got {getattr(args, name)}")
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep: {args.keep} is not empty")
    given: dict[str, Any] = {name: getattr(args, name) for _, name in PROTOCOL}
    given["measure_memory"] = False if args.no_memory else None
    args.overrides = MeasureSettingsIn(**given)
    return args


def space_of(args: argparse.Namespace) -> SearchSpace:
    given = SPACES[args.space]
    if given is None:
        return default_space(args.backbone or "gpt2")
    return SearchSpace.from_dict(given, backbone=args.backbone)


def candidates(space: SearchSpace, count: int, seed: int) -> list[ArchConfig]:
    """``count`` distinct random architectures of ``space`` (one seeded generator)."""
    rng = np.random.default_rng(seed)
    found: dict[str, ArchConfig] = {}
    for _ in range(100 * count):
        cfg = sample(space, rng)
        found.setdefault(cfg.arch_id, cfg)
        if len(found) == count:
            return list(found.values())
    raise SystemExit(f"error: --count: found only {len(found)} distinct candidates in the space")


# -------------------------------------------------------------------------------- a run
def run_slots(
    agent: LocalAgent, slots: int, cfgs: list[ArchConfig], args: argparse.Namespace, where: Path
) -> Run:
    """Measure ``cfgs`` on the started ``agent`` (of ``slots`` slots) into a fresh store;
    stop the agent after."""
    db = where / f"slots-{slots}.sqlite"
    space = space_of(args)

    async def measure() -> tuple[float, dict[str, Evaluation]]:
        async with AgentClient(agent.url, label=agent.name) as client:
            dispatcher = Dispatcher(client, batch_size=args.batch_size,
                                    max_jobs=1 if args.one_job else None)  # fmt: skip
            info = await dispatcher.call(client.device)
            dispatcher.slots = info.slots
            settings = args.overrides.resolve(info.defaults)
            with Store.open(where / f"warmup-{slots}.sqlite") as store:  # one-time costs
                device = store.upsert_device(agent.name, info, agent.url)
                warm = [space.smallest(), space.middle()][:slots]
                await DeviceEvaluator(store, device, dispatcher).evaluate(warm, settings)
            with Store.open(db) as store:
                device = store.upsert_device(agent.name, info, agent.url)
                t0 = time.monotonic()
                evals = await DeviceEvaluator(store, device, dispatcher).evaluate(cfgs, settings)
                return time.monotonic() - t0, evals

    try:
        wall, evals = asyncio.run(measure())
    finally:
        agent.stop()
    new = [e for e in evals.values() if not e.cache_hit]
    ok = {a: e.measurement.values.get("latency") for a, e in evals.items() if e.measurement.ok}
    agent_s = sum(_item_s(e.measurement.context) for e in new)
    return Run(
        slots=slots,
        one_job=args.one_job,
        db=str(db),
        wall_s=round(wall, 2),
        measured=len(new),
        failed=sum(not e.measurement.ok for e in new),
        agent_s=round(agent_s, 2),
        candidates_per_hour=round(len(cfgs) / wall * 3600, 1),
        agent_s_per_candidate=round(agent_s / len(cfgs), 3),
        concurrency=round(agent_s / wall, 2),
        latency_ms={a: latency for a, latency in ok.items() if latency},
    )


def _item_s(context: dict[str, Any]) -> float:
    value = context.get("item_s")
    return float(value) if isinstance(value, int | float) else 0.0


# ---------------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print its figures (text, or JSON with ``--json``) and return them."""
    args = parse_args(argv)
    cfgs = candidates(space_of(args), args.count, args.seed)
    with tempfile.TemporaryDirectory(prefix="lts-slots-") as tmp:
        where = args.keep if args.keep is not None else Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        load_before = _load()
        agents = [LocalAgent(name=f"bench-{slots}", log_path=where / f"agent-{slots}.log",
                             extra=["--slots", str(slots)]) for slots in (1, 2)]  # fmt: skip
        try:
            for agent in agents:  # both start at once (the second idles during the first run)
                agent.launch()
            for agent in agents:
                agent.wait_ready()
            one = run_slots(agents[0], 1, cfgs, args, where)
            two = run_slots(agents[1], 2, cfgs, args, where)
        finally:
            for agent in agents:
                agent.stop()
    both = [a for a in one.latency_ms if a in two.latency_ms]
    contention = [two.latency_ms[a] / one.latency_ms[a] for a in both]
    result = {
        "space": args.space,
        "count": args.count,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "jobs_in_flight": "one" if args.one_job else "streaming",
        "settings": args.overrides.model_dump(exclude_none=True),
        "cores": os.cpu_count(),
        "load_avg_before": load_before,
        "load_avg_after": _load(),
        "agent_time_source": AGENT_TIME_SOURCE,
        "runs": [_public(one), _public(two)],
        "throughput_ratio": round(two.candidates_per_hour / one.candidates_per_hour, 3),
        "contention_median": round(statistics.median(contention), 3) if contention else None,
        "contention_of": len(contention),
        "kept": str(where) if args.keep is not None else None,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_text(result)
    return result


def _public(run: Run) -> dict[str, Any]:
    out = asdict(run)
    out.pop("latency_ms")
    return out


def print_text(result: dict[str, Any]) -> None:
    print(
        f"slots throughput: {result['count']} candidates of space {result['space']}, seed "
        f"{result['seed']}, jobs of {result['batch_size']}, jobs in flight: "
        f"{result['jobs_in_flight']}, settings {result['settings'] or 'the agent defaults'}; "
        f"{result['cores']} cores, load average before {result['load_avg_before']}, after "
        f"{result['load_avg_after']}"
    )
    print(f"agent time: {result['agent_time_source']}")
    one, two = result["runs"]
    rows = [("wall seconds", "wall_s", "{:.1f}"), ("measured", "measured", "{}"),
            ("failed", "failed", "{}"), ("candidates per hour", "candidates_per_hour", "{:.0f}"),
            ("agent-s per candidate", "agent_s_per_candidate", "{:.2f}"),
            ("concurrency (agent-s / wall-s)", "concurrency", "{:.2f}")]  # fmt: skip
    print(f"{'':<32} {'1 slot':>10} {'2 slots':>10}")
    for label, key, fmt in rows:
        print(f"{label:<32} {fmt.format(one[key]):>10} {fmt.format(two[key]):>10}")
    print(f"candidates per hour, 2 slots / 1 slot: {result['throughput_ratio']:.3f}")
    contention = result["contention_median"]
    shown = "-" if contention is None else f"{contention:.3f}"
    print(f"contention, median latency 2 slots / 1 slot over {result['contention_of']} "
          f"candidates: {shown}")  # fmt: skip
    if result["kept"]:
        print(f"stores and agent logs kept in {result['kept']}")


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


if __name__ == "__main__":
    main(sys.argv[1:])
