"""The live progress of ``controller search`` and ``controller demo``: :class:`LiveProgress`
(Rich bars on a terminal, plain lines elsewhere), fed by the runner's observer."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from lts.controller.search.runner import DeviceProgress


class LiveProgress:
    """The search's progress, fed by the runner's observer: a Rich progress bar per device on
    a terminal; elsewhere (piped, under nohup, in a log) one plain line per device whenever
    its phase or iteration changes."""

    def __init__(self, console: Console, settings: dict[str, Any], *, enabled: bool) -> None:
        self.enabled = enabled
        self.console = console
        self.plain = enabled and not console.is_terminal
        self.progress = Progress(
            TextColumn("[bold]{task.fields[device]}[/]"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} it"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled or self.plain,
        )
        self.tasks: dict[int, TaskID] = {}
        self.first: dict[int, int] = {}  # each device's iteration when this run began
        self.shown: dict[int, tuple[str, int, int]] = {}

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.progress.stop()

    def update(self, p: DeviceProgress) -> None:
        if not self.enabled:
            return
        self.first.setdefault(p.position, p.iteration)
        info = self.info(p)
        if self.plain:
            key = (p.phase, p.iteration, p.final_done)
            if self.shown.get(p.position) != key:
                self.shown[p.position] = key
                name = p.device or p.agent
                self.console.print(f"{name}: iteration {p.iteration}/{p.iterations} · {info}",
                                   markup=False, highlight=False, soft_wrap=True)  # fmt: skip
            return
        if p.position not in self.tasks:
            self.tasks[p.position] = self.progress.add_task(
                "", total=p.iterations, device=p.agent, info=""
            )
        self.progress.update(
            self.tasks[p.position], completed=p.iteration, device=p.device or p.agent, info=info
        )

    def info(self, p: DeviceProgress) -> str:
        """One device's state in a line: phase, counts, hypervolume, time left."""
        hv = f" · hv {p.hypervolume:.4f}" if p.hypervolume is not None else ""
        state = f"waiting: {p.waiting}" if p.waiting else p.phase
        if p.phase == "final":
            state = f"final {p.final_done}/{p.final_total}"
        if p.phase == "failed":
            state = f"failed: {p.message}"
        screened = f" · {p.screened} screened" if p.screened else ""
        error = f" · model ±{p.cost_error:.0%}" if p.cost_error is not None else ""
        left = self.time_left(p)
        return (
            f"{state} · {p.measured} measured · {p.cache_hits} cached{screened}{hv} · "
            f"front {p.frontier_size}{error}{left}"
        )

    def time_left(self, p: DeviceProgress) -> str:
        """An estimate of the time left in the current stage (from this run's pace so far)."""
        now = time.monotonic()
        if p.phase == "final" and p.final_done and p.final_total > p.final_done:
            per = (now - p.phase_s) / p.final_done
            return f" · ~{_duration(per * (p.final_total - p.final_done))} left"
        done = p.iteration - self.first.get(p.position, p.iteration)
        if p.phase in ("search", "quick", "refine") and done > 0 and p.iterations > p.iteration:
            per = (now - p.started_s) / done
            return f" · ~{_duration(per * (p.iterations - p.iteration))} to the final phase"
        return ""


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
