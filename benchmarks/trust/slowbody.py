"""N connections send a full request head declaring BODY bytes, FILL bytes at once, then one byte
every TRICKLE s; prints the server's RSS and a fresh GET PROBE meanwhile. No token is sent.
(The reliability review of 2026-12-07, F1, kept as it was run.)

    python benchmarks/trust/slowbody.py PORT SERVER_PID N METHOD PATH BODY FILL HOLD_S \
        [TRICKLE_S] [PROBE]

The last line is a JSON summary: RSS before, peak and after (MB), and the fresh probes'
answers (a status code, ``closed`` or an exception's name)."""

from __future__ import annotations

import json
import socket
import sys
import time


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS"))


def probe(port: int, path: str) -> tuple[str, float]:
    t = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        d = s.recv(100)
        s.close()
        status = d.split(b" ")[1].decode() if d else "closed"
    except OSError as e:
        status = type(e).__name__
    return status, round(time.monotonic() - t, 2)


def main() -> None:
    port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    method, path = sys.argv[4], sys.argv[5]
    body, fill, hold = int(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8])
    trickle = float(sys.argv[9]) if len(sys.argv) > 9 else 5.0
    probe_path = sys.argv[10] if len(sys.argv) > 10 else "/health"
    before = rss(pid)
    print("before", before, "MB", probe(port, probe_path), flush=True)
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {body}\r\n\r\n"
    ).encode()
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(head + b" " * fill)
            socks.append(s)
        except OSError:
            pass
    t0, peak, probes = time.monotonic(), before, []
    while time.monotonic() - t0 < hold:
        time.sleep(trickle)
        alive = 0
        for s in socks:
            try:
                s.send(b" ")
                alive += 1
            except OSError:
                pass
        now = rss(pid)
        peak = max(peak, now)
        answer = probe(port, probe_path)
        probes.append(answer[0])
        print(
            f"t={time.monotonic() - t0:.0f}s open {alive}/{n}, rss {now} MB, "
            f"fresh {probe_path}: {answer}",
            flush=True,
        )
    for s in socks:
        s.close()
    time.sleep(3)
    after = rss(pid)
    print("after close", after, "MB", probe(port, probe_path))
    print(json.dumps({"before_mb": before, "peak_mb": peak, "after_mb": after, "probes": probes}))


if __name__ == "__main__":
    main()
