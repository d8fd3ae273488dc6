"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The published LTS tables lie beside the repository (in ../shared/, read-only), in CI too.
TABLES_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "lts-neurips22"


@pytest.fixture(scope="session")
def tables_dir() -> Path:
    if not TABLES_DIR.is_dir():
        pytest.fail(f"published tables not found at {TABLES_DIR}")
    return TABLES_DIR
