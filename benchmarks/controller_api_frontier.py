"""Latency of ``GET /searches/{id}/frontier`` with 10,000 candidates in the store.

SYNTHETIC DATA: the store (a temporary SQLite file) is filled through the store's public API
with candidates sampled from the paper's GPT-2 space and made-up figures (latency from the
decoder parameters and depth with 3% noise, memory from the total parameters with 1% noise),
not with measurements: this benchmarks the API, not a device. Two searches of one device:

* ``done``: 100 iterations x 100 candidates, 16 baselines, the Pareto frontier (computed by
  ``controller.pareto``, as the runner does) re-measured and reported, as a finished search
  leaves it;
* ``running``: the same candidates, no report yet: the frontier is computed from every
  candidate on each change (a search in progress).

A real ``controller serve`` (uvicorn) answers on 127.0.0.1; an httpx client sends the
requests one after the other, accepting gzip (httpx's default) or not. Reported: the first
request (nothing cached), then p50/p95/max of the following ones (the rendered answer is kept
while the search is unchanged), and the time to build the answer without the cache
(``reads.read_frontier`` in this process). Filling the store takes minutes; ``--db`` keeps it
for the next run.

    python benchmarks/controller_api_frontier.py [--candidates 10000] [--requests 200] [--db F]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from lts.controller.api import reads
from lts.controller.pareto import frontier
from lts.controller.search.baselines import layer_scaled_baselines
from lts.controller.search.config import SearchConfig
from lts.controller.search.local_agent import free_port
from lts.controller.search.operators import sample
from lts.controller.search.runner import start_search
from lts.controller.store import Store
from lts.shared.config import ArchConfig
from lts.shared.params import count_params
from lts.shared.schemas import DeviceInfo, LatencyStats, MeasurementResult, MeasureSettings
from lts.shared.space import default_space

POPULATION = 100
DEVICE = "synthetic"


def synthetic_result(
    cfg: ArchConfig, settings: MeasureSettings, rng: np.random.Generator
) -> MeasurementResult:
    """Made-up figures (see the module docstring): not a measurement."""
    counts = count_params(cfg)
    latency = (0.2 + counts.decoder / 5e6 + 0.4 * cfg.n_layer) * (1 + 0.03 * rng.standard_normal())
    memory = (30 + counts.total * 4 / 2**20) * (1 + 0.01 * rng.standard_normal())
    samples = sorted(latency * (1 + 0.02 * rng.standard_normal(10)))
    stats = LatencyStats(median=latency, p10=samples[1], p90=samples[8], mean=latency,
                         min=samples[0], cv=0.02, n=10, samples=samples)  # fmt: skip
    return MeasurementResult(arch_id=cfg.arch_id, latency_ms=stats, peak_memory_mb=memory,
                             settings=settings, context={"synthetic": True})  # fmt: skip


def fill(store: Store, n_candidates: int, *, finished: bool, seed: int = 0) -> int:
    """One search on one synthetic device with ``n_candidates`` candidates; its id."""
    rng = np.random.default_rng(seed)
    space = default_space("gpt2")
    iterations = max(1, n_candidates // POPULATION)
    config = SearchConfig.build(agents=[DEVICE], space=space.to_dict(), seed=seed,
                                iterations=iterations, population=POPULATION)  # fmt: skip
    sid = start_search(store, config, name=f"synthetic-{'done' if finished else 'running'}").id
    info = DeviceInfo(name=DEVICE, fingerprint=DEVICE, hostname="synthetic", os="linux",
                      machine="x86_64", cpu_model="synthetic", cores_logical=1,
                      memory_total_mb=1024.0, defaults=MeasureSettings())  # fmt: skip
    did = store.upsert_device(DEVICE, info).id
    (sd,) = store.search_devices(sid)
    store.update_search_device(sd.id, device_id=did, status="running")
    settings = MeasureSettings(time_budget_s=2.0)
    key = settings.cache_key()
    baselines = layer_scaled_baselines(space, None, "paper")
    store.add_candidates(sid, did, -1, [(c, "baseline", ()) for c in baselines])
    base_ms = [store.add_measurement(c, did, key, result=synthetic_result(c, settings, rng))[0]
               for c in baselines]  # fmt: skip
    store.link_candidates(sid, did, -1, [(m.arch_id, m.id, False) for m in base_ms])
    seen: set[str] = set()
    points: list[tuple[ArchConfig, float, float]] = []
    for it in range(iterations):
        batch: list[ArchConfig] = []
        while len(batch) < POPULATION:
            cfg = sample(space, rng)
            if cfg.arch_id not in seen:
                seen.add(cfg.arch_id)
                batch.append(cfg)
        store.add_candidates(sid, did, it, [(c, "mutation", ()) for c in batch])
        links = []
        for cfg in batch:
            result = synthetic_result(cfg, settings, rng)
            m, new = store.add_measurement(cfg, did, key, result=result)
            links.append((cfg.arch_id, m.id, not new))
            points.append((cfg, m.values.get("latency", 0.0), m.values.get("memory", 0.0)))
        store.link_candidates(sid, did, it, links)
        store.complete_iteration(sd.id, it, hypervolume=0.5 + it / (2 * iterations),
                                 frontier_size=0, n_measured=len(points),
                                 state={})  # fmt: skip
    if finished:
        report(store, sid, did, sd.id, points, base_ms, settings, rng)
    return sid


def report(store, sid, did, sd_id, points, base_ms, settings, rng) -> None:
    """What the runner's final step leaves: frontier and baselines re-measured, reported."""
    f = [[-count_params(c).decoder, lat, mem] for c, lat, mem in points]
    members = [points[i][0] for i in frontier(f, "pareto")]
    final = settings.model_copy(update={"time_budget_s": 10.0})
    during = store.find_measurements([c.arch_id for c in members], did, settings.cache_key())
    entries = []
    for cfg in members:
        fm, _ = store.add_measurement(cfg, did, final.cache_key(),
                                      result=synthetic_result(cfg, final, rng))  # fmt: skip
        entries.append((cfg.arch_id, "frontier", during[cfg.arch_id].id, fm.id))
    for m in base_ms:
        entries.append((m.arch_id, "baseline", m.id, None))
    store.set_reported(sid, did, entries)
    store.update_search_device(sd_id, status="done")
    store.set_search_status(sid, "done")


