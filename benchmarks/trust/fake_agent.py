"""A fake, misbehaving LTS agent (the reliability review of 2026-12-07); binds 127.0.0.1 only.

    python benchmarks/trust/fake_agent.py PORT MODES [NAME]

MODES, comma-separated: ``ok``, ``xss`` (markup in every string), ``fail`` (every 2nd item
fails), ``neg``, ``nan``, ``inf`` (such figures), ``swap`` (item indexes reversed; latency =
decoder params / 1e4, so a misfiled result shows), ``badindex`` (index + 100), ``infra``
(infrastructure faults), ``bigdev``/``bigerr`` (BIG_MB of hostname / error), ``endless``
(``/device`` streams a byte every 50 ms for STREAM_S), ``endlessjobs`` (jobs stay pending and
each poll of one streams a byte every 50 ms for STREAM_S), ``flood`` (``/device`` streams
BIG_MB as fast as it can), ``html`` (``/device`` answers text/html)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from lts.shared.config import ArchConfig
from lts.shared.params import count_params
from lts.shared.schemas import MeasureSettings

PORT, MODE = int(sys.argv[1]), set(sys.argv[2].split(","))
XSS = (
    '<img src=x onerror=alert(1)><script>alert(2)</script><a href="javascript:alert(3)">x</a>'
    '<b>bold</b><a href="https://evil.example/phish">click</a>'
)
NAME = sys.argv[3] if len(sys.argv) > 3 else "fake"
BIG = int(float(os.environ.get("BIG_MB", "50")) * 1024 * 1024)
STREAM_S = float(os.environ.get("STREAM_S", "120"))
JOBS: dict[str, dict] = {}
LOCK = threading.Lock()
COUNT = {"items": 0}


def device_info() -> dict:
    s = XSS if "xss" in MODE else ""
    return {
        "name": NAME,
        "fingerprint": "f" * 16,
        "slots": 1,
        "hostname": ("h" * BIG) if "bigdev" in MODE else "evilhost" + s,
        "os": "Linux" + s,
        "machine": "x86_64" + s,
        "cpu_model": "EvilCPU" + s,
        "cores_logical": 2,
        "cores_physical": 1,
        "memory_total_mb": 4096.0,
        "gpus": [{"name": "gpu" + s, "memory_mb": 1.0}],
        "versions": {"torch" + s: "2.13" + s},
        "defaults": MeasureSettings().model_dump(),
    }


def make_item(i: int, raw: dict, n: int) -> dict:
    cfg = ArchConfig.from_dict(raw["arch"])
    given = {k: v for k, v in (raw.get("settings") or {}).items() if v is not None}
    settings = MeasureSettings().model_copy(update=given).model_dump()
    item = {
        "index": i,
        "status": "done",
        "error": None,
        "fault": None,
        "started": True,
        "version": 1,
        "arch_id": cfg.arch_id,
        "settings": settings,
        "result": None,
    }
    if "infra" in MODE:
        return {**item, "status": "failed", "fault": "infrastructure", "error": "helper killed"}
    if "bigerr" in MODE:
        return {**item, "status": "failed", "fault": "model", "error": "E" * BIG}
    if "fail" in MODE and n % 2 == 0:
        return {**item, "status": "failed", "fault": "model", "error": "boom " + XSS}
    lat, mem = 5.0 + n % 7, 10.0 + n % 5
    if "neg" in MODE:
        lat, mem = -1000.0 - n, -50.0
    if "nan" in MODE:
        lat = float("nan")
    if "inf" in MODE:
        lat, mem = float("inf"), float("-inf")
    if "swap" in MODE:
        lat = count_params(cfg).decoder / 1e4
    s = XSS if "xss" in MODE else ""
    item["result"] = {
        "arch_id": cfg.arch_id,
        "peak_memory_mb": mem,
        "settings": settings,
        "latency_ms": {
            "median": lat,
            "p10": lat,
            "p90": lat,
            "mean": lat,
            "min": lat,
            "cv": 0.01,
            "n": 10,
            "samples": [lat] * 10,
        },
        "memory": {"method": "fake" + s},
        "context": {"note": s, "load_avg_before": [0.1, 0.1, 0.1], "busy": False},
    }
    return item


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a: object) -> None:
        pass

    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, obj: object) -> None:
        self._send(code, json.dumps(obj, allow_nan=True).encode())

    def _stream(self, fast: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(d: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(d), d))
            self.wfile.flush()

        try:
            chunk(b'{"name": "')
            t0, sent = time.time(), 0
            while time.time() - t0 < STREAM_S and not (fast and sent >= BIG):
                d = b" " * (1 << 20) if fast else b"a"
                chunk(d)
                sent += len(d)
                if not fast:
                    time.sleep(0.05)
            chunk(b'"}')
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass

    def do_GET(self) -> None:
        u = urlparse(self.path)
        if u.path == "/health":
            return self._json(200, {"status": "ok", "version": "0", "name": NAME[:200]})
        if u.path == "/device":
            if "endless" in MODE or "flood" in MODE:
                return self._stream("flood" in MODE)
            if "html" in MODE:
                return self._send(200, b"<html>not json</html>", "text/html")
            return self._json(200, device_info())
        if u.path == "/jobs":
            key = (parse_qs(u.query).get("key") or [None])[0]
            with LOCK:
                data = [j for j in JOBS.values() if key is None or j["key"] == key]
            return self._json(200, {"data": data, "count": len(data)})
        if u.path.startswith("/jobs/") and "endlessjobs" in MODE:
            return self._stream(False)
        if u.path.startswith("/jobs/"):
            with LOCK:
                job = JOBS.get(u.path.split("/")[2])
            if job:
                return self._json(200, job)
            return self._json(404, {"detail": "no such job", "field": None})
        return self._json(404, {"detail": "not found", "field": None})

    def do_POST(self) -> None:
        raw = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        with LOCK:
            for job in JOBS.values():
                if raw.get("key") and job["key"] == raw["key"]:
                    return self._json(200, job)
            items = []
            for i, it in enumerate(raw["items"]):
                COUNT["items"] += 1
                items.append(make_item(i, it, COUNT["items"]))
            if "endlessjobs" in MODE:
                items = [{**it, "status": "pending", "result": None, "started": False}
                         for it in items]  # fmt: skip
            for it in items:
                if "badindex" in MODE:
                    it["index"] += 100
                if "swap" in MODE:
                    it["index"] = len(items) - 1 - it["index"]
            now = "2026-12-07T00:00:00+00:00"
            job = {
                "id": uuid.uuid4().hex,
                "status": "running" if "endlessjobs" in MODE else "done",
                "version": 1,
                "key": raw.get("key"),
                "created_at": now,
                "started_at": now,
                "finished_at": now,
                "items": items,
            }
            JOBS[job["id"]] = job
        return self._json(202, job)

    def do_DELETE(self) -> None:
        with LOCK:
            job = JOBS.get(urlparse(self.path).path.split("/")[-1])
        if job:
            return self._json(200, job)
        return self._json(404, {"detail": "no such job", "field": None})


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
server.serve_forever()
