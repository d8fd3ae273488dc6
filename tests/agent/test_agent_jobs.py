"""The queue (agent.jobs) on its own: order, no overlap, slots, cancel, limits, retention.

The queue's logic is checked here with a scripted measurer (exact timings, failures on demand,
in milliseconds); the same queue measuring real models through HTTP is in test_agent_api.py.
"""

from __future__ import annotations

import errno
import threading
import time
from datetime import datetime
from itertools import pairwise

import pytest

from lts.agent.device import Capabilities
from lts.agent.jobs import (
    CANCELLED,
    JobKeyConflictError,
    JobNotFoundError,
    JobQueue,
    QueueFullError,
)
from lts.agent.validation import ItemRequest, TooManyItemsError, prepare_items
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError, MeasurementError
from lts.shared.schemas import JobItemCreate, LatencyStats, MeasurementResult, MeasureSettings

ARCH = {
    "backbone": "gpt2", "n_layer": 2, "d_model": 64, "n_head": 2, "d_inner": 128,
    "n_token": 1000, "cutoffs": [200, 500],
}  # fmt: skip
CAPS = Capabilities(runtimes=frozenset({"torch", "onnxruntime"}), cuda=False, max_threads=2)


class ScriptedMeasurer:
    """Sleeps ``seconds``; fails for seed 13; records every call's (start, end)."""

    def __init__(self, seconds: float = 0.02) -> None:
        self.seconds = seconds
        self.calls: list[tuple[float, float, int]] = []
        self.gate = threading.Event()
        self.gate.set()

    def measure(self, cfg: ArchConfig, settings: MeasureSettings) -> MeasurementResult:
        self.gate.wait(5)
        start = time.monotonic()
        time.sleep(self.seconds)
        self.calls.append((start, time.monotonic(), settings.seed))
        if settings.seed == 13:
            raise MeasurementError("worker crashed (SIGABRT)")
        stats = LatencyStats(median=1, p10=1, p90=1, mean=1, min=1, cv=0, n=1, samples=[1.0])
        return MeasurementResult(arch_id=cfg.arch_id, latency_ms=stats, settings=settings)

    def close(self) -> None:
        pass


def requests(*seeds: int, d_model: int = 64):
    items = [JobItemCreate(arch={**ARCH, "d_model": d_model}, settings={"seed": s}) for s in seeds]
    return prepare_items(items, MeasureSettings(), CAPS, max_items=100)


def make_queue(measurers, **kwargs) -> JobQueue:
    options = {"estimate_memory_mb": lambda cfg, s: cfg.d_model / 10, "memory_budget_mb": 100.0,
               "max_queue": 50, **kwargs}  # fmt: skip
    queue = JobQueue(measurers, **options)
    queue.start()
    return queue


def wait_all(queue: JobQueue, *job_ids: str) -> None:
    for job_id in job_ids:
        queue.wait(job_id).result(timeout=10)


def spans(job) -> list[tuple[datetime, datetime]]:
    ctx = [item.result.context["queue"] for item in job.items if item.result]
    return [(datetime.fromisoformat(c["started_at"]), datetime.fromisoformat(c["finished_at"]))
            for c in ctx]  # fmt: skip


def test_one_slot_measures_jobs_in_order_without_overlap():
    m = ScriptedMeasurer()
    queue = make_queue([m])
    a, b = queue.submit(requests(1, 2, 3)), queue.submit(requests(4, 5))
    wait_all(queue, a.id, b.id)
    assert [seed for _, _, seed in m.calls] == [1, 2, 3, 4, 5]
    assert all(end <= nxt for (_, end, _), (nxt, _, _) in pairwise(m.calls))
    ja, jb = queue.get(a.id), queue.get(b.id)
    assert ja.status == jb.status == "done"
    both = spans(ja) + spans(jb)
    assert all(end <= nxt for (_, end), (nxt, _) in pairwise(both))
    assert queue.unfinished_items() == 0
    queue.close()


def test_failure_is_recorded_and_the_queue_goes_on():
    queue = make_queue([ScriptedMeasurer()])
    job = queue.submit(requests(13, 0))
    wait_all(queue, job.id)
    items = queue.get(job.id).items
    assert [i.status for i in items] == ["failed", "done"]
    assert "SIGABRT" in items[0].error and items[1].result is not None
    queue.close()


