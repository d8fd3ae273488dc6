#!/usr/bin/env python3
"""The arm64 Debian 12 root with the agent's locked dependencies: built once per machine, shared.

Who uses it: scripts/arm64-smoke runs the agent in it under qemu-user (chroot), and
scripts/docker-smoke builds its arm64 agent image on an image made from it. Both used to
debootstrap and pip-install the same things under emulation, each on its own; this does it
once. Run it alone (`python scripts/arm64_root.py`, as .ci/run does) to build or refresh the
cache and see what each step costs; the two smoke tests call it themselves.

What it holds: Debian 12 (minbase, python3.11, ca-certificates with this host's own CA
certificates, passwd) and a venv at /opt/python with `docker/lock_install.py deps agent` done in
it: every package at its pin in requirements.lock, torch==2.9.1 (TORCH_AARCH64) in place of the
lock's x86-64 pin, exactly what the agent image's dependency layer installs on aarch64.

Steps (wall and CPU seconds of each are printed; the CPU figure counts this script's child
processes, so it stays comparable when other work shares the machine):
1. preflight: Linux, root (debootstrap, chroot, mounts), qemu-aarch64 registered in
   binfmt_misc with the F flag (binfmt_misc mounted and the entry enabled when it can be);
   otherwise exit 77 with the reason;
2. rootfs: `debootstrap --foreign` (native: download and unpack), this host's CA certificates
   from /usr/local/share/ca-certificates placed where the ca-certificates package's own
   postinst adds them to the system bundle, then `debootstrap --second-stage` in the root
   (dpkg and the maintainer scripts, emulated); cached in $LTS_ARM64_CACHE/rootfs (default
   /var/cache/lts-arm64) under a key of the recipe, the mirror and the CAs;
3. wheels: the lock's pins as aarch64 wheels (pure-Python or manylinux aarch64, torch at
   TORCH_AARCH64), fetched natively by this host's pip (`pip download --no-deps
   --only-binary=:all: --platform ...`, pip's own index and certificate settings) into
   $LTS_ARM64_CACHE/wheels; a pin already there is not fetched again;
4. deps: a fresh venv (emulated) and `python lock_install.py deps agent` in it, by the root's
   own pip under qemu-user: it
   resolves the agent extra for aarch64 (markers evaluated there) under the lock, offline from
   those wheels (PIP_NO_INDEX), and does not byte-compile (under qemu-user compiling took
   three times as long as unpacking); should the lock lack a package that aarch64 needs, it
   says so and installs again with PyPI as well;
5. compile: the venv's modules byte-compiled natively (`compileall`, the paths as the root sees
   them) when this Python writes the root's .pyc format (same magic number: 3.11), else under
   qemu-user. The deps step reruns (a fresh venv) when pyproject.toml, requirements.lock,
   docker/lock_install.py or TORCH_AARCH64 change, as Docker rebuilds a dependency layer.

Every mount it makes is removed and every process left in the root is killed on exit, Ctrl-C
and SIGTERM included; an interrupted build leaves no half-made cache behind (the stamps are
written last). A lock file ($LTS_ARM64_CACHE/.lock) keeps two scripts from changing the root at
once. The host side of all this (preflight, commands, mounts, processes, the lock) is
scripts/arm64_host.py.

Exit status (alone): 0 ready, 1 failed, 77 cannot run here (the reason is printed).

Environment: LTS_ARM64_CACHE, LTS_ARM64_MIRROR (default: the Debian mirror of this machine's
APT sources), TORCH_AARCH64 (lock_install.py's: a torch version in place of 2.9.1).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # loaded by path, not as a script
# scripts/arm64_host.py, beside this file (importable however this one was loaded)
from arm64_host import (
    PHASES,
    SKIP,
    T0,
    Failed,
    Mounts,
    Skip,
    children_cpu_s,
    debian_mirror,
    host_cas,
    kill_processes_in,
    locked,
    phase,
    preflight,
    run,
    say,
    unmount_under,
)

__all__ = ["SKIP", "Failed", "Mounts", "Skip", "debian_mirror", "host_cas", "locked",
           "preflight"]  # fmt: skip

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("LTS_ARM64_CACHE", "/var/cache/lts-arm64"))
ROOT = CACHE / "rootfs"
WHEELS = CACHE / "wheels"
#: The venv of the locked dependencies, first on PATH (in the chroot and in the Docker base).
VENV = "/opt/python"
SITE = f"{VENV}/lib/python3.11/site-packages"
DEPS_DIR = "/opt/lts-deps"  # lock_install.py and its inputs, in the root
WHEELS_MOUNT = "/opt/lts-wheels"  # the wheelhouse, bind-mounted while pip runs
#: lock_install.py's own variable: a torch version in place of 2.9.1 on aarch64.
TORCH = os.environ.get("TORCH_AARCH64", "")
RECIPE = {
    "suite": "bookworm", "variant": "minbase", "venv": VENV, "recipe": "2",
    "include": "python3,python3-venv,ca-certificates,passwd",
}  # fmt: skip
PATH = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
#: Paths in the root that belong to scripts/arm64-smoke's runs, not to the shared root: never
#: in the Docker base made from it.
#: (opt/lts-venv: the test's venv before this root was shared.)
SMOKE_ONLY = ["opt/lts-smoke", "opt/lts-src", "opt/lts-token", "opt/lts-venv"]
#: PyPI's platform tags for Debian 12 on aarch64 (glibc 2.36), newest first.
PLATFORMS = ["manylinux_2_28_aarch64", "manylinux2014_aarch64"]


def _load_lock_install() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lts_lock_install",
                                                  REPO / "docker" / "lock_install.py")  # fmt: skip
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: docker/lock_install.py: its pins and its aarch64 torch rule are the ones every arm64 install
#: here uses (the images' dependency layer runs the same file).
LOCK_INSTALL = _load_lock_install()
canonical = LOCK_INSTALL.canonical


# ---------------------------------------------------------------------------------- chroot
def chroot_env(extra: dict[str, str] | None = None) -> list[str]:
    """A clean environment for a command in the root (``env -i``): its PATH, pip quiet about
    its version and trusting the system bundle (which holds this host's CAs)."""
    env = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1",
           "PIP_CERT": CA_BUNDLE, "PIP_DEFAULT_TIMEOUT": "120", **(extra or {})}  # fmt: skip
    return ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items())]


