"""The evaluation layer: measure architectures on one device, through the store's cache.

:class:`DeviceEvaluator` answers "how does each of these architectures measure on this device
under these settings": what the store already holds is returned as a cache hit, the rest is
sent to the agent (:class:`~lts.controller.search.dispatch.Dispatcher`) and each result is stored
the moment it arrives. A measurement (architecture + device + settings) is therefore taken at
most once, across iterations, searches and restarts.

The complete, resolved settings are sent with every item, so the agent's own defaults cannot
change what a cache key means.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lts.controller.search.algorithms.base import Outcome
from lts.controller.search.answers import check_item
from lts.controller.search.dispatch import Dispatcher, InFlight
from lts.controller.store import DeviceRecord, MeasurementRecord, Store
from lts.shared.config import ArchConfig
from lts.shared.schemas import (
    JobItemCreate,
    JobItemPublic,
    MeasureSettings,
    MeasureSettingsIn,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    """One architecture's measurement and whether it came from the cache."""

    cfg: ArchConfig
    measurement: MeasurementRecord
    cache_hit: bool

    def outcome(self) -> Outcome:
        """The measured objective values, or the measurement's error."""
        m = self.measurement
        if not m.ok:
            return Outcome(None, m.error or f"measurement {m.status}")
        return Outcome(dict(m.values))


class DeviceEvaluator:
    """Measures on one device through the cache. ``on_measured(evaluation)`` is called for
    every new measurement as it is stored (for progress displays). With ``retry_failed``, a
    cached *failed* measurement is taken again (once per evaluator) and replaces the failure.

    What the agent reports as a fault outside the model (``fault``: infrastructure) never
    reaches the cache: the dispatcher sends such items again."""

    def __init__(
        self,
        store: Store,
        device: DeviceRecord,
        dispatcher: Dispatcher,
        *,
        on_measured: Callable[[Evaluation], None] | None = None,
        retry_failed: bool = False,
    ) -> None:
        self.store = store
        self.device = device
        self.dispatcher = dispatcher
        self._on_measured = on_measured or (lambda evaluation: None)
        self.retry_failed = retry_failed
        self._taken: set[tuple[str, str]] = set()  # (arch id, settings key) measured here
        #: The settings key of what :meth:`evaluate` sends the agent now (None between calls):
        #: what the jobs in flight are to be stored under, should a restart collect them.
        self.settings_key: str | None = None

    async def evaluate(
        self, cfgs: Sequence[ArchConfig], settings: MeasureSettings
    ) -> dict[str, Evaluation]:
        """Each architecture's evaluation by arch id (duplicates are measured once)."""
        key = settings.cache_key()
        unique = list({c.arch_id: c for c in cfgs}.values())
        self.store.add_architectures(unique)
        hits = self.store.find_measurements([c.arch_id for c in unique], self.device.id, key)
        if self.retry_failed:
            taken = self._taken
            hits = {a: m for a, m in hits.items() if m.status != "failed" or (a, key) in taken}
        out = {c.arch_id: Evaluation(c, hits[c.arch_id], True) for c in unique if c.arch_id in hits}
        misses = [c for c in unique if c.arch_id not in hits]
        if misses:
            overrides = MeasureSettingsIn(**settings.model_dump())
            items = [JobItemCreate(arch=c.to_dict(), settings=overrides) for c in misses]

            def store_item(index: int, item: JobItemPublic) -> None:
                cfg = misses[index]
                evaluation = self._store(cfg, key, settings, item)
                out[cfg.arch_id] = evaluation
                if not evaluation.cache_hit:
                    self._on_measured(evaluation)

            self.settings_key = key
            try:
                await self.dispatcher.run(items, store_item)
            finally:
                self.settings_key = None
        return {c.arch_id: out[c.arch_id] for c in unique if c.arch_id in out}

    async def harvest(self, inflight: InFlight, settings_key: str) -> int:
        """Store what a job sent before a restart measured (waiting for it to finish), so that
        none of it is measured again; return how many new measurements it gave. A job known
        only by its key (the controller stopped before recording the agent's answer) is
        looked up by the key."""
        job = await self.dispatcher.find(inflight)
        if job is None:
            logger.info("job %s of a previous run never reached the agent or is forgotten",
                        inflight.job_id or inflight.key)  # fmt: skip
            return 0
        new = 0
        settings = MeasureSettings.model_validate_json(settings_key)

        def store_item(index: int, item: JobItemPublic) -> None:
            nonlocal new
            if item.arch_id is None:
                return
            cfg = self.store.architectures([item.arch_id]).get(item.arch_id)
            if cfg is None:
                return
            evaluation = self._store(cfg.to_config(), settings_key, settings, item)
            if not evaluation.cache_hit:
                new += 1
                self._on_measured(evaluation)

        await self.dispatcher.follow(job, store_item)
        return new

    def _store(
        self, cfg: ArchConfig, key: str, settings: MeasureSettings, item: JobItemPublic
    ) -> Evaluation:
        check_item(item, cfg, settings, self.dispatcher.client.label)  # before anything is kept
        self._taken.add((cfg.arch_id, key))
        again = self.retry_failed
        if item.status == "done" and item.result is not None:
            record, new = self.store.add_measurement(
                cfg, self.device.id, key, result=item.result, replace_failed=again
            )
        else:
            status = "failed" if item.status == "done" else item.status
            record, new = self.store.add_measurement(
                cfg,
                self.device.id,
                key,
                status=status,
                error=item.error or f"measurement {item.status} without a result",
                settings=settings.model_dump(mode="json"),
                replace_failed=again,
            )
        return Evaluation(cfg, record, cache_hit=not new)
