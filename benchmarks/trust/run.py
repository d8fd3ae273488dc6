"""Re-run the reproductions of the reliability review of 2026-12-07 (trust boundaries) and
print one figure per finding: what a client without a token, a misbehaving agent or a web
page on another site can make the agent and the controller do.

    python benchmarks/trust/run.py [PROBE ...] [--out DIR] [--quick]

PROBES (default: all): ``slowbody`` (F1), ``header`` (F11), ``flood`` (F2), ``endless`` (F7),
``results`` (F4, F5), ``export`` (F3), ``csrf`` (F6), ``space`` (F8), ``plotly`` (F10),
``samples`` (F12), ``tokens`` (F13), ``newuser`` (the new-user review's resume hint, wrong
token and stopped agent). Every server is a real ``agent serve`` / ``controller serve`` (or
the review's fake agent, ``fake_agent.py``) on 127.0.0.1; every process started is stopped by
its id. Timings depend on the machine's load: read the sizes, counts and statuses first.
``--quick`` runs fewer and shorter connections (the figures then are not the review's).
The last line of each probe is its JSON summary; ``--out`` keeps the logs and the stores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BIN = Path(sys.executable).parent
SPACE_SMALL = {
    "backbone": "gpt2", "n_layer": [1, 2], "d_model": [64, 128], "d_embed": [64],
    "div_val": [1], "n_head": [2, 4], "d_inner": {"min": 128, "max": 256, "step": 64},
    "n_token": 1000, "cutoffs": [200, 500],
}  # fmt: skip
SPACE_BIG = {
    "backbone": "gpt2", "n_layer": {"min": 1, "max": 1024, "step": 1},
    "d_model": {"min": 64, "max": 524288, "step": 64}, "d_embed": [64, 128, 256],
    "div_val": [1, 2, 4], "n_head": [1, 2, 4, 8, 16, 32, 64],
    "d_inner": {"min": 16, "max": 1048576, "step": 16}, "n_token": 1048576, "tgt_len": 1048576,
}  # fmt: skip
QUICK_MEASURE = {"time_budget_s": 0.3, "min_time_s": 0.1, "warmup_s": 0.02}


# ------------------------------------------------------------------------------ plumbing
class Lab:
    """The scratch folder, the processes started (stopped by id at the end) and the results."""

    def __init__(self, out: Path, quick: bool) -> None:
        self.out = out
        self.quick = quick
        self.procs: list[subprocess.Popen[bytes]] = []
        self.results: dict[str, Any] = {}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LTS_")}

    def token(self, name: str) -> Path:
        path = self.out / f"{name}.token"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path

    def spawn(
        self, cmd: list[str], log: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with (self.out / log).open("ab") as sink:
            proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT,
                                    env={**self.env, **(env or {})}, cwd=self.out)  # fmt: skip
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs:
            self.stop(proc)

    def agent(self, port: int, *extra: str) -> subprocess.Popen[bytes]:
        proc = self.spawn([str(BIN / "agent"), "serve", "--port", str(port), "--token-file",
                           str(self.token("agent")), "--name", f"agent{port}", "--max-queue",
                           "64", *extra], f"agent{port}.log")  # fmt: skip
        wait_up(port, proc)
        return proc

    def fake(
        self, port: int, modes: str, name: str = "fake", **env: str
    ) -> subprocess.Popen[bytes]:
        proc = self.spawn([sys.executable, str(HERE / "fake_agent.py"), str(port), modes, name],
                          f"fake{port}.log", env)  # fmt: skip
        wait_up(port, proc)
        return proc

    def controller(self, port: int, db: Path, *extra: str) -> subprocess.Popen[bytes]:
        proc = self.spawn([str(BIN / "controller"), "serve", "--port", str(port), "--db",
                           str(db), *extra], f"controller{port}.log")  # fmt: skip
        wait_up(port, proc)
        return proc

    def record(self, probe: str, **figures: Any) -> None:
        self.results[probe] = figures
        print(json.dumps({probe: figures}), flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process {proc.args} exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"port {port} did not answer /health")


def rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS"))


@contextlib.contextmanager
def peak_rss(pid: int) -> Iterator[dict[str, int]]:
    """The RSS of ``pid`` sampled every 0.1 s while the block runs: ``peak`` (MB)."""
    seen = {"peak": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError, StopIteration):
                seen["peak"] = max(seen["peak"], rss_mb(pid))
            time.sleep(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


def timed_cli(
    lab: Lab,
    args: list[str],
    timeout_s: float = 600,
    log: str = "cli.log",
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> dict[str, Any]:
    """Run ``controller ARGS`` under /usr/bin/time: exit status, seconds, peak RSS (MB) and its
    standard error (the lines a user sees)."""
    err = lab.out / f"{log}.err"
    cmd = ["/usr/bin/time", "-f", "MAXRSS_KB %M", str(BIN / "controller"), *args]
    started = time.monotonic()
    with err.open("wb") as sink, (lab.out / log).open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=sink, env=lab.env, cwd=lab.out)
        if on_start is not None:
            on_start(proc)
        try:
            code: Any = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            stop_children(proc)
            proc.wait(30)
            code = f"still running after {timeout_s:g} s (stopped)"
    seconds = time.monotonic() - started
    text = err.read_text(errors="replace")
    maxrss = [int(line.split()[1]) for line in text.splitlines() if line.startswith("MAXRSS_KB")]
    lines = [line for line in text.splitlines() if not line.startswith("MAXRSS_KB")]
    return {"exit": code, "seconds": round(seconds, 1),
            "peak_rss_mb": maxrss[0] // 1024 if maxrss else None,
            "stderr_lines": len([x for x in lines if x.strip()]),
            "stderr_tail": [x[:300] for x in lines[-4:]]}  # fmt: skip


def stop_children(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal the children of ``proc`` (/usr/bin/time makes its child ignore SIGINT)."""
    path = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    for child in path.read_text().split() if path.exists() else []:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), sig)


