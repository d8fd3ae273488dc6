"""The search's measurement economy: the same seeded search twice on one real local agent.

Runs the *reference* (every candidate measured with today's full protocol) and a *candidate*
configuration (``--candidate NAME``, from :data:`CANDIDATES`) one after the other against
one local agent (``agent serve --slots N``), each into its own SQLite file, then measures
both final frontiers' members again with the full protocol on the same agent and prints,
per side and as a ratio (candidate / reference):

- agent-seconds: the sum, over the side's new measurements, of the agent's own time for the
  item (``item_s`` in each stored measurement's context: build, warm-up, timed runs and the
  memory pass, as the agent's supervisor times it);
- wall time of the side's search (controller included);
- candidates proposed / measured / cache hits / screened (0 until screening exists);
- forward-pass equivalents per measured candidate (its agent time / its median forward time);
- the hypervolume of the side's final frontier, both frontiers re-measured with the full
  protocol and normalised together (one ideal point, one reference point);
- the extrapolated wall time of a 30 x 100 search on one agent with this run's concurrency;
- the wall time of the side's final phase (the measurements that can change its frontier,
  with the full protocol: nothing for the reference, whose every figure is a full one) and
  its share of the side's wall time.

Both sides share everything but their overrides, and each runs its own final phase with the
search's default settings (``final_budget_factor`` 1: the full protocol); the hypervolumes
compare the two frontiers re-measured by the benchmark itself with one protocol. The
baselines are measured only with ``--baselines`` (what ``controller search`` does by default),
with each side's protocol: in full by the reference, quickly by a side that measures its
candidates quickly (its final phase then takes the baselines' comparisons in full, within
its time share). The reference runs first; one warm-up job before it
pays the agent's one-time costs.

    python benchmarks/search_economy.py [--space default|demo|tiny|FILE] [--backbone gpt2]
        [--iterations 2] [--population 8] [--seed 0] [--slots 2] [--candidate default]
        [--reference-from DIR]
        [--baselines] [--keep DIR] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lts.controller.agents import AgentSpec
from lts.controller.pareto import hypervolume, objectives
from lts.controller.proxies import get_proxy
from lts.controller.search.config import SearchConfig
from lts.controller.search.dispatch import Dispatcher
from lts.controller.search.evaluation import DeviceEvaluator
from lts.controller.search.local_agent import LocalAgent
from lts.controller.search.options import build_config
from lts.controller.search.runner import SearchRunner, default_client, start_search
from lts.controller.search.small_spaces import DEMO_SPACE, TINY_SPACE
from lts.controller.store import Store
from lts.shared.backbones import backbone_names
from lts.shared.config import ArchConfig
from lts.shared.errors import LTSError
from lts.shared.schemas import MeasureSettings

#: The reference side's overrides: every candidate measured with the full protocol, no
#: screening (what ``controller search --no-screen --measure full`` does).
REFERENCE: dict[str, Any] = {"screen": False, "measure_mode": "full"}

#: The candidate configurations, by name: overrides of the search's options (names of
#: :class:`lts.controller.search.options.SearchOptions`, as ``controller search`` takes them;
#: measurement settings such as ``time_budget_s`` included). Adding a configuration to judge
#: is adding an entry.
CANDIDATES: dict[str, dict[str, Any]] = {
    # The defaults: screening, decisions on quick measurements.
    "default": {},
    # Quick measurements, the full protocol where they leave frontier membership open.
    "race": {"measure_mode": "race"},
    # Quick measurements without screening.
    "quick": {"screen": False},
    # Screening with the full protocol.
    "screen": {"measure_mode": "full"},
    # The reference's own settings (ratios ~1, hypervolumes equal: the noise floor).
    "reference": dict(REFERENCE),
}

SPACES: dict[str, dict[str, Any] | None] = {"default": None, "demo": DEMO_SPACE, "tiny": TINY_SPACE}

#: The search the extrapolation is for (the paper's: 30 iterations of 100 candidates).
PAPER_ITERATIONS, PAPER_POPULATION = 30, 100

MAX_ITERATIONS, MAX_POPULATION, MAX_SLOTS = 100, 1000, 64

#: Where each measurement's agent time comes from (see the module doc).
AGENT_TIME_SOURCE = "item_s of each measurement's context (the agent's time for the item)"


@dataclass
class Side:
    """One side's figures."""

    name: str
    overrides: dict[str, Any]
    db: str
    status: str
    wall_s: float
    agent_s: float
    proposed: int
    measured: int
    cache_hits: int
    screened: int
    quick: int
    full: int
    measurements: int
    final_agent_s: float
    unresolved: int
    failed: int
    fwd_equiv_mean: float | None
    fwd_equiv_median: float | None
    agent_s_per_proposed: float | None
    agent_s_per_measured: float | None
    concurrency: float | None
    frontier: list[str]
    latency_mdape: float | None = None
    memory_mdape: float | None = None
    hypervolume: float | None = None
    extrapolated_s: float | None = None
    final_wall_s: float | None = None
    final_share: float | None = None


