"""scripts/lock --check: the lock must name exactly what lts[dev] installs, at the pins."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lock() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("lts_lock", str(ROOT / "scripts" / "lock"))
    spec = importlib.util.spec_from_loader("lts_lock", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def installed_pins(lock: ModuleType) -> dict[str, str]:
    """Pins equal to what is installed, for everything the lock file names and lts[dev] needs."""
    pins = {}
    for name in lock.read_lock():
        try:
            pins[name] = Version(metadata.version(name)).public
        except metadata.PackageNotFoundError:
            pytest.skip(f"{name} is not installed: install from requirements.lock first")
    missing = [p for p in lock.check(pins) if "not in the lock" in p]
    if missing:
        pytest.skip(f"the install needs more than the lock names: {missing[0]}")
    return pins


def test_the_lock_file_pins_every_package_exactly(lock: ModuleType) -> None:
    pins = lock.read_lock()
    assert "torch" in pins and "+" not in pins["torch"]  # the local label is dropped
    assert all(canonicalize_name(name) == name for name in pins)
    assert "lts" not in pins


def test_an_install_that_matches_passes(lock: ModuleType, installed_pins: dict) -> None:
    assert lock.check(installed_pins) == []


def test_a_missing_pin_is_found(lock: ModuleType, installed_pins: dict) -> None:
    pins = {k: v for k, v in installed_pins.items() if k != "httpx"}
    assert any(p.startswith("httpx: required by lts") for p in lock.check(pins))


def test_a_pin_that_differs_from_the_install_is_found(lock, installed_pins) -> None:
    pins = {**installed_pins, "pydantic": "2.5.0"}
    assert "pydantic: installed " + installed_pins["pydantic"] + ", the lock pins 2.5.0" in (
        lock.check(pins)
    )


def test_a_pin_below_a_floor_is_found(lock, installed_pins) -> None:
    pins = {**installed_pins, "numpy": "1.0"}
    assert any("the lock's pin does not satisfy lts's numpy" in p for p in lock.check(pins))


def test_a_stale_pin_is_found(lock, installed_pins) -> None:
    pins = {**installed_pins, "left-pad": "1.0"}
    assert lock.check(pins) == ["left-pad==1.0: in the lock but required by nothing"]
