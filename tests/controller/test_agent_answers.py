"""A misbehaving agent cannot exhaust or corrupt the controller (reliability review
2026-12-07, F2, F4, F5, F7): its answers are read with a byte cap and a deadline, parsed off
the event loop when large, bounded by the wire schemas, and every finished item is checked
against what was sent before anything of it is stored."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from lts.controller import client as client_module
from lts.controller.client import (
    DEVICE_BYTES,
    AgentClient,
    AgentRefused,
    AgentUnavailable,
    answer_limit,
)
from lts.controller.search.answers import check_item
from lts.controller.search.dispatch import AgentGone, AgentProtocolError, Dispatcher, RetryPolicy
from lts.shared.config import ArchConfig
from lts.shared.schemas import (
    MAX_ERROR,
    MAX_SAMPLES,
    MAX_TEXT,
    DeviceInfo,
    JobItemCreate,
    JobItemPublic,
    JobPublic,
    LatencyStats,
    MeasurementResult,
    MeasureSettings,
)

TINY = {"backbone": "gpt2", "n_layer": 1, "d_model": 64, "n_head": 2, "d_inner": 128,
        "n_token": 1000, "cutoffs": [200, 500]}  # fmt: skip
CFG = ArchConfig.from_dict(TINY)
OTHER = ArchConfig.from_dict({**TINY, "n_layer": 2})
SETTINGS = MeasureSettings(time_budget_s=1.0)


class Stream(httpx.AsyncByteStream):
    """An answer body sent ``chunk`` by ``chunk`` (``total`` bytes, or for ever), ``pause_s``
    apart; ``sent`` counts what the client took."""

    def __init__(self, chunk: bytes, total: int | None = None, pause_s: float = 0.0) -> None:
        self.chunk, self.total, self.pause_s, self.sent = chunk, total, pause_s, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"name": "'
        while self.total is None or self.sent < self.total:
            if self.pause_s:
                await asyncio.sleep(self.pause_s)
            self.sent += len(self.chunk)
            yield self.chunk
        yield b'"}'


def _client(handler: Any, **kwargs: Any) -> AgentClient:
    return AgentClient("http://agent", "tok", transport=httpx.MockTransport(handler), **kwargs)


def test_an_oversized_answer_is_refused_once_it_passes_its_cap() -> None:
    """A 600 MB /device answer took the controller to 2.6 GB: now reading stops at the cap."""
    stream = Stream(b" " * (1 << 20), total=600 << 20)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=stream, headers={"Content-Type": "application/json"})

    with pytest.raises(AgentRefused, match="more than any LTS agent sends"):
        asyncio.run(_client(handler).device())
    assert stream.sent <= DEVICE_BYTES + (1 << 20)  # one chunk past the cap at most


def test_a_declared_length_over_the_cap_is_refused_unread() -> None:
    stream = Stream(b" " * 1024, total=10 << 20)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=stream, headers={"Content-Length": str(10 << 20)})

    with pytest.raises(AgentRefused):
        asyncio.run(_client(handler).health())
    assert stream.sent == 0


def test_an_endless_answer_meets_the_request_deadline() -> None:
    """A byte every 20 ms never trips a per-read time-out; the whole request has a deadline."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Stream(b"a", pause_s=0.02))

    async def main() -> None:
        await asyncio.wait_for(_client(handler, deadline_s=0.5).device(), 30)

    with pytest.raises(AgentUnavailable, match=r"no complete answer to GET /device within 0.5 s"):
        asyncio.run(main())


def test_a_large_answer_is_parsed_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    real = asyncio.to_thread

    async def spy(fn: Any, *args: Any) -> Any:
        threads.append(getattr(fn, "__qualname__", str(fn)))
        return await real(fn, *args)

    monkeypatch.setattr(client_module.asyncio, "to_thread", spy)
    samples = [1.0] * 5000
    items = [_item(i, CFG, samples=samples).model_dump(mode="json") for i in range(4)]
    job = {"id": "j", "status": "done", "created_at": "now", "items": items}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=job)

    answer = asyncio.run(_client(handler).job("j", items=4))
    assert len(answer.items) == 4 and threads and "model_validate_json" in threads[0]
    small = asyncio.run(_client(lambda r: httpx.Response(200, json={**job, "items": []})).job("j"))
    assert small.items == [] and len(threads) == 1  # small answers: parsed in place