# ---------------------------------------------------------------------------- arguments
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--space", default="demo", help="default | demo | tiny | a TOML/JSON file")
    parser.add_argument("--backbone", default=None, choices=backbone_names())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slots", type=int, default=2, help="the agent's --slots")
    parser.add_argument("--candidate", default="default", help=", ".join(CANDIDATES))
    parser.add_argument(
        "--reference-from",
        type=Path,
        default=None,
        help="reuse the reference.sqlite kept in DIR by an earlier run of the same search",
    )
    parser.add_argument("--baselines", action="store_true", help="measure baselines too")
    parser.add_argument("--keep", type=Path, default=None, help="keep the stores in DIR")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    bounds = (("iterations", 1, MAX_ITERATIONS), ("population", 2, MAX_POPULATION),
              ("slots", 1, MAX_SLOTS))  # fmt: skip
    for name, low, high in bounds:
        value = getattr(args, name)
        if not low <= value <= high:
            parser.error(f"--{name}: must be in [{low}, {high}], got {value}")
    if args.seed < 0:
        parser.error(f"--seed: must be >= 0, got {args.seed}")
    if args.candidate not in CANDIDATES:
        parser.error(f"--candidate: one of {', '.join(CANDIDATES)}, got {args.candidate!r}")
    if args.space not in SPACES and not Path(args.space).is_file():
        parser.error(f"--space: default, demo, tiny or a TOML/JSON file; got {args.space!r}")
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep: {args.keep} is not empty")
    if args.reference_from is not None and not (args.reference_from / "reference.sqlite").is_file():
        parser.error(f"--reference-from: no reference.sqlite in {args.reference_from}")
    return args


def side_config(args: argparse.Namespace, overrides: dict[str, Any]) -> SearchConfig:
    """The search of one side: the common settings, then the side's ``overrides``."""
    given: dict[str, Any] = {
        "iterations": args.iterations,
        "population": args.population,
        "seed": args.seed,
        "baselines": args.baselines,
    }
    space = SPACES.get(args.space, Path(args.space)) if args.space != "default" else None
    if space is not None:
        given["space"] = space
    if args.backbone is not None:
        given["backbone"] = args.backbone
    if isinstance(space, dict):  # the small spaces: baselines of their own sizes and depths
        given["baseline_sizes"] = "space"
        n_layer = space["n_layer"]
        layers = n_layer if isinstance(n_layer, list) else range(n_layer["min"], n_layer["max"] + 1)
        given["baseline_layers"] = list(layers)
    given.update(overrides)
    return build_config(["bench"], given)