def agents_file(lab: Lab, name: str, entries: dict[str, tuple[int, bool]]) -> Path:
    """An agents file: name -> (port, with the agent token)."""
    path = lab.out / name
    text = ""
    for agent, (port, token) in entries.items():
        text += f'[agents.{agent}]\nurl = "http://127.0.0.1:{port}"\n'
        if token:
            text += f'token_file = "{lab.token("agent")}"\n'
    path.write_text(text)
    path.chmod(0o600)
    return path


def search_args(agent_url: str, db: Path, *more: str, space: Path | None = None) -> list[str]:
    return ["search", "--agents", agent_url, "--db", str(db), "--space",
            str(space), "--iterations", "2", "--population", "6", "--baseline-layers", "1-2",
            "--baseline-sizes", "space", *more]  # fmt: skip


def space_file(
    lab: Lab, name: str = "space_small.json", space: dict[str, Any] = SPACE_SMALL
) -> Path:
    path = lab.out / name
    path.write_text(json.dumps(space))
    return path


def store_figures(db: Path) -> dict[str, Any]:
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as con:

        def one(sql: str) -> Any:
            return con.execute(sql).fetchone()[0]

        return {
            "store_mb": round(db.stat().st_size / 2**20, 1),
            "searches": one("select count(*) from searches"),
            "measurements": one("select count(*) from measurements"),
            "longest_device_info": one("select max(length(info)) from devices") or 0,
            "longest_error": one("select max(length(error)) from measurements") or 0,
            "negative_figures": one(
                "select count(*) from measurements where latency_ms < 0 or peak_memory_mb < 0"
            ),
            "statuses": [r[0] for r in con.execute("select status from searches")],
        }


