"""scripts/arm64_root.py and what the two smoke tests take from it, without emulation.

The shared arm64 root is rebuilt only when its keys change, its wheelhouse keeps only the lock's
pins as they apply on aarch64 (docker/lock_install.py's rule), it says "cannot run here" with
exit 77, and scripts/docker-smoke's base image from it leaves the smoke test's own paths out.
Building the root itself needs root, qemu-user and the network: scripts/arm64-smoke and
scripts/docker-smoke do that (.ci/run).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
LOCK = (ROOT / "requirements.lock").read_text()


def _load(name: str, path: Path) -> ModuleType:
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def arm64_root() -> ModuleType:
    return _load("lts_test_arm64_root", SCRIPTS / "arm64_root.py")


def _lock_version(name: str) -> str:
    match = re.search(rf"^{name}==(\S+)", LOCK, re.M | re.I)
    assert match, name
    return match.group(1)


def test_lock_pins_on_aarch64_take_lock_installs_torch(
    arm64_root: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The root installs what the images' dependency layer installs: every pin of the lock,
    torch 2.9.1 in place of the x86-64 pin on aarch64 (or TORCH_AARCH64), nothing else."""
    monkeypatch.delenv("TORCH_AARCH64", raising=False)
    x86, arm = arm64_root.lock_pins("x86_64"), arm64_root.lock_pins("aarch64")
    assert x86["torch"] == f"torch=={_lock_version('torch')}" != arm["torch"]
    assert arm["torch"] == "torch==2.9.1"
    assert {k: v for k, v in x86.items() if k != "torch"} == {
        k: v for k, v in arm.items() if k != "torch"
    }
    assert arm["numpy"] == f"numpy=={_lock_version('numpy')}"
    monkeypatch.setenv("TORCH_AARCH64", "2.8.0")
    assert arm64_root.lock_pins("aarch64")["torch"] == "torch==2.8.0"
    assert arm64_root.lock_pins("x86_64")["torch"] == x86["torch"]


def test_stale_wheels_are_those_no_pin_asks_for(arm64_root: ModuleType) -> None:
    """The wheelhouse keeps a wheel only at its aarch64 pin: another version, the x86-64 torch
    or a package the lock dropped goes; names compare canonically (MarkupSafe, markupsafe)."""
    pins = arm64_root.lock_pins("aarch64")
    numpy, markupsafe = _lock_version("numpy"), _lock_version("markupsafe")
    kept = [
        f"numpy-{numpy}-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl",
        f"MarkupSafe-{markupsafe}-cp311-cp311-manylinux_2_17_aarch64.whl",
        f"markupsafe-{markupsafe}-cp311-cp311-manylinux2014_aarch64.whl",
        "torch-2.9.1-cp311-cp311-manylinux_2_28_aarch64.whl",
    ]
    stale = [
        f"torch-{_lock_version('torch')}-cp311-cp311-manylinux_2_28_aarch64.whl",
        "numpy-1.0.0-cp311-cp311-manylinux_2_28_aarch64.whl",
        "no_such_package-1.0-py3-none-any.whl",
    ]
    assert arm64_root.stale_wheels(kept + stale, pins) == stale
    assert arm64_root.stale_wheels(kept, pins) == []


def test_deps_key_follows_the_inputs_the_torch_and_the_root(
    arm64_root: ModuleType, tmp_path: Path
) -> None:
    """The venv is installed again exactly when Docker would rebuild the dependency layer:
    pyproject.toml, requirements.lock or lock_install.py changed, another torch, another root."""
    inputs = []
    for path in arm64_root.deps_inputs():
        shutil.copy2(path, tmp_path / path.name)
        inputs.append(tmp_path / path.name)
    key = arm64_root.deps_key("root-a", inputs, "")
    assert key == arm64_root.deps_key("root-a", inputs, "") == arm64_root.deps_key("root-a")
    assert arm64_root.deps_key("root-b", inputs, "") != key
    assert arm64_root.deps_key("root-a", inputs, "2.8.0") != key
    for path in inputs:
        original = path.read_bytes()
        path.write_bytes(original + b"\n# changed\n")
        assert arm64_root.deps_key("root-a", inputs, "") != key, path.name
        path.write_bytes(original)
    assert arm64_root.deps_key("root-a", inputs, "") == key


