"""The host side of scripts/arm64_root.py: checks, commands, mounts, processes and the lock.

What scripts/arm64_root.py, scripts/arm64-smoke and scripts/docker-smoke share to run aarch64
code in a chroot under qemu-user on this machine: the preflight (exit 77 with the reason where
it cannot), a command runner that prints a failed command's output, the step timer, the mounts
made in a root (removed in reverse order), the processes left in it (killed), and the lock
that keeps two scripts from changing a root at once. Nothing here knows what the root holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

SKIP = 77
BINFMT = Path("/proc/sys/fs/binfmt_misc")


class Skip(Exception):
    """This machine cannot run the emulated work (exit 77)."""


class Failed(Exception):
    """A step failed (exit 1)."""


# ------------------------------------------------------------------------------ reporting
T0 = time.monotonic()
#: (step, wall seconds, CPU seconds of the child processes)
PHASES: list[tuple[str, float, float]] = []


def say(text: str) -> None:
    print(f"[arm64-root {time.monotonic() - T0:7.1f}s] {text}", flush=True)


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    say(f"== {name}")
    t0, cpu0 = time.monotonic(), children_cpu_s()
    try:
        yield
    finally:
        wall, cpu = time.monotonic() - t0, children_cpu_s() - cpu0
        PHASES.append((name, wall, cpu))
        say(f"-- {name}: {wall:.1f} s (CPU {cpu:.1f} s)")


def run(
    cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 5400,
    log: Path | None = None, check: bool = True,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run a command, its output captured (into ``log`` when given; its tail printed on
    failure)."""
    if log is None:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL)  # fmt: skip
    else:
        with log.open("w") as out:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, text=True,
                                  timeout=timeout, env=env, stdin=subprocess.DEVNULL)  # fmt: skip
        proc.stdout, proc.stderr = log.read_text(errors="replace"), ""
    if check and proc.returncode != 0:
        print((proc.stdout + proc.stderr).rstrip()[-6000:], file=sys.stderr, flush=True)
        raise Failed(f"{' '.join(cmd[:6])} ... exited with {proc.returncode}")
    return proc


# ------------------------------------------------------------------------------- preflight
def preflight() -> None:
    """Raise Skip (with the reason) where this machine cannot run aarch64 code in a chroot."""
    if platform.system() != "Linux":
        raise Skip(f"needs Linux (this is {platform.system()})")
    if os.geteuid() != 0:
        raise Skip("needs root (debootstrap, chroot and bind mounts)")
    if platform.machine() == "aarch64":
        return  # the root runs natively
    if not (shutil.which("qemu-aarch64-static") or Path("/usr/libexec/qemu-binfmt").is_dir()):
        raise Skip("qemu-user is not installed (apt-get install qemu-user-static binfmt-support)")
    if not (BINFMT / "status").exists():
        mounted = run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=False)
        if mounted.returncode != 0:
            raise Skip(f"binfmt_misc is not mounted and cannot be: {mounted.stderr.strip()}")
    entry = BINFMT / "qemu-aarch64"
    disabled = not entry.exists() or not entry.read_text().startswith("enabled")
    if disabled and shutil.which("update-binfmts"):
        run(["update-binfmts", "--enable", "qemu-aarch64"], check=False)
    if not entry.exists() or not entry.read_text().startswith("enabled"):
        raise Skip("qemu-aarch64 is not registered and enabled in binfmt_misc (binfmt-support)")
    flags = re.search(r"^flags: *(\S*)", entry.read_text(), re.M)
    if not flags or "F" not in flags.group(1):
        raise Skip("qemu-aarch64's binfmt entry lacks the F flag: it cannot run in a chroot "
                   "or a container")  # fmt: skip


def debian_mirror(override: str = "LTS_ARM64_MIRROR") -> str:
    """The Debian mirror this machine's APT uses (the variable ``override`` wins)."""
    if os.environ.get(override):
        return os.environ[override]
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if path.suffix in (".list", ".sources", "") and path.is_file():
            text = path.read_text(errors="replace")
            for m in re.finditer(r"(?:^URIs:\s*|^deb\s+(?:\[[^\]]*\]\s*)?)(\S+)", text, re.M):
                if m.group(1).rstrip("/").endswith("/debian"):
                    return m.group(1).rstrip("/")
    return "http://deb.debian.org/debian"


def host_cas() -> list[Path]:
    """This host's own CA certificates (Debian's place for them)."""
    return sorted(Path("/usr/local/share/ca-certificates").rglob("*.crt"))


# ---------------------------------------------------------------------------------- mounts
class Mounts:
    """Mounts made in the root, removed in reverse order by :meth:`clear`."""

    def __init__(self) -> None:
        self.made: list[Path] = []

    def mount(self, *args: str, target: Path) -> None:
        if not target.exists():  # a file (a bind-mounted /proc/cpuinfo) is a target too
            target.mkdir(parents=True)
        run(["mount", *args, str(target)])
        self.made.append(target)

    def unmount(self, target: Path) -> None:
        if target in self.made:
            self.made.remove(target)
            if subprocess.run(["umount", str(target)], capture_output=True).returncode:
                subprocess.run(["umount", "-l", str(target)], capture_output=True)

    def clear(self) -> None:
        for target in reversed(list(self.made)):
            self.unmount(target)


def unmount_under(path: Path) -> None:
    """Unmount whatever is still mounted at or below ``path`` (debootstrap's second stage
    mounts /proc and /sys in the root itself, and leaves them when it is killed)."""
    prefix = str(path.resolve())
    with contextlib.suppress(OSError):
        mounted = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for target in sorted((m for m in mounted if m == prefix or m.startswith(prefix + "/")),
                             key=len, reverse=True):  # fmt: skip
            if subprocess.run(["umount", target], capture_output=True).returncode:
                subprocess.run(["umount", "-l", target], capture_output=True)


def processes_in(root: Path) -> list[int]:
    """PIDs whose root directory is ``root`` (only this cache's work runs there)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "root") == str(root):
                    pids.append(int(entry.name))
    return pids


def kill_processes_in(root: Path) -> None:
    for pid in processes_in(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def locked(cache: Path) -> Iterator[None]:
    """Hold ``cache``'s lock (one script at a time changes or reads the root in it)."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another run's lock on {cache}")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