# ------------------------------------------------------------------------------- a side
def run_side(
    name: str, overrides: dict[str, Any], args: argparse.Namespace, spec: AgentSpec, where: Path
) -> tuple[Side, dict[str, ArchConfig]]:
    """Run one side's search into ``where/name.sqlite``; its figures and frontier configs."""
    config = side_config(args, overrides)
    db = where / f"{name}.sqlite"
    phases = PhaseClock()
    with Store.open(db) as store:
        sid = start_search(store, config, name=f"economy {name}").id
        runner = SearchRunner(store, sid, [spec], observer=phases)
        t0 = time.monotonic()
        outcome = asyncio.run(runner.run())
        wall = time.monotonic() - t0
    final = phases.seconds("final")
    (where / f"{name}.json").write_text(json.dumps({"wall_s": wall, "status": outcome.status,
                                                    "final_wall_s": final}))  # fmt: skip
    side, cfgs = side_figures(name, overrides, db, wall, outcome.status)
    side.final_wall_s = round(final, 2)
    side.final_share = round(final / wall, 3) if wall > 0 else None
    return side, cfgs


class PhaseClock:
    """A progress observer that times each phase (by name; every device's summed)."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._current: dict[int, tuple[str, float]] = {}

    def __call__(self, p: Any) -> None:
        now = time.monotonic()
        before = self._current.get(p.position)
        if before is not None and before[0] != p.phase:
            self.spent[before[0]] = self.spent.get(before[0], 0.0) + now - before[1]
        if before is None or before[0] != p.phase:
            self._current[p.position] = (p.phase, now)

    def seconds(self, phase: str) -> float:
        return self.spent.get(phase, 0.0)


def reuse_side(
    name: str, overrides: dict[str, Any], args: argparse.Namespace, source: Path, where: Path
) -> tuple[Side, dict[str, ArchConfig]]:
    """A side kept by an earlier run (``source/name.sqlite``), checked to be the same search."""
    db = where / f"{name}.sqlite"
    if db.resolve() != (source / f"{name}.sqlite").resolve():
        shutil.copyfile(source / f"{name}.sqlite", db)
        if (source / "remeasure.sqlite").is_file():  # its frontier's re-measurements: reused
            shutil.copyfile(source / "remeasure.sqlite", where / "remeasure.sqlite")
    wanted = side_config(args, overrides).model_dump(mode="json")
    with Store.open(db) as store:
        search = store.latest_search()
    if search is None:
        raise SystemExit(f"error: --reference-from: {source} holds no search")
    stored = search.settings
    keys = ("space", "iterations", "population", "seed", "baselines", "screen", "measure_mode")
    differ = [k for k in keys if stored.get(k) != wanted.get(k)]
    if differ:
        raise SystemExit(f"error: --reference-from: its search differs in {', '.join(differ)}")
    kept = json.loads((source / f"{name}.json").read_text())
    side, cfgs = side_figures(name, overrides, db, float(kept["wall_s"]), str(kept["status"]))
    if kept.get("final_wall_s") is not None:
        side.final_wall_s = round(float(kept["final_wall_s"]), 2)
        side.final_share = round(side.final_wall_s / side.wall_s, 3) if side.wall_s else None
    return side, cfgs


def side_figures(
    name: str, overrides: dict[str, Any], db: Path, wall: float, status: str
) -> tuple[Side, dict[str, ArchConfig]]:
    """A side's figures from its store: every measurement it took (quick ones included)."""
    with Store.open(db) as store:
        search = store.latest_search()
        assert search is not None
        sid = search.id
        joins = store.candidate_joins(sid)
        reported = store.reported(sid)
        frontier = sorted({r.arch_id for r in reported if r.role == "frontier"})
        devices = store.search_devices(sid)
    cost = devices[0].state.get("cost_model") if devices else None
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        rows = con.execute(
            "SELECT a.arch_id, m.context, v.value, m.settings_key, m.id FROM measurements m "
            "JOIN architectures a ON a.id = m.architecture_id "
            "LEFT JOIN measurement_values v ON v.measurement_id = m.id AND v.objective = 'latency'"
        ).fetchall()
    # The final phase's measurements (what could change the frontier, measured in
    # full for the reported figures) are not search-time cost: counted apart.
    linked = {j.candidate.measurement_id for j in joins}
    final_only = {r.final_measurement_id for r in reported} - linked
    full_key = {j.measurement.settings_key for j in joins
                if j.measurement is not None and j.candidate.measure in (None, "full")}  # fmt: skip
    spent: dict[str, float] = {}
    median: dict[str, float] = {}
    final_s = 0.0
    for arch_id, context, latency, key, mid in rows:
        if mid in final_only:
            final_s += agent_seconds(json.loads(context))
            continue
        spent[arch_id] = spent.get(arch_id, 0.0) + agent_seconds(json.loads(context))
        if latency and (arch_id not in median or key in full_key):
            median[arch_id] = float(latency)
    configs = {j.arch.arch_id: j.arch.to_config() for j in joins}
    searched = [j for j in joins if j.candidate.iteration >= 0]
    fwd = [spent[a] / (median[a] / 1e3) for a in spent if a in median and median[a] > 0]
    proposed = len(joins)
    measured = sum(1 for j in joins if j.candidate.cache_hit is False)
    agent_s = sum(spent.values())
    side = Side(
        name=name,
        overrides=overrides,
        db=str(db),
        status=status,
        wall_s=round(wall, 2),
        agent_s=round(agent_s, 2),
        proposed=proposed,
        measured=measured,
        cache_hits=sum(1 for j in joins if j.candidate.cache_hit is True),
        screened=sum(1 for j in searched if j.candidate.measure == "screened"),
        quick=sum(1 for j in searched if j.candidate.measure == "quick"),
        full=sum(
            1
            for j in joins
            if j.candidate.measure in (None, "full") and j.candidate.cache_hit is False
        ),
        measurements=len(rows) - len(final_only),
        final_agent_s=round(final_s, 2),
        unresolved=sum(
            1
            for j in joins
            if j.candidate.measurement_id is None and j.candidate.measure != "screened"
        ),
        failed=sum(
            1 for j in joins if j.measurement is not None and j.measurement.status == "failed"
        ),
        fwd_equiv_mean=round(statistics.fmean(fwd), 1) if fwd else None,
        fwd_equiv_median=round(statistics.median(fwd), 1) if fwd else None,
        agent_s_per_proposed=round(agent_s / proposed, 3) if proposed else None,
        agent_s_per_measured=round(agent_s / measured, 3) if measured else None,
        # The wall time includes the final phase: so does the agent time here.
        concurrency=round((agent_s + final_s) / wall, 2) if wall > 0 else None,
        frontier=frontier,
        latency_mdape=_error(cost, "latency"),
        memory_mdape=_error(cost, "memory"),
    )
    if side.agent_s_per_proposed is not None and side.concurrency:
        side.extrapolated_s = round(
            PAPER_ITERATIONS * PAPER_POPULATION * side.agent_s_per_proposed / side.concurrency, 1
        )
    return side, {a: configs[a] for a in frontier}


