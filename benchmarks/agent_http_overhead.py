"""Benchmark (c): the cost of the agent's HTTP path over measuring in-process.

One :class:`agent.measure.Measurer` serves both paths: the benchmark calls its ``measure``
directly (in-process) and through a real agent app (uvicorn on 127.0.0.1, in a thread of this
process, built by ``create_app`` around the same Measurer): ``POST /measure`` (synchronous) and
``POST /jobs`` then polling ``GET /jobs/{id}``. The three paths take turns, architecture by
architecture, so that slow drifts of the machine hit them alike.

Printed: per path, the wall time per measurement (request to result) and its overhead over
in-process (goal: <= 5%); the median latency each path reported (the server must not disturb
the timings themselves); and the API's own costs (a /health round trip, validating and queueing
a 100-item job).

    python benchmarks/agent_http_overhead.py [--rounds 2] [--poll-s 0.02] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import threading
import time
from datetime import datetime

import httpx
import uvicorn

from lts.agent.main import create_app
from lts.agent.measure import Measurer
from lts.agent.settings import Settings
from lts.shared.config import ArchConfig
from lts.shared.schemas import MeasureSettings

ARCHS = {
    "small": {"backbone": "gpt2", "n_layer": 2, "d_model": 128, "n_head": 2, "d_inner": 512},
    "middle": {"backbone": "gpt2", "n_layer": 4, "d_model": 256, "n_head": 4, "d_inner": 1024},
    "large": {"backbone": "transxl", "n_layer": 8, "d_model": 512, "n_head": 8, "d_inner": 2048},
}
QUICK = {"time_budget_s": 3.0, "min_time_s": 0.5, "warmup_s": 0.2}
PATHS = ("in-process", "POST /measure", "POST /jobs+poll")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(measurer: Measurer):
    """A real agent (no auth) around ``measurer`` on a free port; yields its URL."""
    settings = Settings(no_auth=True, port=_free_port(), log_level="WARNING")
    app = create_app(settings, measurers=[measurer])
    server = uvicorn.Server(uvicorn.Config(app, port=settings.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        thread.join(30)


def _measured_s(result: dict) -> float:
    """Seconds the server spent inside ``Measurer.measure`` (from the queue's context)."""
    ctx = result["context"]["queue"]
    iso = datetime.fromisoformat
    return (iso(ctx["finished_at"]) - iso(ctx["started_at"])).total_seconds()


def via_measure(client: httpx.Client, arch: dict, settings: dict, poll_s: float) -> dict:
    response = client.post("/measure", json={"arch": arch, "settings": settings})
    response.raise_for_status()
    return response.json()


def via_jobs(client: httpx.Client, arch: dict, settings: dict, poll_s: float) -> dict:
    body = {"items": [{"arch": arch, "settings": settings}]}
    job_id = client.post("/jobs", json=body).json()["id"]
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if job["finished_at"] is not None:
            return job["items"][0]["result"]
        time.sleep(poll_s)


def api_costs(client: httpx.Client) -> tuple[float, float]:
    """(median /health round trip, POST /jobs of 100 items) in milliseconds."""
    trips = []
    for _ in range(50):
        t0 = time.perf_counter()
        client.get("/health").raise_for_status()
        trips.append(time.perf_counter() - t0)
    fast = {"time_budget_s": 0.2, "warmup_s": 0, "min_time_s": 0, "measure_memory": False}
    items = [{"arch": {**ARCHS["small"], "d_model": 64 + 16 * i}, "settings": fast}
             for i in range(100)]  # fmt: skip
    t0 = time.perf_counter()
    job = client.post("/jobs", json={"items": items})
    submit = time.perf_counter() - t0
    job_id = job.json()["id"]
    client.delete(f"/jobs/{job_id}")  # the one item already started finishes
    while client.get(f"/jobs/{job_id}").json()["finished_at"] is None:
        time.sleep(0.05)
    return 1e3 * statistics.median(trips), 1e3 * submit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="turns of the three paths")
    parser.add_argument("--poll-s", type=float, default=0.02, help="GET /jobs/{id} interval")
    parser.add_argument("--quick", action="store_true", help=f"shorter protocol: {QUICK}")
    args = parser.parse_args()
    overrides = QUICK if args.quick else {}
    settings = MeasureSettings(**overrides)

    rows: dict[str, list[tuple[float, float, float]]] = {p: [] for p in PATHS}
    with Measurer() as measurer:
        measurer.start()
        with serve(measurer) as url, httpx.Client(base_url=url, timeout=600) as client:
            measurer.measure(ArchConfig.from_dict(ARCHS["small"]), settings)  # warm everything
            health_ms, submit_ms = api_costs(client)

            def in_process(arch: dict) -> tuple[float, float]:
                t0 = time.perf_counter()
                result = measurer.measure(ArchConfig.from_dict(arch), settings)
                return result.latency_ms.median, time.perf_counter() - t0

            def over_http(how, arch: dict) -> tuple[float, float]:
                result = how(client, arch, overrides, args.poll_s)
                return result["latency_ms"]["median"], _measured_s(result)

            paths = {
                PATHS[0]: in_process,
                PATHS[1]: lambda a: over_http(via_measure, a),
                PATHS[2]: lambda a: over_http(via_jobs, a),
            }
            for r in range(args.rounds):
                for name, arch in ARCHS.items():
                    for path in PATHS if r % 2 == 0 else PATHS[::-1]:
                        t0 = time.perf_counter()
                        median_ms, inside_s = paths[path](arch)
                        wall = time.perf_counter() - t0
                        rows[path].append((wall, inside_s, median_ms))
                        print(f"  round {r} {name:6s} {path:16s} wall {wall:6.2f} s, "
                              f"measuring {inside_s:6.2f} s, median {median_ms:8.3f} ms",
                              flush=True)  # fmt: skip
    report(rows, args, health_ms, submit_ms)


def report(rows, args, health_ms: float, submit_ms: float) -> None:
    n = len(rows[PATHS[0]])
    protocol = "quick" if args.quick else "default"
    print(f"\nHTTP path vs in-process: {n} measurements per path ({args.rounds} round(s) x "
          f"{len(ARCHS)} architectures), {protocol} protocol, one Measurer")  # fmt: skip
    print("  wall = request to result; outside = wall minus the time inside Measurer.measure")
    print(f"  {'path':16s} {'wall s/item':>11s} {'vs in-proc':>10s} {'outside ms/item':>15s} "
          f"{'outside/measuring':>17s} {'median vs in-proc':>17s}")  # fmt: skip
    base_wall = sum(w for w, _, _ in rows[PATHS[0]])
    for path in PATHS:
        walls = [w for w, _, _ in rows[path]]
        outside = [w - inside for w, inside, _ in rows[path]]
        share = sum(outside) / sum(inside for _, inside, _ in rows[path])
        ratio = statistics.median(
            m / b for (_, _, m), (_, _, b) in zip(rows[path], rows[PATHS[0]], strict=True)
        )
        vs_base, outside_ms = 100 * (sum(walls) / base_wall - 1), 1e3 * statistics.mean(outside)
        print(f"  {path:16s} {statistics.mean(walls):11.3f} {vs_base:+9.2f}% "
              f"{outside_ms:15.1f} {100 * share:16.2f}% {ratio:16.3f}x")  # fmt: skip
    print(f"\nAPI costs: GET /health round trip {health_ms:.2f} ms (median of 50); "
          f"POST /jobs of 100 items (validate, estimate, queue) {submit_ms:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
