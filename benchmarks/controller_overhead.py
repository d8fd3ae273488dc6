"""The controller's own overhead per search iteration, measurement excluded.

Runs the real search loop (algorithm, evaluation layer, dispatch, SQLite store on a temporary
file in WAL mode, state written every iteration) against an in-process agent that answers
every job at once with figures computed from the config, so that all time spent is the
controller's. Also times the algorithm alone (ask + tell + frontier + hypervolume) and
reports per-iteration and per-candidate figures. Defaults: the paper's search (population
100 = 20 + 40 + 40, default GPT-2 space, 16 baselines, final re-measurement) for 10
iterations.

    python benchmarks/controller_overhead.py [--iterations 10] [--population 100] [--parents 20]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from lts.controller.agents import AgentSpec
from lts.controller.search.algorithms import LTSSearch, Outcome, SearchParams
from lts.controller.search.config import SearchConfig
from lts.controller.search.dispatch import RetryPolicy
from lts.controller.search.runner import SearchRunner, start_search
from lts.controller.store import Store
from lts.shared.config import ArchConfig
from lts.shared.params import count_params
from lts.shared.schemas import (
    DeviceInfo,
    JobItemCreate,
    JobItemPublic,
    JobPublic,
    LatencyStats,
    MeasurementResult,
    MeasureSettings,
)


def figures(cfg: ArchConfig) -> tuple[float, float]:
    counts = count_params(cfg)
    jitter = (int(cfg.arch_id[:6], 16) % 1000) / 1000
    return counts.decoder / 2e6 * (0.8 + 0.4 * jitter), 20 + counts.total * 4 / 2**20


class InstantAgent:
    """Answers every job at once: no measurement time at all."""

    label = url = "instant"

    def __init__(self) -> None:
        self.info = DeviceInfo(
            name="instant", fingerprint="instant", hostname="h", os="linux", machine="x86_64",
            cpu_model="none", cores_logical=1, memory_total_mb=1.0, defaults=MeasureSettings(),
        )  # fmt: skip
        self.jobs: dict[str, JobPublic] = {}
        self.ids = itertools.count()

    async def device(self) -> DeviceInfo:
        return self.info

    async def submit(self, items: list[JobItemCreate]) -> JobPublic:
        done = []
        for i, item in enumerate(items):
            cfg = ArchConfig.from_dict(item.arch)
            settings = item.settings.resolve(self.info.defaults)
            latency, memory = figures(cfg)
            stats = LatencyStats(median=latency, p10=latency, p90=latency, mean=latency,
                                 min=latency, cv=0.0, n=10, samples=[latency] * 10)  # fmt: skip
            result = MeasurementResult(
                arch_id=cfg.arch_id, latency_ms=stats, peak_memory_mb=memory, settings=settings
            )
            done.append(JobItemPublic(index=i, status="done", arch_id=cfg.arch_id, result=result))
        job = JobPublic(id=f"j{next(self.ids)}", status="done", created_at="now", items=done)
        self.jobs[job.id] = job
        return job

    async def job(self, job_id: str, **_: object) -> JobPublic:
        return self.jobs[job_id]

    async def cancel(self, job_id: str) -> JobPublic:
        return self.jobs[job_id]

    async def aclose(self) -> None:
        pass


def algorithm_only(iterations: int, population: int, parents: int) -> float:
    from lts.shared.space import default_space

    params = SearchParams(iterations=iterations, population=population, parents=parents)
    algo = LTSSearch(default_space("gpt2"), params, np.random.default_rng(0))
    t0 = time.perf_counter()
    while not algo.done:
        proposals = algo.ask()
        algo.tell({p.arch_id: Outcome(dict(zip(("latency", "memory"), figures(p.cfg),
                                                strict=True))) for p in proposals})  # fmt: skip
    return time.perf_counter() - t0


def full_loop(iterations: int, population: int, parents: int) -> tuple[float, int, int]:
    from lts.shared.space import default_space

    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "bench.sqlite") as store:
        config = SearchConfig.build(
            agents=["instant"], space=default_space("gpt2").to_dict(), iterations=iterations,
            population=population, parents=parents, batch_size=256,
        )  # fmt: skip
        sid = start_search(store, config).id
        runner = SearchRunner(
            store, sid, [AgentSpec("instant", "http://instant")],
            client_factory=lambda spec: InstantAgent(),  # type: ignore[arg-type,return-value]
            policy=RetryPolicy(poll_s=0.0),
        )  # fmt: skip
        t0 = time.perf_counter()
        asyncio.run(runner.run())
        elapsed = time.perf_counter() - t0
        return elapsed, len(store.candidates(sid)), store.count_measurements()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--population", type=int, default=100)
    parser.add_argument("--parents", type=int, default=20)
    args = parser.parse_args()
    n, pop, par = args.iterations, args.population, args.parents
    print(f"{n} iterations, population {pop} ({par} parents); cores {os.cpu_count()}; "
          f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
    t_algo = algorithm_only(n, pop, par)
    print(
        f"algorithm only (ask + tell, frontier, hypervolume): {t_algo / n * 1000:.1f} ms/iteration"
    )
    elapsed, candidates, measurements = full_loop(n, pop, par)
    print(
        f"full controller loop (store, evaluation, dispatch, algorithm): {elapsed:.2f} s for "
        f"{candidates} candidates and {measurements} measurements stored (baselines and final "
        f"re-measurement included)"
    )
    print(f"  = {elapsed / n * 1000:.0f} ms/iteration, {elapsed / measurements * 1000:.2f} ms "
          "per stored measurement")  # fmt: skip


if __name__ == "__main__":
    main()