def _error(cost: dict[str, Any] | None, quantity: str) -> float | None:
    """The cost model's median held-out error for ``quantity`` (None without a model)."""
    if not cost or quantity not in cost:
        return None
    part = cost[quantity]
    return part.get("mdape") if part.get("mdape") is not None else part.get("loo_mdape")


def agent_seconds(context: dict[str, Any]) -> float:
    """The agent's time for one measurement (``item_s``; 0 where the agent did not say)."""
    value = context.get("item_s")
    return float(value) if isinstance(value, int | float) else 0.0


# ------------------------------------------------------------------- common re-measurement
async def measure_all(
    spec: AgentSpec, store: Store, cfgs: list[ArchConfig], settings: MeasureSettings | None
) -> dict[str, tuple[float | None, float | None]]:
    """Measure ``cfgs`` on the agent through ``store`` with ``settings`` (None: the agent's
    defaults): (latency ms, peak memory MB) by arch id, None for a failed one."""
    client = default_client(spec)
    try:
        dispatcher = Dispatcher(client)
        info = await dispatcher.call(client.device)
        device = store.upsert_device(spec.label, info, spec.url)
        evaluator = DeviceEvaluator(store, device, dispatcher)
        evals = await evaluator.evaluate(cfgs, settings or info.defaults)
        return {a: (e.measurement.values.get("latency"), e.measurement.values.get("memory"))
                for a, e in evals.items()}  # fmt: skip
    finally:
        await client.aclose()