def test_root_key_follows_the_mirror_and_the_host_cas(
    arm64_root: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The Debian root is made again for another mirror or another set of this host's CA
    certificates (they are in its system bundle), not otherwise."""
    ca = tmp_path / "proxy.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n")
    monkeypatch.setattr(arm64_root, "host_cas", lambda: [ca])
    key = arm64_root.root_key("http://deb.debian.org/debian")
    assert key == arm64_root.root_key("http://deb.debian.org/debian")
    assert arm64_root.root_key("http://mirror.example/debian") != key
    ca.write_text("-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n")
    assert arm64_root.root_key("http://deb.debian.org/debian") != key
    monkeypatch.setattr(arm64_root, "host_cas", list)
    assert arm64_root.root_key("http://deb.debian.org/debian") != key


def test_debian_mirror_override(arm64_root: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LTS_ARM64_MIRROR", "http://mirror.example/debian")
    assert arm64_root.debian_mirror() == "http://mirror.example/debian"
    monkeypatch.delenv("LTS_ARM64_MIRROR")
    assert arm64_root.debian_mirror().startswith(("http://", "https://"))


def test_cannot_run_here_is_exit_77(
    arm64_root: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Not root: it says why and exits 77 (CI reports a skip, not a failure), touching
    nothing."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(arm64_root, "CACHE", tmp_path / "cache")
    handler = signal.getsignal(signal.SIGTERM)
    try:
        assert arm64_root.main() == 77
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert not (tmp_path / "cache").exists()


def test_docker_smoke_arm64_off_is_exit_77() -> None:
    """`docker-smoke --only arm64` with LTS_DOCKER_ARM64=0 has nothing to run: 77, at once."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "docker-smoke"), "--only", "arm64"],
        env={**os.environ, "LTS_DOCKER_ARM64": "0"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 77, proc.stdout + proc.stderr
    assert "SKIPPED" in proc.stdout


def test_docker_base_leaves_the_smoke_tests_paths_out(tmp_path: Path) -> None:
    """The arm64 base image is the shared root less arm64-smoke's own venv, sources and token,
    the mount points' and caches' contents and the host's resolv.conf; the locked venv and the
    system stay (a real tar of a small tree)."""
    smoke = _load("lts_test_docker_smoke", SCRIPTS / "docker-smoke")
    root = tmp_path / "rootfs"
    kept = ["opt/python/bin/python", "opt/python/.lts-deps", "etc/passwd", "usr/bin/python3",
            "proc", "tmp", "opt/lts-wheels"]  # fmt: skip
    left_out = ["opt/lts-smoke/bin/python", "opt/lts-src/pyproject.toml", "opt/lts-token",
                "opt/lts-venv/bin/python", "etc/resolv.conf", "proc/cpuinfo", "tmp/perf-1.map",
                "opt/lts-wheels/torch-2.9.1-cp311-cp311-manylinux_2_28_aarch64.whl",
                "var/lib/apt/lists/lock", "root/.cache/pip/x"]  # fmt: skip
    for rel in kept + left_out:
        path = root / rel
        if rel in ("proc", "tmp", "opt/lts-wheels"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rel)
    tarball = smoke.root_tarball(root, tmp_path / "base.tar")
    with tarfile.open(tarball) as archive:
        names = {name.removeprefix("./").rstrip("/") for name in archive.getnames()}
    assert set(kept) <= names
    assert not names & set(left_out), sorted(names & set(left_out))
    assert not any(n.startswith(("opt/lts-smoke", "opt/lts-src", "opt/lts-venv")) for n in names)