def chroot(
    root: Path, cmd: str, *, env: dict[str, str] | None = None, timeout: float = 5400,
    log: Path | None = None, check: bool = True,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run a shell command in ``root`` (emulated where it is arm64 and this host is not)."""
    return run(["chroot", str(root), *chroot_env(env), "/bin/sh", "-c", cmd],
               env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, timeout=timeout, log=log,
               check=check)  # fmt: skip


# ---------------------------------------------------------------------------------- rootfs
def root_key(mirror: str) -> str:
    digest = hashlib.sha256(json.dumps([RECIPE, mirror, PATH]).encode())
    for ca in host_cas():
        digest.update(ca.read_bytes())
    return digest.hexdigest()[:16]


def build_rootfs() -> str:
    """The root file system, built once per key; returns the key."""
    mirror = debian_mirror()
    key = root_key(mirror)
    stamp = ROOT / ".lts-rootfs"
    if stamp.is_file() and stamp.read_text().split()[:1] == [key]:
        say(f"cached root file system: {ROOT} ({key})")
        return key
    if not shutil.which("debootstrap"):
        raise Skip("no cached root file system and debootstrap is not installed "
                   "(apt-get install debootstrap)")  # fmt: skip
    tmp = CACHE / "rootfs.tmp"
    unmount_under(tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        with phase(f"rootfs: debootstrap --foreign {RECIPE['suite']} arm64 (native) from {mirror}"):
            run(["debootstrap", "--foreign", "--arch=arm64", f"--variant={RECIPE['variant']}",
                 f"--include={RECIPE['include']}", RECIPE["suite"], str(tmp), mirror],
                log=CACHE / "debootstrap-first.log")  # fmt: skip
            cas = tmp / "usr/local/share/ca-certificates"
            cas.mkdir(parents=True, exist_ok=True)
            for ca in host_cas():  # ca-certificates' postinst adds them to the bundle
                shutil.copy2(ca, cas / ca.name)
        with phase("rootfs: debootstrap --second-stage (emulated: dpkg, maintainer scripts)"):
            run(["chroot", str(tmp), "/debootstrap/debootstrap", "--second-stage"],
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
                log=CACHE / "debootstrap-second.log")  # fmt: skip
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (tmp / junk).glob("*"):
                if path.is_file():
                    path.unlink()
    except BaseException:
        kill_processes_in(tmp)
        unmount_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    unmount_under(ROOT)
    shutil.rmtree(ROOT, ignore_errors=True)
    tmp.rename(ROOT)
    stamp.write_text(f"{key} {RECIPE['suite']} arm64 from {mirror}\n")
    return key


# ------------------------------------------------------------------------------------ deps
def deps_inputs() -> list[Path]:
    return [REPO / "pyproject.toml", REPO / "requirements.lock", REPO / "docker/lock_install.py"]


def deps_key(rootfs_key: str, inputs: list[Path] | None = None, torch: str = TORCH) -> str:
    """The key of the venv's dependencies: the root's key, the torch version asked for and the
    contents of ``inputs`` (default :func:`deps_inputs`), as Docker keys a dependency layer."""
    digest = hashlib.sha256(f"{rootfs_key} torch={torch or 'default'}".encode())
    for path in deps_inputs() if inputs is None else inputs:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def lock_pins(machine: str) -> dict[str, str]:
    """{canonical name: "name==version"}: requirements.lock as it applies on ``machine``
    (``platform.machine()``; lock_install's torch rule, TORCH_AARCH64 included)."""
    with contextlib.chdir(REPO):
        pins: dict[str, str] = LOCK_INSTALL.machine_pins(machine)
    return pins


def stale_wheels(files: list[str], pins: dict[str, str]) -> list[str]:
    """The wheel files among ``files`` that are no pin of ``pins`` (another version, or a
    package the lock no longer holds): a wheel's name and version are the first two fields of
    its file name (PEP 427), its name compared canonically."""
    stale = []
    for file in files:
        name, version = file.split("-")[:2]
        if pins.get(canonical(name), "").partition("==")[2].strip() != version:
            stale.append(file)
    return stale


def fetch_wheels(pins: dict[str, str]) -> None:
    """The pins' aarch64 wheels into WHEELS, natively (pip's own index settings); those of
    pins no longer in the lock are removed."""
    WHEELS.mkdir(parents=True, exist_ok=True)
    for name in stale_wheels([w.name for w in WHEELS.glob("*.whl")], pins):
        (WHEELS / name).unlink()
    tags = [a for p in PLATFORMS for a in ("--platform", p)]
    reqs = CACHE / "wheels.txt"
    reqs.write_text("\n".join(pins.values()) + "\n")
    run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         *tags, "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
         "--abi", "abi3", "--abi", "none", "--dest", str(WHEELS), "--requirement", str(reqs)],
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        log=CACHE / "wheels.log")  # fmt: skip
    count = len(list(WHEELS.glob("*.whl")))
    size = sum(w.stat().st_size for w in WHEELS.glob("*.whl")) / 1e6
    say(f"{count} aarch64 wheels ({size:.0f} MB) in {WHEELS}")


