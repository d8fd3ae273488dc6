"""The import contracts of pyproject.toml ([tool.importlinter]) hold for the code as it is: a
broken one (a controller module importing the agent, an I/O library in the search algorithm)
fails the tests, not only .ci/run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter (the dev extra) is not installed")

ROOT = Path(__file__).resolve().parent.parent


def test_every_import_contract_is_kept() -> None:
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout
