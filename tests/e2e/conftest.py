"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lts.controller.search.small_spaces import TINY_SPACE


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    space = tmp_path / "space.json"
    space.write_text(json.dumps(TINY_SPACE))
    return {
        **os.environ,
        "LTS_DB": str(tmp_path / "lts.sqlite"),
        "LTS_AGENTS_FILE": str(tmp_path / "agents.toml"),
        "SPACE": str(space),
        "COLUMNS": "200",
    }