# -------------------------------------------------------------------------------- probes
def probe_slowbody(lab: Lab) -> None:
    """F1: slow bodies without a token on both services."""
    a_port, c_port = free_port(), free_port()
    agent = lab.agent(a_port)
    agents = agents_file(lab, "agents-slow.toml", {"real": (a_port, True)})
    ctl = lab.controller(c_port, lab.out / "slow.sqlite", "--agents-file", str(agents),
                         "--token-file", str(lab.token("ctl")))  # fmt: skip
    n_big, n_many, hold = (60, 200, 16) if lab.quick else (300, 1000, 24)
    runs = [
        ("agent 1MiB POST /jobs", a_port, agent.pid, n_big, "POST", "/jobs", 1048576, 1048000),
        ("agent trickle POST /jobs", a_port, agent.pid, n_many, "POST", "/jobs", 100, 1),
        ("controller 1MiB GET /health", c_port, ctl.pid, n_big, "GET", "/health", 1048576, 1048000),
        ("controller trickle POST /ui/login", c_port, ctl.pid, n_many, "POST", "/ui/login", 100, 1),
    ]  # fmt: skip
    for label, port, pid, n, method, path, body, fill in runs:
        run = subprocess.run(
            [sys.executable, str(HERE / "slowbody.py"), str(port), str(pid), str(n), method, path,
             str(body), str(fill), str(hold), "8", "/health"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        summary = json.loads(run.stdout.strip().splitlines()[-1])
        ok = sum(p == "200" for p in summary["probes"])
        lab.record(f"F1 {label} x{n}", rss_before_mb=summary["before_mb"],
                   rss_peak_mb=summary["peak_mb"], rss_after_mb=summary["after_mb"],
                   growth_mb=summary["peak_mb"] - summary["before_mb"],
                   fresh_health_ok=f"{ok}/{len(summary['probes'])}")  # fmt: skip
    lab.stop(ctl)
    lab.stop(agent)


def probe_header(lab: Lab) -> None:
    """F11: one byte of a request head; how long the connection stays open (35 s at most)."""
    port = free_port()
    agent = lab.agent(port)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"G")
    s.settimeout(35)
    started = time.monotonic()
    try:
        closed = s.recv(1) == b""
    except (TimeoutError, OSError):
        closed = False
    seconds = time.monotonic() - started
    s.close()
    lab.record("F11 one byte of a head", closed_after_s=round(seconds, 1) if closed else None,
               open_after_35_s=not closed)  # fmt: skip
    lab.stop(agent)


def probe_flood(lab: Lab) -> None:
    """F2: a 600 MB /device answer, to controller search and to GET /agents."""
    big = "120" if lab.quick else "600"
    port = free_port()
    fake = lab.fake(port, "flood", BIG_MB=big)
    space = space_file(lab)
    args = ["search", "--agents", f"http://127.0.0.1:{port}", "--db",
            str(lab.out / "flood.sqlite"), "--space", str(space), "--iterations", "1",
            "--population", "4", "--fail-after-s", "15"]  # fmt: skip
    cli = timed_cli(lab, args, log="flood-cli")
    lab.record(f"F2 controller search, {big} MB /device answer", **cli)
    c_port = free_port()
    agents = agents_file(lab, "agents-flood.toml", {"evil2": (port, False)})
    ctl = lab.controller(c_port, lab.out / "flood-api.sqlite", "--agents-file", str(agents),
                         "--token-file", str(lab.token("ctl")))  # fmt: skip
    before = rss_mb(ctl.pid)
    result: dict[str, Any] = {}

    def agents_call() -> None:
        t = time.monotonic()
        try:
            code = httpx.get(f"http://127.0.0.1:{c_port}/agents", timeout=300).status_code
        except httpx.HTTPError as exc:
            code = type(exc).__name__
        result["agents"] = (code, round(time.monotonic() - t, 1))

    with peak_rss(ctl.pid) as seen:
        thread = threading.Thread(target=agents_call)
        thread.start()
        time.sleep(0.5)
        t = time.monotonic()
        code = httpx.get(f"http://127.0.0.1:{c_port}/health", timeout=300).status_code
        health_s = time.monotonic() - t
        thread.join()
    lab.record(f"F2 GET /agents with a {big} MB /device answer", agents=result["agents"],
               health=(code, round(health_s, 2)), rss_before_mb=before,
               rss_peak_mb=seen["peak"], rss_after_mb=rss_mb(ctl.pid))  # fmt: skip
    lab.stop(ctl)
    lab.stop(fake)


def probe_endless(lab: Lab) -> None:
    """F7: an answer that trickles a byte every 50 ms for 90 s, with --fail-after-s 15."""
    port = free_port()
    fake = lab.fake(port, "endless", STREAM_S="90")
    cli = timed_cli(lab, ["search", "--agents", f"http://127.0.0.1:{port}", "--db",
                          str(lab.out / "endless.sqlite"), "--space", str(space_file(lab)),
                          "--iterations", "1", "--population", "4", "--fail-after-s", "15"],
                    log="endless-cli")  # fmt: skip
    lab.record("F7 endless /device answer, --fail-after-s 15", **cli)
    lab.stop(fake)
    port = free_port()
    fake = lab.fake(port, "endlessjobs", STREAM_S="90")
    args = ["search", "--agents", f"http://127.0.0.1:{port}", "--db",
            str(lab.out / "endless-jobs.sqlite"), "--space", str(space_file(lab)),
            "--iterations", "1", "--population", "4", "--fail-after-s", "15"]  # fmt: skip
    cli = timed_cli(lab, args, log="endless-jobs-cli")
    lab.record("F7 endless job polls (the search under way), --fail-after-s 15", **cli)
    lab.stop(fake)


def probe_results(lab: Lab) -> None:
    """F4 and F5: what a misbehaving agent's results do to the store and the search."""
    space = space_file(lab)
    big = {"BIG_MB": "5" if lab.quick else "20"}
    # bigerr alone, 100 kB: within what an answer may carry, so the error is cut, not refused
    modes = [("bigdev,bigerr", big), ("bigerr", {"BIG_MB": "0.1"}), ("neg", {}), ("swap", {}),
             ("badindex", {}), ("nan", {})]  # fmt: skip
    for mode, env in modes:
        port = free_port()
        fake = lab.fake(port, mode, f"fake-{mode.replace(',', '-')}", **env)
        db = lab.out / f"results-{mode.replace(',', '-')}.sqlite"
        cli = timed_cli(lab, [*search_args(f"http://127.0.0.1:{port}", db, "--json",
                                           space=space)], log=f"results-{mode}")  # fmt: skip
        figures: dict[str, Any] = {"exit": cli["exit"], "stderr_tail": cli["stderr_tail"][-2:]}
        if db.exists():
            figures.update(store_figures(db))
        if mode == "swap" and db.exists():
            figures["misfiled"] = misfiled(db)
        lab.record(f"F4/F5 fake agent {mode}", **figures)
        lab.stop(fake)


def misfiled(db: Path) -> str:
    """Of the measurements stored, how many carry a latency that is not their own
    architecture's decoder params / 1e4 (the swap agent's signature)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as con:
        rows = con.execute("select a.decoder_params, m.latency_ms from measurements m join "
                           "architectures a on a.id = m.architecture_id where m.status = "
                           "'done'").fetchall()  # fmt: skip
    wrong = sum(abs(p / 1e4 - lat) > 1e-6 for p, lat in rows)
    return f"{wrong} of {len(rows)}"


def probe_export(lab: Lab) -> None:
    """F3: an export of a 1,000-candidate frontier as .pt, the client leaving after 15 s."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    db = lab.out / "synth.sqlite"
    if not db.exists():
        import controller_api_frontier as filler  # type: ignore[import-not-found]

        from lts.controller.store import Store

        with Store.open(db) as store:
            filler.fill(store, 300 if lab.quick else 1000, finished=True)
    port = free_port()
    ctl = lab.controller(port, db, "--token-file", str(lab.token("ctl")))
    tmp = Path(tempfile.gettempdir())
    before = {p.name for p in tmp.glob("lts-export-*")}
    t = time.monotonic()
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/searches/1/export?format=pt", timeout=15)
        answer: Any = (response.status_code, response.text[:200])
    except httpx.HTTPError as exc:
        answer = type(exc).__name__
    gone = time.monotonic() - t
    sizes = []
    for _ in range(3):
        time.sleep(5)
        sizes.append(sum(folder_mb(p) for p in tmp.glob("lts-export-*") if p.name not in before))
    lab.stop(ctl)
    left = sum(folder_mb(p) for p in tmp.glob("lts-export-*") if p.name not in before)
    for p in tmp.glob("lts-export-*"):
        if p.name not in before:
            shutil.rmtree(p, ignore_errors=True)
    lab.record("F3 export ?format=pt of the whole frontier", answer=answer,
               answered_after_s=round(gone, 1), folder_mb_after_5_10_15_s=sizes,
               left_after_stop_mb=left)  # fmt: skip
    # concurrent single-member exports of the largest member
    ctl = lab.controller(port, db, "--token-file", str(lab.token("ctl")))
    frontier = httpx.get(f"http://127.0.0.1:{port}/searches/1/frontier", timeout=120).json()
    members = frontier["data"][0]["members"]
    big = max(members, key=lambda m: m["total_params"])
    base = rss_mb(ctl.pid)
    codes: list[Any] = []

    def one() -> None:
        try:
            codes.append(
                httpx.get(
                    f"http://127.0.0.1:{port}/searches/1/export?format=pt&ids={big['arch_id']}",
                    timeout=300,
                ).status_code
            )
        except httpx.HTTPError as exc:
            codes.append(type(exc).__name__)

    with peak_rss(ctl.pid) as seen:
        threads = [threading.Thread(target=one) for _ in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    lab.record(f"F3 3 concurrent one-member exports ({big['total_params'] / 1e6:.0f}M params)",
               statuses=codes, rss_before_mb=base, rss_peak_mb=seen["peak"])  # fmt: skip
    lab.stop(ctl)


def folder_mb(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        with contextlib.suppress(OSError):
            if p.is_file():
                total += p.stat().st_size
    return total // 2**20


def probe_csrf(lab: Lab) -> None:
    """F6: a cross-site form post (the headers a browser sends) stops a running search on a
    --no-auth controller."""
    a_port, c_port = free_port(), free_port()
    agent = lab.agent(a_port)
    agents = agents_file(lab, "agents-csrf.toml", {"real": (a_port, True)})
    ctl = lab.controller(c_port, lab.out / "csrf.sqlite", "--agents-file", str(agents),
                         "--agent-token-file", str(lab.token("agent")), "--no-auth")  # fmt: skip
    url = f"http://127.0.0.1:{c_port}"
    body = {"agents": ["real"], "iterations": 50, "population": 6, "space": SPACE_SMALL,
            **QUICK_MEASURE}  # fmt: skip
    created = httpx.post(f"{url}/searches", json=body, timeout=120)
    sid = created.json().get("id")
    time.sleep(3)
    cross = {
        "Origin": "http://localhost:18950",
        "Sec-Fetch-Site": "cross-site",
        "Content-Type": "text/plain",
        "Referer": "http://localhost:18950/stop.html",
    }
    stop = httpx.post(f"{url}/searches/{sid}/stop", headers=cross, content=b"", timeout=60)
    status = httpx.get(f"{url}/searches/{sid}", timeout=30).json()["status"]
    logout = httpx.post(f"{url}/ui/logout", headers=cross, content=b"", timeout=30)
    own = httpx.post(f"{url}/searches/{sid}/stop", timeout=60)
    lab.record("F6 cross-site POST /searches/{id}/stop on --no-auth", start=created.status_code,
               cross_site_stop=stop.status_code, status_after=status,
               cross_site_logout=logout.status_code, same_client_stop=own.status_code)  # fmt: skip
    lab.stop(ctl)
    lab.stop(agent)


def probe_space(lab: Lab) -> None:
    """F8: POST /searches with a 400-byte space within the documented bounds."""
    c_port, a_port = free_port(), free_port()
    fake = lab.fake(a_port, "ok", "space-agent")
    agents = agents_file(lab, "agents-space.toml", {"real": (a_port, False)})
    ctl = lab.controller(c_port, lab.out / "space.sqlite", "--agents-file", str(agents),
                         "--token-file", str(lab.token("ctl")))  # fmt: skip
    token = lab.token("ctl").read_text()
    before = rss_mb(ctl.pid)
    with peak_rss(ctl.pid) as seen:
        t = time.monotonic()
        try:
            body = {"agents": ["real"], "space": SPACE_BIG, "iterations": 1}
            auth = {"Authorization": f"Bearer {token}"}
            r = httpx.post(f"http://127.0.0.1:{c_port}/searches", timeout=300, headers=auth,
                           json=body)  # fmt: skip
            answer: Any = (r.status_code, r.text[:300])
        except httpx.HTTPError as exc:
            answer = type(exc).__name__
        seconds = time.monotonic() - t
    lab.record("F8 POST /searches with the big space", answer=answer, seconds=round(seconds, 1),
               rss_before_mb=before, rss_peak_mb=seen["peak"])  # fmt: skip
    lab.stop(ctl)
    lab.stop(fake)
    cli = timed_cli(lab, ["space", "--space", str(space_file(lab, "space_big.json", SPACE_BIG))],
                    timeout_s=180, log="space-cli")  # fmt: skip
    lab.record("F8 controller space --space big", **cli)


def probe_plotly(lab: Lab) -> None:
    """F10: markup in agent names reaches the plotly figures."""
    port = free_port()
    name = "evil<img src=x onerror=alert(1)><a href='https://evil.example/'>phish</a>"
    fake = lab.fake(port, "xss", name)
    db = lab.out / "plotly.sqlite"
    timed_cli(lab, search_args(f"http://127.0.0.1:{port}", db, "--json", space=space_file(lab)),
              log="plotly-cli")  # fmt: skip
    c_port = free_port()
    ctl = lab.controller(c_port, db, "--token-file", str(lab.token("ctl")))
    url = f"http://127.0.0.1:{c_port}"
    sid = httpx.get(f"{url}/searches", timeout=30).json()["data"][-1]["id"]
    r = httpx.get(f"{url}/searches/{sid}/plots/frontier3d.html", timeout=120)
    live = (
        r.text.count("<a href='https://evil.example/'>")
        + r.text.count("<a href=\\u0027https://evil.example/\\u0027>")
        + r.text.count("\\u003ca href")
    )
    lab.record("F10 markup in a device name, frontier3d.html", status=r.status_code,
               raw_links=live, csp="content-security-policy" in r.headers,
               nosniff=r.headers.get("x-content-type-options"))  # fmt: skip
    lab.stop(ctl)
    lab.stop(fake)


def probe_samples(lab: Lab) -> None:
    """F12: samples of a store holding NaN and infinite figures (as a store written before
    agents' figures were checked does), against the OpenAPI schema."""
    import math

    from lts.controller.store import Store
    from lts.shared.config import ArchConfig
    from lts.shared.schemas import DeviceInfo, LatencyStats, MeasurementResult, MeasureSettings

    db = lab.out / "samples-nan.sqlite"
    tiny = {"backbone": "gpt2", "n_layer": 1, "d_model": 64, "n_head": 2, "d_inner": 128,
            "n_token": 1000, "cutoffs": [200, 500]}  # fmt: skip
    cfg = ArchConfig.from_dict(tiny)
    if not db.exists():
        settings = MeasureSettings()
        info = DeviceInfo(name="old", fingerprint="f" * 16, hostname="h", os="linux",
                          machine="x86_64", cpu_model="c", cores_logical=1,
                          memory_total_mb=1.0, defaults=settings)  # fmt: skip
        stats = LatencyStats(median=math.nan, p10=1.0, p90=math.inf, mean=1.0, min=1.0,
                             cv=0.0, n=3, samples=[1.5, math.nan, math.inf])  # fmt: skip
        result = MeasurementResult(arch_id=cfg.arch_id, latency_ms=stats, peak_memory_mb=1.0,
                                   settings=settings)  # fmt: skip
        with Store.open(db) as store:
            device = store.upsert_device("old", info)
            store.add_measurement(cfg, device.id, settings.cache_key(), result=result)
    c_port = free_port()
    ctl = lab.controller(c_port, db, "--token-file", str(lab.token("ctl")))
    url = f"http://127.0.0.1:{c_port}"
    data = httpx.get(f"{url}/architectures/{cfg.arch_id}/measurements?samples=true",
                     timeout=30).json()["data"]  # fmt: skip
    schema = httpx.get(f"{url}/openapi.json", timeout=30).json()
    prop = schema["components"]["schemas"]["MeasurementPublic"]["properties"]["samples"]
    array = next(a for a in prop.get("anyOf", [prop]) if a.get("type") == "array")
    nulls = sum(x is None for m in data for x in (m["samples"] or []))
    lab.record("F12 samples=true on a NaN store", null_samples=nulls,
               schema_items=array["items"],
               conforms=nulls == 0 or "null" in json.dumps(array["items"]))  # fmt: skip
    lab.stop(ctl)


def probe_tokens(lab: Lab) -> None:
    """F13: wrong tokens per second, the cookie, a 16-character token of one letter."""
    port = free_port()
    ctl = lab.controller(port, lab.out / "tokens.sqlite", "--token-file",
                         str(lab.token("ctl")), "--read-token")  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    codes: dict[int, int] = {}
    t = time.monotonic()
    with httpx.Client(timeout=30) as client:
        for i in range(300):
            r = client.post(
                f"{url}/searches/1/stop", headers={"Authorization": f"Bearer x{i:020d}"}
            )
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
    seconds = time.monotonic() - t
    time.sleep(0.5)
    real = lab.token("ctl").read_text()
    with httpx.Client(timeout=30) as client:
        login = client.post(f"{url}/ui/login", data={"token": real, "next": "/ui/"})
        cookie = login.cookies.get("lts_token") or ""
    lab.stop(ctl)
    weak = lab.out / "weak.token"
    weak.write_text("a" * 16)
    weak.chmod(0o600)
    p2 = free_port()
    cmd = [str(BIN / "controller"), "serve", "--port", str(p2), "--db",
           str(lab.out / "tokens.sqlite"), "--token-file", str(weak)]  # fmt: skip
    proc = lab.spawn(cmd, "weak.log")
    try:
        proc.wait(30)
        weak_accepted = proc.returncode == 0
    except subprocess.TimeoutExpired:
        weak_accepted = True
        lab.stop(proc)
    lab.record("F13 auth hygiene", wrong_tokens=codes, guesses_per_s=round(300 / seconds),
               cookie_is_token=cookie == real, login=login.status_code,
               sixteen_a_accepted=weak_accepted)  # fmt: skip


def probe_newuser(lab: Lab) -> None:
    """The new-user review: the interrupt hint, a wrong agent token, an agent not running."""
    port = free_port()
    agent = lab.agent(port)
    space = space_file(lab)
    db = lab.out / "nu.sqlite"
    wrong = lab.out / "wrong.token"
    wrong.write_text(secrets.token_urlsafe(32))
    wrong.chmod(0o600)
    cli = timed_cli(lab, [*search_args(f"http://127.0.0.1:{port}", db, space=space),
                          "--token-file", str(wrong)], log="nu-wrong")  # fmt: skip
    stored = store_figures(db)["searches"] if db.exists() else 0
    lab.record("new user: wrong agent token", exit=cli["exit"], seconds=cli["seconds"],
               searches_stored=stored, stderr_lines=cli["stderr_lines"],
               stderr_tail=cli["stderr_tail"])  # fmt: skip
    dead = free_port()
    cli = timed_cli(lab, [*search_args(f"http://127.0.0.1:{dead}", db, "--fail-after-s", "60",
                                       space=space)], log="nu-dead")  # fmt: skip
    lab.record("new user: agent not running (--fail-after-s 60)", exit=cli["exit"],
               seconds=cli["seconds"], searches_stored=store_figures(db)["searches"] if
               db.exists() else 0, stderr_tail=cli["stderr_tail"][-2:])  # fmt: skip

    def interrupt(proc: subprocess.Popen[bytes]) -> None:
        def later() -> None:
            time.sleep(25)
            stop_children(proc)  # as a terminal closing would (SIGTERM)

        threading.Thread(target=later, daemon=True).start()

    db2 = lab.out / "nu-resume.sqlite"
    cli = timed_cli(lab, [*search_args(f"http://127.0.0.1:{port}", db2, space=space),
                          "--token-file", str(lab.token("agent")), "--iterations", "30"],
                    log="nu-int", on_start=interrupt)  # fmt: skip
    hint = next((line for line in cli["stderr_tail"] if "--resume" in line), "")
    lab.record("new user: the interrupt hint", exit=cli["exit"], hint=hint,
               names_db=str(db2) in hint or "--db" in hint)  # fmt: skip
    lab.stop(agent)


PROBES: dict[str, Callable[[Lab], None]] = {
    "slowbody": probe_slowbody, "header": probe_header, "flood": probe_flood,
    "endless": probe_endless, "results": probe_results, "export": probe_export,
    "csrf": probe_csrf, "space": probe_space, "plotly": probe_plotly,
    "samples": probe_samples, "tokens": probe_tokens, "newuser": probe_newuser,
}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("probes", nargs="*", choices=[*PROBES, []], default=[])
    parser.add_argument("--out", help="scratch folder (default: a new temporary one)")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter connections")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="lts-trust-")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    lab = Lab(out, args.quick)
    try:
        for name in args.probes or list(PROBES):
            print(f"== {name}", flush=True)
            try:
                PROBES[name](lab)
            except Exception as exc:  # one probe's failure must not hide the others
                lab.record(name, error=f"{type(exc).__name__}: {exc}")
    finally:
        lab.stop_all()
        (out / "results.json").write_text(json.dumps(lab.results, indent=1))
        print(f"results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
