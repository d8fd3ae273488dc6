"""The agent's measurement core: latency and true peak memory of one architecture.

Public API (importing this package does not import torch; the helper processes do):

* :class:`Measurer` -- ``measure(cfg, settings) -> MeasurementResult`` in isolated worker
  processes, with per-item time limits, crash containment and optional CPU pinning.
* :func:`estimate_memory_mb` -- a conservative memory estimate made before building, for
  refusing candidates above a memory budget.
* :func:`check_settings` -- raises before any build when settings cannot apply to a config.
* :mod:`lts.agent.measure.latency` -- the latency protocol (pure), :mod:`lts.agent.measure.context`
  -- the run context, :mod:`lts.agent.measure.memory` -- the peak-memory pass.
"""

from __future__ import annotations

from lts.agent.measure.estimate import estimate_memory_mb
from lts.agent.measure.runners import check_settings
from lts.agent.measure.supervisor import Measurer

__all__ = ["Measurer", "check_settings", "estimate_memory_mb"]