def test_two_slots_measure_two_items_at_once_each_on_its_own_measurer():
    m1, m2 = ScriptedMeasurer(0.2), ScriptedMeasurer(0.2)
    queue = make_queue([m1, m2], slot_cpus=[[0], [1]])
    job = queue.submit(requests(1, 2))
    wait_all(queue, job.id)
    assert len(m1.calls) == len(m2.calls) == 1
    (s1, e1, _), (s2, e2, _) = m1.calls[0], m2.calls[0]
    assert s1 < e2 and s2 < e1  # overlapping in time
    contexts = [i.result.context["queue"] for i in queue.get(job.id).items]
    assert sorted(c["slot"] for c in contexts) == [0, 1]
    assert sorted(tuple(c["cpus"]) for c in contexts) == [(0,), (1,)]
    queue.close()


def test_over_budget_items_are_rejected_with_the_reason_and_never_measured():
    m = ScriptedMeasurer()
    queue = make_queue([m])
    job = queue.submit(requests(1) + requests(2, d_model=2048))
    wait_all(queue, job.id)
    items = queue.get(job.id).items
    assert [i.status for i in items] == ["done", "rejected"]
    assert "205 MB" in items[1].error and "budget of 100 MB" in items[1].error
    assert [seed for *_, seed in m.calls] == [1]
    all_rejected = queue.submit(requests(3, d_model=2048))
    assert all_rejected.status == "done" and queue.wait(all_rejected.id).done()
    queue.close()


def test_cuda_items_are_held_to_the_gpu_budget():
    queue = make_queue([ScriptedMeasurer()], gpu_memory_budget_mb=5.0)
    gpu = ItemRequest(ArchConfig.from_dict(ARCH), MeasureSettings(device="cuda"))
    cpu = ItemRequest(ArchConfig.from_dict(ARCH), MeasureSettings())
    job = queue.submit([gpu, cpu])  # both need 6.4 MB by the fake estimate
    wait_all(queue, job.id)
    items = queue.get(job.id).items
    assert [i.status for i in items] == ["rejected", "done"]
    assert "GPU memory budget of 5 MB" in items[0].error
    queue.close()


def test_cancel_drops_pending_items_and_lets_the_running_one_finish():
    m = ScriptedMeasurer()
    m.gate.clear()  # hold the first item in the measurer
    queue = make_queue([m])
    job = queue.submit(requests(1, 2, 3))
    deadline = time.monotonic() + 5
    while queue.get(job.id).items[0].status != "running" and time.monotonic() < deadline:
        time.sleep(0.005)
    cancelled = queue.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is None
    assert [i.status for i in cancelled.items] == ["running", "rejected", "rejected"]
    assert cancelled.items[1].error == CANCELLED
    assert [i.started for i in cancelled.items] == [True, False, False]
    m.gate.set()
    wait_all(queue, job.id)
    final = queue.get(job.id)
    assert final.status == "cancelled" and final.finished_at is not None
    assert final.items[0].status == "done" and len(m.calls) == 1
    assert queue.cancel(job.id).status == "cancelled"  # idempotent
    with pytest.raises(JobNotFoundError):
        queue.cancel("nope")
    queue.close()


def test_queue_limit_counts_unfinished_items():
    m = ScriptedMeasurer()
    m.gate.clear()
    queue = make_queue([m], max_queue=3)
    queue.submit(requests(1, 2))
    with pytest.raises(QueueFullError, match=r"2 item.* this job adds 2, the limit is 3"):
        queue.submit(requests(3, 4))
    queue.submit(requests(3))  # exactly at the limit
    m.gate.set()
    queue.close()


def test_finished_jobs_are_kept_up_to_a_count_and_listed_recent_first():
    queue = make_queue([ScriptedMeasurer(0)], keep_jobs=2)
    ids = []
    for seed in range(4):
        ids.append(queue.submit(requests(seed)).id)
        wait_all(queue, ids[-1])
    listed = queue.list_jobs()
    assert listed.count == 2 and [j.id for j in listed.data] == ids[:1:-1]
    with pytest.raises(JobNotFoundError):
        queue.get(ids[0])
    queue.close()


def test_a_key_makes_submission_idempotent_while_the_job_is_kept():
    m = ScriptedMeasurer()
    m.gate.clear()
    queue = make_queue([m], max_queue=2, keep_jobs=1)
    job, created = queue.submit_once(requests(1, 2), "k1")
    assert created and job.key == "k1"
    # The same batch again (a retry): that job, nothing queued, even with the queue full.
    again, created = queue.submit_once(requests(1, 2), "k1")
    assert not created and again.id == job.id and queue.unfinished_items() == 2
    with pytest.raises(JobKeyConflictError, match="k1"):
        queue.submit_once(requests(1, 3), "k1")
    assert [j.id for j in queue.list_jobs(key="k1").data] == [job.id]
    assert queue.list_jobs(key="other").data == []
    m.gate.set()
    wait_all(queue, job.id)
    assert queue.submit_once(requests(1, 2), "k1")[0].status == "done"  # kept: still that job
    later = queue.submit(requests(5), key="k2")
    wait_all(queue, later.id)
    assert queue.list_jobs(key="k1").data == []  # forgotten with its job (keep_jobs=1)
    assert queue.submit_once(requests(1, 2), "k1")[1]  # a forgotten key is free again
    queue.close()