def install_deps(mounts: Mounts) -> None:
    """lock_install.py deps agent in a fresh venv, offline from the wheelhouse, no .pyc."""
    deps = ROOT / DEPS_DIR.lstrip("/")
    shutil.rmtree(deps, ignore_errors=True)
    deps.mkdir(parents=True)
    for path in deps_inputs():
        shutil.copy2(path, deps / path.name)
    shutil.copy2("/etc/resolv.conf", ROOT / "etc/resolv.conf")  # for the fallback only
    mounts.mount("-t", "proc", "proc", target=ROOT / "proc")
    mounts.mount("--bind", str(WHEELS), target=ROOT / WHEELS_MOUNT.lstrip("/"))
    # PIP_NO_COMPILE=0 is pip's --no-compile: its --no-* variables read inverted (pypa/pip#5735).
    env = {"PIP_FIND_LINKS": WHEELS_MOUNT, "PIP_NO_COMPILE": "0",
           **({"TORCH_AARCH64": TORCH} if TORCH else {})}  # fmt: skip
    fresh_venv = f"rm -rf {VENV} && python3 -m venv {VENV} && cd {DEPS_DIR}"
    offline = chroot(ROOT, f"{fresh_venv} && python lock_install.py deps agent",
                     env={**env, "PIP_NO_INDEX": "1"}, log=CACHE / "deps.log",
                     check=False)  # fmt: skip
    if offline.returncode != 0:
        print(offline.stdout[-3000:], flush=True)
        say("WARNING: the lock's aarch64 wheels do not hold all the agent extra needs on "
            "aarch64 (a dependency the x86-64 lock does not pin?); installing again with PyPI "
            "as well")  # fmt: skip
        chroot(ROOT, f"{fresh_venv} && python lock_install.py deps agent", env=env,
               log=CACHE / "deps.log")  # fmt: skip
    mounts.unmount(ROOT / WHEELS_MOUNT.lstrip("/"))
    mounts.unmount(ROOT / "proc")


