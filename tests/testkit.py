"""Helpers shared by the test packages (tests/ is on sys.path through tests/conftest.py):
the console scripts, the store engines, and waiting for a server
subprocess to answer ``/health``."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest


def console_script(name: str) -> list[str]:
    """The command that runs console script ``name`` (``agent``, ``controller``) of this
    Python's installation: the script beside ``sys.executable`` (a venv's ``bin/``, found
    whether or not the venv is activated), else its entry point run by this Python."""
    exe = Path(sys.executable).parent / name
    if exe.is_file():
        return [str(exe)]
    return [sys.executable, "-c", f"from lts.{name}.cli import main; main()"]


#: The engines a store test runs on (``@pytest.fixture(params=ENGINES)``; the ``store_url``
#: fixture of tests/conftest.py): a SQLite file, and a PostgreSQL database (marked).
ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


#: How long a test waits for a server it started to answer: a healthy one answers within
#: seconds, but an agent imports torch in three processes and warms a model up, which takes
#: minutes on a machine whose cores are all busy (seen: over 120 s with a load of 20 on 2
#: cores). A server that exits is reported at once whatever this says.
SERVER_START_S = 600.0


def wait_healthy(
    url: str, process: subprocess.Popen[bytes], log: Path, what: str, timeout_s: float
) -> None:
    """Return once ``GET {url}/health`` answers 200; fail the test (with ``what`` and the
    server's log) if ``process`` exits first or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{what} did not answer /health in time:\n{log.read_text()}")


#: The cost model summary :func:`screening_search` stores in its device's state.
COST_MODEL = {
    "latency": {"n": 12, "n_scored": 8, "mdape": 0.06, "p90ape": 0.15},
    "memory": {"n": 12, "n_scored": 8, "mdape": 0.031, "p90ape": None},
    "quick": {"n": 5, "mdape": 0.02, "p90ape": 0.05},
    "margin": {"latency": 0.1, "memory": 0.08},
}


def screening_search(db: str) -> dict[str, Any]:
    """A search on one device (``box``) written into the store ``db`` the way a search with a
    cost model writes it (schema version 2), its device still running (this process holds
    the lease). Iteration 0: ``full`` measured in full (1 ms, 11 MB), ``quick`` measured
    quickly without its memory (2 ms; the predicted 7.5 MB stands in), ``screened`` screened
    out (predicted 4 ms, 20 MB); iteration 1: ``pending``, not measured yet. The device's
    state holds :data:`COST_MODEL`. Returns the ids: ``search``, ``device``,
    ``search_device``, ``arch`` (by those four names) and ``measurement`` (full, quick)."""
    import os
    import socket

    from lts.controller.search.config import SearchConfig
    from lts.controller.search.runner import start_search
    from lts.controller.search.small_spaces import TINY_SPACE
    from lts.controller.store import Store
    from lts.shared.config import ArchConfig
    from lts.shared.schemas import DeviceInfo, LatencyStats, MeasurementResult, MeasureSettings
    from lts.shared.space import SearchSpace

    def result(cfg: ArchConfig, latency: float, memory: float | None) -> MeasurementResult:
        stats = LatencyStats(
            median=latency,
            p10=latency,
            p90=latency,
            mean=latency,
            min=latency,
            cv=0.0,
            n=1,
            samples=[latency],
        )
        return MeasurementResult(
            arch_id=cfg.arch_id, latency_ms=stats, peak_memory_mb=memory, settings=MeasureSettings()
        )

    space = SearchSpace.from_dict(TINY_SPACE)
    other = ArchConfig.from_dict(
        {
            **TINY_SPACE,
            "n_layer": 2,
            "d_model": 128,
            "n_head": 4,
            "d_inner": 192,
            "d_embed": 64,
            "div_val": 1,
        }
    )
    cfgs = dict(
        zip(
            ("full", "quick", "screened", "pending"),
            (space.smallest(), space.middle(), space.largest(), other),
            strict=True,
        )
    )
    assert len({c.arch_id for c in cfgs.values()}) == 4
    config = SearchConfig.build(
        agents=["box"], space=TINY_SPACE, iterations=3, population=4, parents=2
    )
    info = DeviceInfo(
        name="box",
        fingerprint="fp",
        hostname="h",
        os="linux",
        machine="x86_64",
        cpu_model="cpu",
        cores_logical=2,
        memory_total_mb=1024.0,
        defaults=MeasureSettings(),
    )
    with Store.open(db) as store:
        sid = start_search(store, config).id
        store.acquire_lease(sid, "runner", socket.gethostname(), os.getpid(), lambda held: False)
        did = store.upsert_device("box", info).id
        (sd,) = store.search_devices(sid)
        store.update_search_device(
            sd.id, device_id=did, status="running", state={"cost_model": COST_MODEL}
        )
        first = [(cfgs[k], "random", ()) for k in ("full", "quick", "screened")]
        store.add_candidates(sid, did, 0, first)
        store.add_candidates(sid, did, 1, [(cfgs["pending"], "mutation", ())])
        key = MeasureSettings().cache_key()
        full, _ = store.add_measurement(cfgs["full"], did, key, result=result(cfgs["full"], 1, 11))
        quick_result = result(cfgs["quick"], 2.0, None)
        quick, _ = store.add_measurement(cfgs["quick"], did, "quick", result=quick_result)
        store.link_candidates(
            sid,
            did,
            0,
            [(cfgs["full"].arch_id, full.id, False), (cfgs["quick"].arch_id, quick.id, False)],
        )
        store.set_candidate_measure(
            sid,
            did,
            0,
            [
                (cfgs["full"].arch_id, "full", {"latency": 1.2, "memory": 10.0}),
                (cfgs["quick"].arch_id, "quick", {"latency": 2.5, "memory": 7.5}),
                (cfgs["screened"].arch_id, "screened", {"latency": 4.0, "memory": 20.0}),
            ],
        )
    return {
        "search": sid,
        "device": did,
        "search_device": sd.id,
        "arch": {k: c.arch_id for k, c in cfgs.items()},
        "measurement": {"full": full.id, "quick": quick.id},
    }


def load_benchmark(name: str) -> ModuleType:
    """The script ``benchmarks/NAME.py`` as a module (registered in ``sys.modules``: its
    dataclasses look their module up there)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


#: Relative tolerance for two float32 computations of the same values (a cached decode and a
#: full forward, ONNX Runtime and PyTorch): 1e-5 is about 84 ulps of float32 (eps 1.2e-7).
#: Log-probabilities are logits minus a logsumexp, so their rounding error follows the
#: largest magnitude summed, not each value's own: measured at up to 2.5e-6 of the largest
#: |log-probability| (AVX-512 kernels; one in 1.7e-4 on values of 68), 4x under this bound,
#: while a real difference (a token dropped from a cache) is of order 1 to 10.
FP32_REL = 1e-5


def max_scaled_diff(got: Any, want: Any) -> float:
    """The largest |got - want| divided by the largest |want| (arrays or CPU tensors)."""
    import numpy as np

    a, b = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(float(np.abs(b).max(initial=0.0)), 1.0)
    return float(np.abs(a - b).max(initial=0.0)) / scale


def assert_fp32_close(got: Any, want: Any, what: object = "", *, rel: float = FP32_REL) -> None:
    """``got`` equals ``want`` up to float32 rounding: every difference within ``rel`` of the
    largest magnitude in ``want`` (at least 1, so values near zero get ``rel`` absolute)."""
    diff = max_scaled_diff(got, want)
    assert diff <= rel, f"{what}: max |diff| is {diff:.2e} of the largest value (bound {rel:.0e})"


def agent_items(
    url: str, since: set[str], token: str | None = None
) -> tuple[set[str], Counter[tuple[str, str]]]:
    """The job ids of the agent at ``url``, and how often it measured (or tried to: failed)
    each (arch_id, settings as canonical JSON) in its jobs not in ``since``."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    jobs = httpx.get(f"{url}/jobs", params={"limit": 1000}, headers=headers).json()["data"]
    out: Counter[tuple[str, str]] = Counter()
    for job in jobs:
        if job["id"] in since:
            continue
        for item in job["items"]:
            if item["status"] in ("done", "failed"):
                out[(item["arch_id"], json.dumps(item["settings"], sort_keys=True))] += 1
    return {j["id"] for j in jobs}, out


#: The linear model of :func:`small_surrogate` (prefill on heads and MACs, decode on a constant
#: and the weights, memory on weights and activations), the same on both backbones.
SURROGATE_COEF = {"prefill": {"heads": 0.5, "linear_macs": 4e-8, "output_macs": 5e-7},
                  "decode": {"const": 2.0, "weight_bytes": 2e-9},
                  "memory": {"weight_bytes": 1.0, "activation_bytes": 1.25}}  # fmt: skip


def small_surrogate() -> Any:
    """A small surrogate device (:class:`lts.shared.surrogate.Surrogate`) for the simulated
    agent's and the surrogate's tests: :data:`SURROGATE_COEF` with log-normal noise."""
    from lts.shared.surrogate import Surrogate

    sigma = {"prefill": 0.1, "decode": 0.1, "memory": 0.02}
    return Surrogate({"gpt2": SURROGATE_COEF, "transxl": SURROGATE_COEF},
                     {"gpt2": sigma, "transxl": sigma}, "test")  # fmt: skip