def test_close_drops_pending_items():
    m = ScriptedMeasurer()
    m.gate.clear()
    queue = make_queue([m])
    job = queue.submit(requests(1, 2))
    threading.Timer(0.1, m.gate.set).start()
    queue.close(timeout_s=5)
    assert [i.status for i in queue.get(job.id).items][1] == "rejected"
    assert queue.get(job.id).items[1].fault == "infrastructure"  # not the model's: send again
    assert not queue.get(job.id).items[1].started  # dropped before it started
    with pytest.raises(QueueFullError):
        queue.submit(requests(3))


class OutOfFiles(ScriptedMeasurer):
    def measure(self, cfg: ArchConfig, settings: MeasureSettings) -> MeasurementResult:
        if settings.seed == 24:
            raise OSError(errno.EMFILE, "Too many open files")
        return super().measure(cfg, settings)


def test_each_failure_says_whose_fault_it_is():
    queue = make_queue([OutOfFiles()])
    job = queue.submit(requests(24, 13, 1))
    wait_all(queue, job.id)
    files, crash, fine = queue.get(job.id).items
    queue.close()
    assert (files.status, files.fault) == ("failed", "infrastructure")
    assert "Too many open files" in files.error
    assert (crash.status, crash.fault) == ("failed", "model")
    assert (fine.status, fine.fault) == ("done", None)


def test_prepare_items_names_the_field_and_bounds_the_batch():
    bad = {**ARCH, "n_head": [2, 3]}  # 64 is not divisible by 3
    items = [JobItemCreate(arch=ARCH), JobItemCreate(arch=bad)]
    with pytest.raises(ConfigError) as err:
        prepare_items(items, MeasureSettings(), CAPS, max_items=10)
    assert err.value.field == "items[1].arch.n_head[1]"
    with pytest.raises(ConfigError) as err:
        prepare_items([JobItemCreate(arch=ARCH, settings={"threads": 3})], MeasureSettings(),
                      CAPS, max_items=10)  # fmt: skip
    assert err.value.field == "items[0].settings.threads"
    with pytest.raises(ConfigError) as err:
        prepare_items([JobItemCreate(arch=ARCH, settings={"device": "cuda"})], MeasureSettings(),
                      CAPS, max_items=10)  # fmt: skip
    assert err.value.field == "items[0].settings.device"
    with pytest.raises(TooManyItemsError, match=r"3 items; .* at most 2"):
        prepare_items([JobItemCreate(arch=ARCH)] * 3, MeasureSettings(), CAPS, max_items=2)


def test_a_poll_since_a_version_gets_only_the_changed_items_and_samples_on_request():
    m = ScriptedMeasurer()
    m.gate.clear()  # hold the first item in the measurer
    queue = make_queue([m])
    job = queue.submit(requests(1, 2, 3))
    assert job.version == 1 and [i.version for i in job.items] == [1, 1, 1]
    deadline = time.monotonic() + 5  # the one slot takes item 0 (at once: it may already have)
    while queue.get(job.id).items[0].status != "running" and time.monotonic() < deadline:
        time.sleep(0.005)
    running = queue.get(job.id, since=job.version)
    assert [(i.index, i.status) for i in running.items] == [(0, "running")]
    assert running.version == job.version + 1
    # Item 0 is held in the measurer and the others wait for the slot: nothing changes.
    assert queue.get(job.id, since=running.version).items == []
    m.gate.set()
    wait_all(queue, job.id)
    light = queue.get(job.id, since=running.version, samples=False)
    assert [i.index for i in light.items] == [0, 1, 2]  # item 0 finished, 1 and 2 ran
    assert all(i.result.latency_ms.samples == [] for i in light.items)
    assert all(i.result.latency_ms.n == 1 for i in light.items)
    full = queue.get(job.id, since=running.version)
    assert all(i.result.latency_ms.samples == [1.0] for i in full.items)
    assert full.items == queue.get(job.id).items  # nothing left out but unchanged items
    assert queue.get(job.id, since=full.version).items == []
    queue.close()