def test_a_job_answer_is_capped_by_its_items_and_samples() -> None:
    assert answer_limit(4, samples=False) < answer_limit(4) < answer_limit(16)
    samples = [1234.5678901234567] * MAX_SAMPLES  # 19 bytes each as JSON
    items = [_item(i, CFG, samples=samples).model_dump(mode="json") for i in range(3)]
    job = {"id": "j", "status": "done", "created_at": "now", "items": items}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=job)

    assert len(asyncio.run(_client(handler).job("j", items=3)).items) == 3
    with pytest.raises(AgentRefused, match="passed"):  # 3 items' worth for a 1-item job
        asyncio.run(_client(handler).job("j", items=1))


# ---------------------------------------------------------------------------- dispatcher
class SlowClient:
    """An agent whose every answer takes ``answer_s`` (an endless one: for ever)."""

    label = url = "slow"

    def __init__(self, answer_s: float = 3600.0) -> None:
        self.answer_s = answer_s
        self.calls = 0

    async def device(self) -> DeviceInfo:
        self.calls += 1
        await asyncio.sleep(self.answer_s)
        raise AssertionError("never answers")


def test_fail_after_is_honoured_for_an_agent_that_answers_too_slowly() -> None:
    """An endless answer kept a device waiting 92 s with --fail-after-s 15 (and for ever with
    a longer stream): each request may take only what is left of fail_after_s."""
    policy = RetryPolicy(first_delay_s=0.01, max_delay_s=0.05, fail_after_s=0.3, poll_s=0.01)
    client = SlowClient()
    dispatcher = Dispatcher(client, policy)  # type: ignore[arg-type]

    async def main() -> None:
        await asyncio.wait_for(dispatcher.call(client.device), 30)

    with pytest.raises(AgentGone, match="gave up after"):
        asyncio.run(main())
    assert client.calls >= 1


class IndexClient:
    """Answers every job done, with its items under ``index + shift``."""

    label = url = "shifty"

    def __init__(self, shift: int) -> None:
        self.shift = shift

    async def submit(self, items: list[JobItemCreate], key: str | None = None) -> JobPublic:
        done = [_item(i + self.shift, ArchConfig.from_dict(it.arch)) for i, it in enumerate(items)]
        return JobPublic(id="j", status="done", key=key, created_at="now", items=done)


def test_an_item_under_an_index_that_was_not_sent_ends_the_device() -> None:
    """An out-of-range index crashed the whole search with an IndexError traceback."""
    dispatcher = Dispatcher(IndexClient(100), RetryPolicy(poll_s=0.001))  # type: ignore[arg-type]
    got: list[int] = []
    with pytest.raises(AgentProtocolError, match="reports item 100, but was sent 2"):
        asyncio.run(dispatcher.run([_request(CFG), _request(OTHER)], lambda i, it: got.append(i)))
    assert got == []


# --------------------------------------------------------------------------- the items
def _result(cfg: ArchConfig, latency: float = 5.0, memory: float | None = 10.0,
            samples: list[float] | None = None, **change: Any) -> MeasurementResult:  # fmt: skip
    stats = {"median": latency, "p10": latency, "p90": latency, "mean": latency,
             "min": latency, "cv": 0.01, "n": max(10, len(samples or [])),
             "samples": samples if samples is not None else [latency] * 10}  # fmt: skip
    return MeasurementResult(arch_id=cfg.arch_id, latency_ms=LatencyStats(**stats),
                             peak_memory_mb=memory, settings=SETTINGS, **change)  # fmt: skip


def _item(index: int, cfg: ArchConfig, **result: Any) -> JobItemPublic:
    return JobItemPublic(index=index, status="done", arch_id=cfg.arch_id, settings=SETTINGS,
                         result=_result(cfg, **result))  # fmt: skip


def _request(cfg: ArchConfig) -> JobItemCreate:
    return JobItemCreate(arch=cfg.to_dict())