def serve(db: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-c", "from lts.controller.cli import main; main()", "serve",
           "--db", str(db), "--port", str(port), "--log-level", "warning"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTS_CONTROLLER_")}
    proc = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("controller serve did not start")


def timed(client: httpx.Client, url: str, n: int) -> tuple[float, list[float], int]:
    t0 = time.perf_counter()
    first = client.get(url)
    first.raise_for_status()
    cold = time.perf_counter() - t0
    wire = int(first.headers.get("content-length", len(first.content)))
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.get(url).raise_for_status()
        times.append(time.perf_counter() - t0)
    return cold, times, wire


def line(label: str, cold: float, times: list[float], size: int, members: int) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return (f"{label}: {members} frontier members, {size / 1e6:.2f} MB sent; first request "
            f"{cold * 1000:.0f} ms; then p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, "
            f"max {ms[-1]:.1f} ms ({len(ms)} requests)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--db", type=Path, help="keep the store here (reused if it exists)")
    args = parser.parse_args()
    print(f"SYNTHETIC store: {args.candidates} candidates per search; cores {os.cpu_count()}; "
          f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.sqlite"
        t0 = time.perf_counter()
        with Store.open(db) as store:
            if store.count_searches() == 0:
                fill(store, args.candidates, finished=True, seed=0)
                fill(store, args.candidates, finished=False, seed=1)
                print(f"filled in {time.perf_counter() - t0:.0f} s")
            done, running = (s.id for s in store.list_searches(limit=2))
            print(f"{store.count_candidates(done)} candidates per search")
        port = free_port()
        proc = serve(db, port)
        try:
            bench(f"http://127.0.0.1:{port}", {"done": done, "running": running}, args.requests)
        finally:
            proc.terminate()
            proc.wait(30)
        with Store.open(db) as store:
            for label, sid in (("done", done), ("running", running)):
                t0 = time.perf_counter()
                reads.read_frontier(store, sid, DEVICE)
                print(f"{label:>7}: building the answer without the cache: "
                      f"{(time.perf_counter() - t0) * 1000:.0f} ms")  # fmt: skip
    print("goal: p95 < 50 ms")


def bench(url: str, searches: dict[str, int], n: int) -> None:
    """Per search: a client that accepts gzip (httpx's default) and one that does not; and
    ``GET /health`` for the floor (HTTP, routing, no store)."""
    with httpx.Client(base_url=url) as client:
        _, times, size = timed(client, "/health", n)
        print(line("/health", 0.0, times, size, 0))
    for encoding in ("gzip", "identity"):
        headers = {"Accept-Encoding": encoding}
        with httpx.Client(base_url=url, timeout=120, headers=headers) as client:
            for label, sid in searches.items():
                path = f"/searches/{sid}/frontier?device={DEVICE}"
                cold, times, size = timed(client, path, n if label == "done" else n // 4)
                members = len(client.get(path).json()["data"][0]["members"])
                print(line(f"{label:>7} ({encoding})", cold, times, size, members))


if __name__ == "__main__":
    main()
