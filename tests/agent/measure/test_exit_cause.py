"""How a helper's death is told (issue 12, point 7): a crash on the model is the model's
failure; a SIGKILL is "out of memory" only when the kernel's own count of out-of-memory kills
moved (read from /proc/vmstat and the cgroup's memory.events); any other kill came from
outside and is an infrastructure fault."""

from __future__ import annotations

import errno
import signal

import pytest

from lts.agent.measure.helper_process import exit_cause, is_infrastructure_error, oom_kill_count


def test_sigkill_is_out_of_memory_only_when_the_kernel_counted_a_kill() -> None:
    now = oom_kill_count()
    if now is None:
        pytest.fail("neither /proc/vmstat nor memory.events has oom_kill on this machine")
    reason, infrastructure = exit_cause(-signal.SIGKILL, now)
    assert infrastructure and "out of memory" not in reason and "out-of-memory killer" in reason
    reason, infrastructure = exit_cause(-signal.SIGKILL, now - 1)  # the count grew since
    assert not infrastructure and reason.startswith("killed by the kernel's out-of-memory")


@pytest.mark.parametrize(
    ("sig", "infrastructure", "text"),
    [
        (signal.SIGSEGV, False, "segmentation fault"),
        (signal.SIGABRT, False, "aborted"),
        (signal.SIGTERM, True, "SIGTERM"),
        (signal.SIGHUP, True, "SIGHUP"),
    ],
)
def test_crashes_are_the_models_and_kills_from_outside_are_not(sig, infrastructure, text):
    reason, outside = exit_cause(-sig, oom_kill_count())
    assert outside is infrastructure and text in reason


def test_out_of_files_is_the_machines_fault() -> None:
    try:
        raise RuntimeError("could not open the export") from OSError(errno.EMFILE, "Too many")
    except RuntimeError as exc:
        assert is_infrastructure_error(exc)
    assert not is_infrastructure_error(MemoryError())
    assert exit_cause(1) == ("exited with code 1", False)