def compile_venv() -> None:
    """Byte-compile the venv: natively when this Python writes the root's .pyc format."""
    stdlib_pyc = next((ROOT / "usr/lib/python3.11/__pycache__").glob("*.cpython-311.pyc"), None)
    magic = stdlib_pyc.read_bytes()[:4] if stdlib_pyc else b""
    site = ROOT / SITE.lstrip("/")
    if magic == importlib.util.MAGIC_NUMBER:
        run([sys.executable, "-m", "compileall", "-q", "-j0", "-s", str(ROOT), "-p", "/",
             str(site)], check=False)  # fmt: skip
        say(f"byte-compiled natively (Python {platform.python_version()}, the root's .pyc format)")
    else:
        say(f"this Python ({platform.python_version()}) writes another .pyc format than the "
            "root's 3.11: byte-compiling under qemu-user")  # fmt: skip
        chroot(ROOT, f"python -m compileall -q {SITE}", check=False)


def ensure() -> str:
    """The root with the locked dependencies, built or refreshed as needed (call preflight()
    first, and hold :func:`locked`); returns the key of its dependencies."""
    mounts = Mounts()
    try:
        key = build_rootfs()
        dkey = deps_key(key)
        stamp = ROOT / VENV.lstrip("/") / ".lts-deps"
        if stamp.is_file() and stamp.read_text() == dkey:
            say(f"cached dependencies: {VENV} in the root ({dkey})")
            return dkey
        with phase("wheels: the lock's pins for aarch64 (native pip download)"):
            fetch_wheels(lock_pins("aarch64"))
        with phase("deps: lock_install.py deps agent (emulated pip, offline, no .pyc)"):
            install_deps(mounts)
        with phase("compile: the venv's modules"):
            compile_venv()
        stamp.write_text(dkey)
        return dkey
    finally:
        kill_processes_in(ROOT)
        mounts.clear()


def installed_versions(env_python: str = f"{VENV}/bin/python") -> dict[str, str]:
    """{canonical name: version} of what ``env_python`` sees installed in the root."""
    proc = chroot(ROOT, f"{env_python} -m pip list --format=json")
    return {canonical(p["name"]): p["version"] for p in json.loads(proc.stdout)}


# ------------------------------------------------------------------------------------ main
def main() -> int:
    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    code = 0
    try:
        with phase("preflight"):
            preflight()
        with locked(CACHE):
            key = ensure()
            versions = installed_versions()
        say(f"ready: {ROOT}, dependencies {key}: torch {versions.get('torch')}, onnxruntime "
            f"{versions.get('onnxruntime')}, {len(versions)} packages")  # fmt: skip
    except Skip as exc:
        print(f"arm64-root: SKIPPED: {exc}", flush=True)
        code = SKIP
    except Failed as exc:
        print(f"arm64-root: FAILED: {exc}", file=sys.stderr, flush=True)
        code = 1
    except (KeyboardInterrupt, subprocess.TimeoutExpired) as exc:
        print(f"arm64-root: interrupted ({exc})", file=sys.stderr, flush=True)
        code = 130 if isinstance(exc, KeyboardInterrupt) else 1
    print("arm64-root steps (wall, CPU of child processes):")
    for name, wall, cpu in PHASES:
        print(f"  {wall:7.1f} s  {cpu:7.1f} s  {name}")
    print(f"  {time.monotonic() - T0:7.1f} s  {children_cpu_s():7.1f} s  total")
    if code == 0:
        du = subprocess.run(["du", "-sh", "-x", str(ROOT)], capture_output=True, text=True)
        print(f"  root file system: {du.stdout.split()[0] if du.stdout else '?'} in {ROOT}")
    print(f"arm64-root: {'READY' if code == 0 else 'SKIPPED' if code == SKIP else 'FAILED'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
