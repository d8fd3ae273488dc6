"""Installs LTS into a Docker image at the versions of requirements.lock (run by the Dockerfiles).

    python lock_install.py deps EXTRA[,EXTRA...]   the base dependencies and those of the extras
    python lock_install.py project                 this project itself (no dependencies), then
                                                   `pip check`

Run from the folder that holds pyproject.toml and requirements.lock (and, for ``project``, the
sources). ``deps`` needs only those two files, so the image's dependency layer is rebuilt only
when they change, not at every edit of the code.

Every package is installed at its pin in requirements.lock (a pip constraints file), which CI
resolved on Linux x86-64 with CPython 3.11. torch is the one exception, by machine:

- x86-64: the lock's pin (``torch==2.13.0``), the CPU-only build, from ``TORCH_INDEX_URL``
  (default PyTorch's CPU index) with ``--no-deps``; torch's dependencies then come from the
  ordinary index at their pins. PyPI's own x86-64 torch pulls several GB of CUDA libraries.
  An empty ``TORCH_INDEX_URL`` takes torch from the ordinary index (PyPI: the CUDA build).
- aarch64 (a Raspberry Pi 4/5): ``torch==$TORCH_AARCH64`` (default 2.9.1) replaces the lock's
  pin, every other pin stays: PyPI's aarch64 torch is CPU-only up to 2.10, a CUDA build from
  2.11 on, and 2.10.0 dies with "Illegal instruction" on a Pi 4's Cortex-A72 (README, Raspberry
  Pi; the agent extra allows <2.10 there). scripts/arm64-smoke and scripts/docker-smoke check
  that 2.9.1 installs beside the lock's other pins and runs.

pip's own settings apply as usual (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, e.g. as
build arguments declared by the Dockerfile). Prints what it installs; exits non-zero on any
failure, including a `pip check` that finds a broken requirement.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import tomllib
from pathlib import Path

LOCK = Path("requirements.lock")
CONSTRAINTS = Path("/tmp/lts-constraints.txt")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(extras: list[str]) -> list[str]:
    """The base dependencies and those of ``extras`` (``lts[...]`` inside an extra expanded)."""
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    optional = project.get("optional-dependencies", {})
    out, todo, seen = list(project["dependencies"]), list(extras), set()
    while todo:
        extra = todo.pop(0)
        if extra in seen:
            continue
        if extra not in optional:
            sys.exit(f"lock_install: pyproject.toml has no extra {extra!r}")
        seen.add(extra)
        for req in optional[extra]:
            self_ref = re.match(rf"^{re.escape(project['name'])}\[([^\]]+)\]", req)
            if self_ref:
                todo += [e.strip() for e in self_ref.group(1).split(",")]
            else:
                out.append(req)
    return out


def lock_pins() -> dict[str, str]:
    """{canonical name: the lock's line} for every pin of requirements.lock."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        match = _NAME.match(line)
        if match and "==" in line and not line.lstrip().startswith("#"):
            pins[canonical(match.group(1))] = line.strip()
    return pins


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--no-cache-dir", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def machine_pins(machine: str) -> dict[str, str]:
    """The lock's pins as they apply on ``machine`` (``platform.machine()``): on aarch64 torch is
    ``torch==$TORCH_AARCH64`` (default 2.9.1) in place of the lock's pin."""
    pins = lock_pins()
    if machine == "aarch64":
        pins["torch"] = f"torch=={os.environ.get('TORCH_AARCH64') or '2.9.1'}"
    return pins


def install_deps(extras: list[str]) -> None:
    reqs = requirements(extras)
    machine = platform.machine()
    pins = machine_pins(machine)
    wants_torch = any(canonical(_NAME.match(r).group(1)) == "torch" for r in reqs)
    CONSTRAINTS.write_text("\n".join(pins.values()) + "\n")
    print(f"lock_install: {machine}, extras {','.join(extras)}; constraints: requirements.lock"
          + (f" with {pins['torch']} for aarch64" if machine == "aarch64" else ""), flush=True)
    index = os.environ.get("TORCH_INDEX_URL", "")
    if wants_torch and machine == "x86_64" and index:
        # Alone and first, so that only torch comes from PyTorch's index.
        pip("--no-deps", "--index-url", index, pins["torch"])
    # setuptools (at its pin) builds the project later without build isolation.
    pip("--constraint", str(CONSTRAINTS), *reqs, "setuptools")


def install_project() -> None:
    pip("--no-deps", "--no-build-isolation", ".")
    subprocess.run([sys.executable, "-m", "pip", "check"], check=True)


def main(argv: list[str]) -> None:
    if argv[:1] == ["deps"] and len(argv) == 2:
        install_deps([e for e in argv[1].split(",") if e])
    elif argv == ["project"]:
        install_project()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