def test_a_true_item_passes() -> None:
    check_item(_item(0, CFG), CFG, SETTINGS, "a")
    check_item(JobItemPublic(index=0, status="failed", error="boom", arch_id=CFG.arch_id,
                             settings=SETTINGS), CFG, SETTINGS, "a")  # fmt: skip
    check_item(_item(0, CFG, memory=None), CFG, SETTINGS, "a")  # no memory pass: fine


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (_item(0, OTHER), "with the result of"),  # the swap agent: 12 of 17 misfiled
        (JobItemPublic(index=0, status="done", arch_id=CFG.arch_id, settings=SETTINGS,
                       result=_result(OTHER)), "with the result of"),
        (JobItemPublic(index=0, status="done", arch_id=CFG.arch_id,
                       settings=MeasureSettings(threads=2), result=_result(CFG)),
         "threads 2 \\(sent 1\\)"),
        (_item(0, CFG, latency=-1015.0), "latency median of -1015.0 ms"),
        (_item(0, CFG, latency=math.nan), "latency median of nan ms"),
        (_item(0, CFG, latency=math.inf), "latency median of inf ms"),
        (_item(0, CFG, memory=-50.0), "peak memory of -50.0 MB"),
        (_item(0, CFG, memory=math.inf), "peak memory of inf MB"),
        (_item(0, CFG, latency=1e12), "latency median"),
        (_item(0, CFG, samples=[5.0, -1.0]), "latency sample of -1.0 ms"),
        (_item(0, CFG, decode_latency_ms=LatencyStats(
            median=-2.0, p10=1.0, p90=1.0, mean=1.0, min=1.0, cv=0.0, n=1, samples=[1.0])),
         "latency median of -2.0 ms \\(decode\\)"),
        (JobItemPublic(index=0, status="done", arch_id=CFG.arch_id,
                       settings=SETTINGS.model_copy(update={"decode": True}), result=_result(CFG)),
         "decode True \\(sent False\\)"),
    ],
)  # fmt: skip
def test_an_untrue_item_is_a_protocol_error(item: JobItemPublic, message: str) -> None:
    with pytest.raises(AgentProtocolError, match=message) as info:
        check_item(item, CFG, SETTINGS, "evil")
    assert str(info.value).startswith(f"agent evil answered for {CFG.arch_id}")


# ----------------------------------------------------------------------- wire schemas
def _device(**change: Any) -> dict[str, Any]:
    base = {"name": "a", "fingerprint": "f" * 16, "hostname": "h", "os": "linux",
            "machine": "x86_64", "cpu_model": "c", "cores_logical": 2,
            "memory_total_mb": 1.0, "defaults": MeasureSettings().model_dump()}  # fmt: skip
    return {**base, **change}


def test_descriptive_strings_an_agent_reports_are_cut_to_their_bound() -> None:
    info = DeviceInfo.model_validate(_device(hostname="h" * (20 << 20), cpu_model="<b>" * 1000,
                                             versions={"torch" * 100: "2" * 1000}))  # fmt: skip
    assert len(info.hostname) == MAX_TEXT and info.hostname.endswith("[cut]")
    assert len(info.cpu_model) == MAX_TEXT
    assert all(len(k) <= MAX_TEXT and len(v or "") <= MAX_TEXT for k, v in info.versions.items())
    item = JobItemPublic(index=0, status="failed", error="E" * (20 << 20))
    assert item.error is not None and len(item.error) == MAX_ERROR


@pytest.mark.parametrize(
    "change",
    [{"name": "n" * 201}, {"fingerprint": ""}, {"gpus": [{"name": "g"}] * 65},
     {"versions": {str(i): "v" for i in range(65)}}],
)  # fmt: skip
def test_what_identifies_or_counts_is_refused_beyond_its_bound(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        DeviceInfo.model_validate(_device(**change))


def test_results_carry_bounded_samples_and_notes() -> None:
    with pytest.raises(ValidationError, match="at most 10000 items"):
        _result(CFG, samples=[1.0] * (MAX_SAMPLES + 1))
    with pytest.raises(ValidationError, match="bytes as JSON"):
        _result(CFG, context={"note": "x" * 10_000})
    with pytest.raises(ValidationError):
        JobItemPublic(index=-1, status="pending")