async def full_settings(spec: AgentSpec, config: SearchConfig) -> MeasureSettings:
    """The reference's search-time settings on the agent (the full protocol)."""
    client = default_client(spec)
    try:
        info = await client.device()
    finally:
        await client.aclose()
    return config.settings_for(info.defaults)


def common_hypervolumes(
    fronts: dict[str, list[str]],
    figures: dict[str, tuple[float | None, float | None]],
    cfgs: dict[str, ArchConfig],
    proxy_name: str,
) -> dict[str, float]:
    """Each frontier's hypervolume in one normalisation: per objective, the ideal is the best
    value over both re-measured frontiers and the reference point the worst plus 10% of the
    range (as the search's own hypervolume), so each value is in (0, 1]."""
    proxy = get_proxy(proxy_name)
    ok = {a: (proxy(cfgs[a]), lat, mem) for a, (lat, mem) in figures.items()
          if lat is not None and mem is not None}  # fmt: skip
    every = objectives(list(ok.values()), proxy.higher_is_better)
    if len(every) == 0:
        return {name: 0.0 for name in fronts}
    ideal, worst = every.min(axis=0), every.max(axis=0)
    span = worst - ideal
    span[span == 0] = 1.0
    ref = worst + 0.1 * span
    out = {}
    for name, members in fronts.items():
        f = objectives([ok[a] for a in members if a in ok], proxy.higher_is_better)
        out[name] = round(hypervolume((f - ideal) / (ref - ideal), np.ones(3)), 6)
    return out


