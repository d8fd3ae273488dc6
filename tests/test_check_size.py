"""scripts/check-size: no production module over 400 lines, run for real on this tree and on a
small tree with one module too long."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check-size"


def _check_size(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )


def _listed(stdout: str) -> list[str]:
    """The paths of the modules the check names as too long."""
    return [line.split(":")[0].strip() for line in stdout.splitlines() if line.startswith("  ")]


def test_the_production_modules_are_within_the_limit() -> None:
    proc = _check_size()
    assert proc.returncode == 0 and not _listed(proc.stdout), proc.stdout
    assert proc.stdout.startswith("check-size: OK"), proc.stdout


def _tree(root: Path, lines: int) -> Path:
    for package in ("agent", "controller", "shared"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text('"""A package."""\n', encoding="utf-8")
    module = root / "controller" / "sub" / "long.py"
    module.parent.mkdir()
    module.write_text("".join(f"x{i} = {i}\n" for i in range(lines)), encoding="utf-8")
    return root


def test_a_module_of_401_lines_fails(tmp_path: Path) -> None:
    proc = _check_size("--root", str(_tree(tmp_path, 401)))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert _listed(proc.stdout) == ["controller/sub/long.py"]
    assert "controller/sub/long.py: 401 lines" in proc.stdout


def test_a_module_of_400_lines_passes(tmp_path: Path) -> None:
    proc = _check_size("--root", str(_tree(tmp_path, 400)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == "check-size: OK: all 4 production modules are within 400 lines\n"
