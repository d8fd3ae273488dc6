"""What the agent says about its machine: facts, fingerprint, cores per slot, memory."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lts.agent import device
from lts.shared.errors import ConfigError
from lts.shared.schemas import MeasureSettings


def test_device_info_reads_the_machine_and_is_stable():
    info = device.device_info("bench", MeasureSettings(), 1)
    assert info.name == "bench" and info.cpu_model and info.os and info.machine
    assert info.cores_logical == len(device.usable_cpus())
    assert info.memory_total_mb > 0 and info.versions["agent"]
    assert device.device_info("other-name", MeasureSettings(), 1).fingerprint == info.fingerprint


def test_fingerprint_changes_with_the_measurement_settings():
    info = device.device_info("a", MeasureSettings(), 1)
    facts = info.model_dump(include={"hostname", "os", "machine", "cpu_model", "cores_logical",
                                     "cores_physical", "memory_total_mb", "gpus"})  # fmt: skip
    base = device.fingerprint(facts, MeasureSettings(), 1)
    assert base == info.fingerprint
    assert device.fingerprint({**facts, "memory_total_mb": facts["memory_total_mb"] + 3},
                              MeasureSettings(), 1) == base  # fmt: skip
    others = {
        device.fingerprint(facts, MeasureSettings(threads=2), 1),
        device.fingerprint(facts, MeasureSettings(runtime="onnxruntime"), 1),
        device.fingerprint(facts, MeasureSettings(device="cuda"), 1),
        device.fingerprint(facts, MeasureSettings(), 2),
        device.fingerprint({**facts, "hostname": "elsewhere"}, MeasureSettings(), 1),
    }
    assert len(others) == 5 and base not in others


def test_fingerprint_changes_with_the_runtime_versions():
    """Another torch or onnxruntime build is another device: its timings differ."""
    info = device.device_info("a", MeasureSettings(), 1)
    facts = info.model_dump(include={"hostname", "os", "machine", "cpu_model", "cores_logical",
                                     "cores_physical", "memory_total_mb", "gpus"})  # fmt: skip
    installed = device.runtime_versions()
    assert installed == {"torch": info.versions["torch"],
                         "onnxruntime": info.versions["onnxruntime"]}  # fmt: skip
    assert installed["torch"] and installed["onnxruntime"]
    base = device.fingerprint(facts, MeasureSettings(), 1, installed)
    assert base == info.fingerprint == device.fingerprint(facts, MeasureSettings(), 1)
    others = {
        device.fingerprint(facts, MeasureSettings(), 1, {**installed, "torch": "2.9.1"}),
        device.fingerprint(facts, MeasureSettings(), 1, {**installed, "onnxruntime": "1.17.0"}),
        device.fingerprint(facts, MeasureSettings(), 1, {**installed, "onnxruntime": None}),
    }
    assert len(others) == 3 and base not in others


def test_split_cpus_gives_disjoint_equal_shares():
    assert device.split_cpus(1, [0, 1, 2, 3]) == [None]
    two = device.split_cpus(2, [0, 1, 2, 3])
    assert len(two) == 2 and len(two[0]) == len(two[1]) == 2 and not set(two[0]) & set(two[1])
    three = device.split_cpus(3, [0, 1, 2, 3])
    assert [len(s) for s in three] == [1, 1, 1]  # the fourth CPU is left to the server
    with pytest.raises(ConfigError, match="3 slots but only 2"):
        device.split_cpus(3, [0, 1])


def test_cpu_list_format():
    assert device._parse_cpu_list("0-3,8,10-11\n") == {0, 1, 2, 3, 8, 10, 11}


def test_memory_budget_default_is_a_share_of_what_is_available():
    available = device.available_memory_mb()
    assert 0 < device.default_memory_budget_mb(2) <= available / 4 + 1


def test_describing_the_device_does_not_import_torch_in_the_server():
    code = (
        "import sys; from lts.agent.main import create_app; "
        "from lts.agent.settings import Settings; "
        "from lts.agent import device; from lts.shared.schemas import MeasureSettings; "
        "create_app(Settings(no_auth=True)); device.device_info('x', MeasureSettings(), 1); "
        "assert 'torch' not in sys.modules and 'onnxruntime' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