# ---------------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print its figures (text, or JSON with ``--json``) and return them."""
    args = parse_args(argv)
    try:
        reference_config = side_config(args, REFERENCE)
        side_config(args, CANDIDATES[args.candidate])  # invalid overrides fail before starting
    except LTSError as exc:
        raise SystemExit(f"error: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="lts-economy-") as tmp:
        where = args.keep if args.keep is not None else Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        load_before = _load()
        agent = LocalAgent(name="bench", log_path=where / "agent.log",
                           extra=["--slots", str(args.slots)])  # fmt: skip
        with agent:
            spec = AgentSpec("bench", agent.url)
            space = reference_config.search_space()
            with Store.open(where / "warmup.sqlite") as store:  # the agent's one-time costs
                warm = [space.smallest(), space.middle()][: args.slots]
                asyncio.run(measure_all(spec, store, warm, None))
            if args.reference_from is not None:
                reference, ref_cfgs = reuse_side(
                    "reference", REFERENCE, args, args.reference_from, where
                )
            else:
                reference, ref_cfgs = run_side("reference", REFERENCE, args, spec, where)
            candidate, cand_cfgs = run_side(
                args.candidate, CANDIDATES[args.candidate], args, spec, where
            )
            settings = asyncio.run(full_settings(spec, reference_config))
            cfgs = {**ref_cfgs, **cand_cfgs}
            t0 = time.monotonic()
            with Store.open(where / "remeasure.sqlite") as store:
                figures = asyncio.run(measure_all(spec, store, list(cfgs.values()), settings))
            remeasure_s = time.monotonic() - t0
        hv = common_hypervolumes(
            {"reference": reference.frontier, "candidate": candidate.frontier},
            figures,
            cfgs,
            reference_config.proxy,
        )
        reference.hypervolume, candidate.hypervolume = hv["reference"], hv["candidate"]
        result = {
            "space": args.space,
            "backbone": args.backbone or reference_config.space.get("backbone"),
            "iterations": args.iterations,
            "population": args.population,
            "seed": args.seed,
            "slots": args.slots,
            "cores": os.cpu_count(),
            "load_avg_before": load_before,
            "load_avg_after": _load(),
            "agent_time_source": AGENT_TIME_SOURCE,
            "remeasured": len(cfgs),
            "remeasure_wall_s": round(remeasure_s, 2),
            "sides": [asdict(reference), asdict(candidate)],
            "ratios": ratios(reference, candidate),
            "extrapolation": (
                f"{PAPER_ITERATIONS} x {PAPER_POPULATION} = {PAPER_ITERATIONS * PAPER_POPULATION}"
                " proposed x agent-s per proposed / concurrency (this run's agent-s / wall-s, "
                f"with --slots {args.slots}); baselines and the final phase left out"
            ),
            "kept": str(where) if args.keep is not None else None,
        }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_text(result)
    return result


def ratios(reference: Side, candidate: Side) -> dict[str, float | None]:
    """Candidate / reference of the figures that compare."""
    out: dict[str, float | None] = {}
    for name in ("agent_s", "wall_s", "agent_s_per_proposed", "fwd_equiv_mean", "hypervolume",
                 "extrapolated_s", "final_wall_s"):  # fmt: skip
        ref, cand = getattr(reference, name), getattr(candidate, name)
        out[name] = round(cand / ref, 3) if ref and cand is not None else None
    return out


def print_text(result: dict[str, Any]) -> None:
    print(
        f"search economy: space {result['space']} ({result['backbone']}), "
        f"{result['iterations']} x {result['population']}, seed {result['seed']}, "
        f"one local agent with --slots {result['slots']} on {result['cores']} cores; "
        f"load average before {result['load_avg_before']}, after {result['load_avg_after']}"
    )
    print(f"agent time: {result['agent_time_source']}")
    rows = [
        ("status", "status", "{}"),
        ("agent-seconds", "agent_s", "{:.1f}"),
        ("wall seconds", "wall_s", "{:.1f}"),
        ("concurrency (agent-s / wall-s)", "concurrency", "{:.2f}"),
        ("proposed", "proposed", "{}"),
        ("measured", "measured", "{}"),
        ("cache hits", "cache_hits", "{}"),
        ("screened (not measured)", "screened", "{}"),
        ("settled on a quick measurement", "quick", "{}"),
        ("measured with the full protocol", "full", "{}"),
        ("measurements taken", "measurements", "{}"),
        ("final phase, agent-s", "final_agent_s", "{:.1f}"),
        ("failed (of measured)", "failed", "{}"),
        ("agent-s per proposed", "agent_s_per_proposed", "{:.2f}"),
        ("agent-s per measured", "agent_s_per_measured", "{:.2f}"),
        ("fwd-pass equiv. per measured (mean)", "fwd_equiv_mean", "{:.1f}"),
        ("fwd-pass equiv. per measured (median)", "fwd_equiv_median", "{:.1f}"),
        ("frontier size", "frontier", "{}"),
        ("cost model latency MdAPE (held out)", "latency_mdape", "{:.3f}"),
        ("cost model memory MdAPE (held out)", "memory_mdape", "{:.3f}"),
        ("hypervolume (common normalisation)", "hypervolume", "{:.4f}"),
        ("extrapolated 30 x 100, min", "extrapolated_s", "{:.1f}"),
        ("final phase, wall seconds", "final_wall_s", "{:.1f}"),
        ("final phase, share of the wall time", "final_share", "{:.3f}"),
    ]
    ref, cand = result["sides"]
    print(f"{'':<40} {'reference':>12} {cand['name']:>12} {'ratio':>8}")
    for label, key, fmt in rows:
        a, b = ref[key], cand[key]
        if key == "frontier":
            a, b = len(a), len(b)
        if key == "extrapolated_s":
            a, b = (None if v is None else v / 60 for v in (a, b))
        ratio = result["ratios"].get(key)
        print(f"{label:<40} {_fmt(fmt, a):>12} {_fmt(fmt, b):>12} "
              f"{'' if ratio is None else f'{ratio:.3f}':>8}")  # fmt: skip
    print(
        f"both frontiers ({result['remeasured']} architectures) re-measured with the full "
        f"protocol in {result['remeasure_wall_s']:.1f} s wall; hypervolume in (0, 1]: ideal = "
        "best of both per objective, reference point = worst + 10% of the range"
    )
    print(f"extrapolation: {result['extrapolation']}")
    if result["kept"]:
        print(f"stores kept in {result['kept']}")


def _fmt(fmt: str, value: Any) -> str:
    return "-" if value is None else fmt.format(value)


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


if __name__ == "__main__":
    main(sys.argv[1:])
