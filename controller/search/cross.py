"""The cross step at the end of a search on several devices (``--cross-measure``, on by
default): each device's reported frontier is measured on every other device, so that devices
can be compared, and a model picked for several of them, on real figures.

Each device searches its own population, so two devices share few models (the baselines);
without this step "good on both" could only be judged on those. Here every model on one
device's frontier (at most ``final_max_members`` of each, by decoder parameters) that another
device has not measured with its final settings is measured there once, with those settings
(the store's cache: a model already measured so costs nothing), and stored as that device's
reported ``cross`` figures. A device that has not finished takes no part. A joint search
needs none of it: every member is measured on every device.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from lts.controller.search.device_search import DeviceSearch
from lts.shared.config import ArchConfig

if TYPE_CHECKING:
    from lts.controller.search.runner import SearchRunner

logger = logging.getLogger(__name__)


async def cross_measure(runner: SearchRunner) -> None:
    """Run the cross step of ``runner``'s search (see the module doc). Raises AgentError
    when an agent fails (the search then ends failed; ``--resume`` does the step again,
    measuring only what is missing)."""
    store, sid = runner.store, runner.search.id
    pairs = [(sd, spec) for sd, spec in zip(store.search_devices(sid), runner.agents, strict=True)
             if sd.status == "done" and sd.device_id is not None]  # fmt: skip
    if len(pairs) < 2:
        return
    members = [DeviceSearch(runner, sd, spec) for sd, spec in pairs]
    cap = runner.config.final_max_members
    fronts: dict[int, list[str]] = {}
    for m in members:
        rows = [r for r in store.reported(sid, m.sd.device_id) if r.role == "frontier"]
        archs = store.architectures(r.arch_id for r in rows)
        ranked = sorted(rows, key=lambda r: (archs[r.arch_id].decoder_params, r.arch_id))
        fronts[m.sd.position] = [r.arch_id for r in ranked][:cap]
    async with contextlib.AsyncExitStack() as stack:
        for m in members:
            await stack.enter_async_context(m.opened())
        try:
            await asyncio.gather(*(_measure_here(m, fronts) for m in members))
        except BaseException:
            await asyncio.gather(*(m.dispatcher.cancel_current() for m in members),
                                 return_exceptions=True)  # fmt: skip
            raise


async def _measure_here(m: DeviceSearch, fronts: dict[int, list[str]]) -> None:
    """Measure on ``m``'s device the other devices' frontier members it does not report."""
    store = m.store
    settings = await m.prepare(status=None)
    final = m.config.final_settings(settings)
    own = {r.arch_id for r in store.reported(m.sd.search_id, m.sd.device_id)
           if r.role in ("frontier", "baseline")}  # fmt: skip
    wanted = list(dict.fromkeys(a for p, ids in fronts.items() if p != m.sd.position
                                for a in ids if a not in own))  # fmt: skip
    cfgs: list[ArchConfig] = [r.to_config() for r in store.architectures(wanted).values()]
    m._emit(phase="cross", final_done=0, final_total=len(cfgs))
    evals = await m.evaluate(cfgs, final) if cfgs else {}
    entries = [(a, "cross", None, e.measurement.id) for a, e in evals.items()]
    store.set_reported(m.sd.search_id, m.device.id, entries, roles=("cross",))
    failed = sum(not e.measurement.ok for e in evals.values())
    logger.info("device %s: %d model(s) of the other frontiers measured (%d failed)",
                m.spec.label, len(evals), failed)  # fmt: skip
    m._emit(phase="done", final_done=len(cfgs))
